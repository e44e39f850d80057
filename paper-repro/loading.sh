#!/usr/bin/env bash
# Overlapped neuron-group loading (issue 5, mechanism 3), in simulation: Llama 2 7B (Q4_0
# shape) on 8 x Raspberry Pi 4B, 5% loss on the workers' links, workers whose memory is
# below their share (scenarios/loading.yaml). For each storage speed, worker memory and
# engine: the share of group weights kept in memory, time per token without and with
# read-ahead, and how much of the storage reading read-ahead hides. Then HALO with and
# without moving critical groups to the root (scenarios/loading-place.yaml).
# Prints markdown tables.
# usage: paper-repro/loading.sh [HALO_BINARY]
set -euo pipefail
# shellcheck source=paper-repro/lib.sh
. "$(dirname "$0")/lib.sh"
use_halo loading "${1:-$here/build/dev/app/halo}"

# One point's fields: mean_ms read_ms stall_ms kept% missing% label
point() {
    "$halo" sim --json --point "$2" "$1" | awk '
    {
        lab = $0; sub(/.*"label": "/, "", lab); sub(/".*/, "", lab)
        share = val($0, "share_bytes"); pinned = val($0, "pinned_bytes")
        ex = val($0, "expected"); miss = val($0, "missing")
        printf "%.1f %.1f %.1f %.1f %.2f %s\n", val($0, "mean_ms"), val($0, "storage_read_ms"),
               val($0, "storage_stall_ms"), (share > 0 ? 100 * pinned / share : 100),
               (ex > 0 ? 100 * miss / ex : 0), lab
    }
    '"$AWK_VAL"
}

label_field() { # label key -> value
    echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 ~ k"$" {print $2}'
}

sc=$here/scenarios/loading.yaml
echo "| storage MB/s | worker memory MiB | weights in memory | engine | ms/token, no read-ahead | ms/token, read-ahead | read-ahead speedup | storage read ms/token (all devices) | of which waited | hidden |"
echo "|---|---|---|---|---|---|---|---|---|---|"
p=0
while [ $p -lt 32 ]; do
    read -r t0 _ _ kept _ label <<<"$(point "$sc" $p)"
    read -r t1 read stall _ _ _ <<<"$(point "$sc" $((p + 1)))"
    sto=$(label_field "$label" storage_mbps)
    mem=$(label_field "$label" memory_mb)
    eng=$(label_field "$label" baseline)
    [ "$eng" = dllama ] && eng="distributed-llama (strict, TCP)"
    [ "$eng" = halo ] && eng="HALO (no placement)"
    awk -v s="$sto" -v m="$mem" -v k="$kept" -v e="$eng" -v a="$t0" -v b="$t1" -v r="$read" -v w="$stall" 'BEGIN {
        printf "| %s | %s | %s%% | %s | %s | %s | %.2fx | %s | %s | %s |\n", s, m, k, e, a, b, a / b, r, w,
               (r > 0 ? sprintf("%.0f%%", 100 * (1 - w / r)) : "-") }'
    p=$((p + 2))
done

echo
sc=$here/scenarios/loading-place.yaml
echo "| storage MB/s | worker memory MiB | HALO placement | ms/token | storage read ms/token (all devices) | of which waited | contributions dropped |"
echo "|---|---|---|---|---|---|---|"
for p in 0 1 2 3 4 5 6 7; do
    read -r t read stall _ miss label <<<"$(point "$sc" $p)"
    place=$(label_field "$label" place_critical)
    [ "$place" = true ] && place="critical groups to the root" || place="none"
    echo "| $(label_field "$label" storage_mbps) | $(label_field "$label" memory_mb) | $place | $t | $read | $stall | $miss% |"
done
