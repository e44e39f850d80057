#!/usr/bin/env bash
# Calibrates the Raspberry Pi 4B profile against distributed-llama's published numbers and
# prints predicted vs published time per token (markdown).
#
# Fit: only the memory bandwidth of scenarios/profiles/rpi4b.yaml is fitted, to the
# single-device Llama 2 7B time (1312 ms/token, Q4_0, Raspberry Pi 4B 8 GB): the simulated
# time falls monotonically as the bandwidth grows, so a bisection finds the bandwidth that
# gives 1312 ms. Every other cell (2, 4, 8 devices; 7B and 13B) is then predicted with no
# further tuning.
#
# usage: paper-repro/calibrate.sh [HALO_BINARY]
set -euo pipefail
# shellcheck source=paper-repro/lib.sh
. "$(dirname "$0")/lib.sh"
use_halo calibrate "${1:-$here/build/dev/app/halo}"
scratch
scenario=$here/scenarios/calibration/dllama.yaml
export HALO_SCENARIO_DIR=$here/scenarios

# A copy of the calibration scenario whose devices use rpi4b with memory bandwidth $1 GB/s.
with_bw() {
    sed "s|- profile: rpi4b$|- profile: {base: rpi4b, mem_bw_gbps: $1}|" "$scenario" \
        >"$tmp/s.yaml"
    echo "$tmp/s.yaml"
}

ms_at() { # bandwidth point field
    "$halo" sim --json --point "$2" "$(with_bw "$1")" | field "$3"
}

published=(1312 794 494 588 - 1497 848 1115)
published_t=(2 53 34 290 - 31 100 653)
labels=("7B, 1" "7B, 2" "7B, 4" "7B, 8" "13B, 1" "13B, 2" "13B, 4" "13B, 8")

b0=$(sed -n 's/^ *mem_bw_gbps: *\([0-9.]*\).*/\1/p' "$here/scenarios/profiles/rpi4b.yaml")
t0=$(ms_at "$b0" 0 mean_ms)
lo=0.1 hi=100
for _ in $(seq 1 40); do
    mid=$(awk -v a="$lo" -v b="$hi" 'BEGIN{printf "%.6f", (a + b) / 2}')
    t=$(ms_at "$mid" 0 mean_ms)
    if awk -v t="$t" 'BEGIN{exit !(t > 1312)}'; then lo=$mid; else hi=$mid; fi
done
fit=$(awk -v a="$lo" -v b="$hi" 'BEGIN{printf "%.4f", (a + b) / 2}')
echo "The profile's memory bandwidth ($b0 GB/s) gives $t0 ms for 7B on one device; the"
echo "bandwidth that gives the published 1312 ms is $fit GB/s."
echo
echo "| model, devices | published ms/token (network) | predicted ms/token | compute | network | error |"
echo "|---|---|---|---|---|---|"
for p in 0 1 2 3 4 5 6 7; do
    json=$("$halo" sim --json --point "$p" "$(with_bw "$fit")")
    mean=$(field mean_ms <<<"$json")
    comp=$(field compute_ms <<<"$json")
    net=$(field network_ms <<<"$json")
    pub=${published[$p]}
    if [ "$pub" = - ]; then
        err="(out of memory on 8 GB)"
        pubtxt="out of memory"
    else
        err=$(awk -v a="$mean" -v b="$pub" 'BEGIN{printf "%+.1f%%", 100*(a-b)/b}')
        pubtxt="$pub (${published_t[$p]})"
    fi
    printf '| %s | %s | %.1f | %.1f | %.1f | %s |\n' "${labels[$p]}" "$pubtxt" "$mean" "$comp" \
        "$net" "$err"
done
