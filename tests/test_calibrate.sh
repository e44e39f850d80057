#!/usr/bin/env bash
# paper-repro/calibrate.sh against the shipped Raspberry Pi 4B profile (label system): the
# profile holds exactly what the script fits (its --write, run on a copy of the tree whose
# profile has its fitted numbers spoiled, gives back the shipped file byte for byte), every
# 2/4/8-device cell of distributed-llama's published table is predicted within 25%, the
# 13B single device is flagged out of memory, and a bad --host-cost is refused (exit 2).
# The fit runs the simulator about 60 times (seconds on a quiet machine).
# usage: test_calibrate.sh HALO_BINARY SOURCE_DIR
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
halo_bin=$1 src=$2
scratch_dir calibrate

# a copy of the tree's scripts and scenarios, so that --write leaves the source alone
mkdir -p "$tmp/tree"
cp -r "$src/paper-repro" "$src/scenarios" "$tmp/tree/"
profile=$tmp/tree/scenarios/profiles/rpi4b.yaml
sed -i -e 's/^\(  mem_bw_gbps: *\)[0-9.]*/\11/' -e 's/^\(  op_overhead_us: *\)[0-9.]*/\11/' \
    -e 's/^\(  send_us: *\)[0-9.]*/\11/' -e 's/^\(  recv_us: *\)[0-9.]*/\11/' \
    -e 's/^\(  copy_ns_per_kb: *\)[0-9.]*/\11/' "$profile"
check "the copy's profile is spoiled before the fit" bash -c "! cmp -s '$profile' '$src/scenarios/profiles/rpi4b.yaml'"

bash "$tmp/tree/paper-repro/calibrate.sh" --write "$halo_bin" >"$tmp/out.md" 2>"$tmp/err.txt"
verdict $? "calibrate.sh --write (the per-KiB fit, the default)" "calibrate.sh --write failed"
cmp -s "$profile" "$src/scenarios/profiles/rpi4b.yaml"
verdict $? "the fitted numbers are the shipped profile's (--write gives back scenarios/profiles/rpi4b.yaml)" \
    "the fit differs from the shipped profile" "$tmp/out.md"
check "the fit is per KiB, send_us = recv_us = 0" grep -q "copy_ns_per_kb (send_us = recv_us = 0) = " "$tmp/out.md"

# every predicted 2/4/8-device cell within 25%: "| 7B, 2 | 794 (53) | ... | +0.3% |"
cells=$(awk -F'|' '$2 ~ /B, [248] $/ { e = $7; sub(/%.*/, "", e); n++; if (e + 0 > 25 || e + 0 < -25) bad++ }
    END { print n + 0, bad + 0 }' "$tmp/out.md")
check "six 2/4/8-device cells, each within 25% ($cells: cells, misses)" test "$cells" = "6 0"
check "13B on 1 device flagged out of memory" grep -q "^| 13B, 1 | out of memory | out of memory | | | flagged, as published |$" "$tmp/out.md"

bash "$src/paper-repro/calibrate.sh" --host-cost per-byte "$halo_bin" >/dev/null 2>"$tmp/err.txt"
rc=$?
check "--host-cost per-byte refused with exit 2 (got $rc)" test "$rc" = 2
check "and the message names the forms" grep -q "per-kb or per-msg, not per-byte" "$tmp/err.txt"
finish
