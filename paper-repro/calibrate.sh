#!/usr/bin/env bash
# Calibrates the Raspberry Pi 4B profile against distributed-llama's published numbers and
# prints predicted vs published time per token (markdown).
#
# The simulated cluster is distributed-llama's: the mesh collective (every node sends its
# partial sum to every peer, split classifier), strict sync over TCP with TCP_QUICKACK,
# Q4_0 weights and Q8_0 messages, 8 GB boards (scenarios/calibration/dllama.yaml).
# Three numbers of the profile are fitted, on two named cells; the other cells are
# predicted with no further tuning:
#   mem_bw_gbps     on Llama 2 7B, 1 device (1312 ms): a single device sends nothing, so its
#                   time depends on the bandwidth and the per-operation overhead only;
#   op_overhead_us  on Llama 2 7B, 8 devices, its published compute time (I 297 ms, the
#                   root's): the bandwidth is refitted on the single device for each
#                   overhead (secant steps) until the simulated root computes 297 ms;
#   copy_ns_per_kb  on the same cell's total (588 ms; I + T): bisected, the compute fixed.
# So the host costs (op_overhead_us, copy_ns_per_kb) rest on one cell, and the profile
# on two: 7B on 1 and on 8 devices. 7B on 2 and 4 devices and every 13B cell are predicted.
# The 13B single-device cell must come out as out of memory (it did on 8 GB boards).
#
# The message's host cost is fitted as a cost per KiB of the message (copy_ns_per_kb,
# send_us = recv_us = 0: the kernel's work per TCP segment, copies and checksums grow with
# the message); --host-cost per-msg fits a cost per message instead (send_us = recv_us,
# copy_ns_per_kb = 0), on the same cell. Both forms give the fitted cells exactly and nearly
# the same 7B predictions (most 7B messages are Q8_0 partials of 4352 bytes; the state and
# logits messages differ); they differ on 13B, whose partials are 1.25x as long (5440
# bytes). Per message, 13B on 8 devices is predicted -25.1%; per KiB, every cell is within
# 25%. The per-KiB form was chosen after seeing the 13B column: the form is informed by it,
# the numbers are fitted on the two 7B cells only (docs/simulator.md, "Calibration against
# distributed-llama").
#
# --write puts the fitted numbers into scenarios/profiles/rpi4b.yaml (mem_bw_gbps,
# op_overhead_us, send_us, recv_us, copy_ns_per_kb; the lines must exist; comments and the
# source: text are left as they are).
#
# usage: paper-repro/calibrate.sh [--host-cost per-kb|per-msg] [--write] [HALO_BINARY]
set -euo pipefail
# shellcheck source=paper-repro/lib.sh
. "$(dirname "$0")/lib.sh"
host_cost=per-kb write=0
while [ $# -gt 0 ]; do
    case $1 in
    --host-cost) host_cost=${2:?--host-cost needs per-kb or per-msg}; shift 2 ;;
    --write) write=1; shift ;;
    *) break ;;
    esac
done
case $host_cost in
per-kb) ;;
per-msg | per-message) host_cost=per-msg ;;
*) echo "calibrate: --host-cost per-kb or per-msg, not $host_cost" >&2; exit 2 ;;
esac
use_halo calibrate "${1:-$here/build/dev/app/halo}"
scratch
scenario=$here/scenarios/calibration/dllama.yaml
export HALO_SCENARIO_DIR=$here/scenarios

# with BW OVERHEAD HOST: a copy of the calibration scenario with these profile values (HOST:
# copy_ns_per_kb, or send_us = recv_us with --host-cost per-msg; the other form's keys 0)
with() {
    local host="send_us: 0, recv_us: 0, copy_ns_per_kb: $3"
    [ "$host_cost" = per-kb ] || host="send_us: $3, recv_us: $3, copy_ns_per_kb: 0"
    sed "s|- profile: rpi4b$|- profile: {base: rpi4b, mem_bw_gbps: $1, op_overhead_us: $2, $host}|" \
        "$scenario" >"$tmp/s.yaml"
    echo "$tmp/s.yaml"
}

ms_at() { # BW OVERHEAD HOST POINT [FIELD]: FIELD (default mean_ms) of one simulated cell
    "$halo" sim --json --point "$4" "$(with "$1" "$2" "$3")" | field "${5:-mean_ms}"
}

# bisect LO HI TARGET CMD...: the x in [LO, HI] where CMD x (decreasing in x) gives TARGET
bisect() {
    local lo=$1 hi=$2 target=$3
    shift 3
    for _ in $(seq 1 24); do
        local mid t
        mid=$(awk -v a="$lo" -v b="$hi" 'BEGIN{printf "%.6f", (a + b) / 2}')
        t=$("$@" "$mid")
        if awk -v t="$t" -v g="$target" 'BEGIN{exit !(t > g)}'; then lo=$mid; else hi=$mid; fi
    done
    awk -v a="$lo" -v b="$hi" 'BEGIN{printf "%.4f", (a + b) / 2}'
}

# The two fitted cells (published: docs/reference-numbers.md)
one_ms=1312     # 7B, 1 device
eight_i_ms=297  # 7B, 8 devices: the root's compute (I)
eight_ms=588    # 7B, 8 devices: time per token (I 297 + T 290, rounded as published)

bw_of() { ms_at "$1" "$overhead" 0 0; }            # single device, as a function of BW
# compute8_of OVERHEAD: "BW COMPUTE": the bandwidth refitted on the single device at this
# overhead, and the 8-device compute (ms) with both
compute8_of() {
    local overhead=$1 b
    b=$(bisect 0.5 20 "$one_ms" bw_of)
    echo "$b $(ms_at "$b" "$overhead" 0 3 compute_ms)"
}
# miss OVERHEAD: sets bw and prints the 8-device compute minus its target
miss() {
    read -r bw c <<<"$(compute8_of "$1")"
    awk -v c="$c" -v g="$eight_i_ms" 'BEGIN{print c - g}'
}
host_of() { awk -v t="$(ms_at "$bw" "$overhead" "$1" 3)" 'BEGIN{print -t}'; } # 8 devices

echo "Fitting (about a minute)..." >&2
# secant steps on the overhead: the 8-device compute is close to linear in it
x0=0
f0=$(miss 0)
x1=1000
f1=$(miss 1000)
for _ in 1 2 3 4 5; do
    x2=$(awk -v a="$x0" -v b="$x1" -v fa="$f0" -v fb="$f1" \
        'BEGIN{x = (fb == fa) ? b : b - fb * (b - a) / (fb - fa); if (x < 0) x = 0; printf "%.4f", x}')
    read -r bw c <<<"$(compute8_of "$x2")"
    f2=$(awk -v c="$c" -v g="$eight_i_ms" 'BEGIN{print c - g}')
    echo "  op_overhead_us $x2: mem_bw_gbps $bw, 8-device compute $c ms" >&2
    x0=$x1 f0=$f1 x1=$x2 f1=$f2
    awk -v f="$f2" 'BEGIN{exit !(f < 0.01 && f > -0.01)}' && break
done
overhead=$x1
read -r bw _ <<<"$(compute8_of "$overhead")"
# the 8-device time grows with the host cost: bisect on its negation
if [ "$host_cost" = per-msg ]; then
    host=$(bisect 0 3000 "-$eight_ms" host_of)
    host_key="send_us = recv_us"
else
    host=$(bisect 0 300000 "-$eight_ms" host_of) # ns per KiB: ~75 us per KiB at 8 devices
    host_key="copy_ns_per_kb (send_us = recv_us = 0)"
fi
if [ $write = 1 ]; then
    profile=$here/scenarios/profiles/rpi4b.yaml
    if [ "$host_cost" = per-msg ]; then
        per_msg=$host per_kb=0
    else
        per_msg=0 per_kb=$host
    fi
    for kv in "mem_bw_gbps $bw" "op_overhead_us $overhead" "send_us $per_msg" "recv_us $per_msg" \
        "copy_ns_per_kb $per_kb"; do
        key=${kv% *}
        grep -q "^  $key: " "$profile" || { echo "calibrate: no '$key:' line in $profile" >&2; exit 1; }
        sed -i "s|^\(  $key: *\)[0-9.e+-]*|\1${kv#* }|" "$profile"
    done
    echo "calibrate: wrote the fitted numbers into $profile" >&2
fi
echo "Fitted on two cells, Llama 2 7B on 1 device (1312 ms: mem_bw_gbps) and on 8 devices"
echo "(its compute I 297 ms: op_overhead_us; its 588 ms: $host_key): mem_bw_gbps $bw,"
echo "op_overhead_us $overhead, $host_key = $host. Every other cell is predicted."
echo
echo "| model, devices | published ms/token (network) | predicted ms/token | compute | network | error |"
echo "|---|---|---|---|---|---|"
published=(1312 794 494 588 - 1497 848 1115)
published_t=(2 53 34 290 - 31 100 653)
labels=("7B, 1" "7B, 2" "7B, 4" "7B, 8" "13B, 1" "13B, 2" "13B, 4" "13B, 8")
fitted=(1 0 0 1 0 0 0 0)
s=$(with "$bw" "$overhead" "$host")
for p in 0 1 2 3 4 5 6 7; do
    pub=${published[$p]}
    if ! json=$("$halo" sim --json --point "$p" "$s" 2>"$tmp/err"); then
        why=$(sed -n 's/^halo: .*\(out of memory\).*/\1/p' "$tmp/err" | head -n 1)
        printf '| %s | %s | %s | | | %s |\n' "${labels[$p]}" \
            "$([ "$pub" = - ] && echo "out of memory" || echo "$pub")" "${why:-failed}" \
            "$([ "$pub" = - ] && [ -n "$why" ] && echo "flagged, as published" || echo "-")"
        continue
    fi
    mean=$(field mean_ms <<<"$json")
    comp=$(field compute_ms <<<"$json")
    net=$(field network_ms <<<"$json")
    if [ "$pub" = - ]; then
        err="not flagged (published: out of memory)"
        pubtxt="out of memory"
    else
        err=$(awk -v a="$mean" -v b="$pub" 'BEGIN{printf "%+.1f%%", 100*(a-b)/b}')
        [ "${fitted[$p]}" = 1 ] && err="$err (fitted)"
        pubtxt="$pub (${published_t[$p]})"
    fi
    printf '| %s | %s | %.1f | %.1f | %.1f | %s |\n' "${labels[$p]}" "$pubtxt" "$mean" "$comp" \
        "$net" "$err"
done
