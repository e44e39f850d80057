#!/usr/bin/env bash
# Sets the simulator's TCP model beside kernel TCP: for every (size, loss) row of the kernel
# summary (sim/validation/kernel-tcp-summary.csv, from tools/measure-kernel-tcp.sh in
# network namespaces), runs the same request/response exchange over the model
# (halo_sim_pingpong, same count) and prints a markdown table with the model's error.
# usage: tools/compare-tcp-model.sh [BUILD_DIR] [KERNEL_SUMMARY_CSV]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build/dev}
kernel=${2:-$here/sim/validation/kernel-tcp-summary.csv}
tool=$build/tools/halo_sim_pingpong
[ -x "$tool" ] || { echo "compare-tcp-model: no $tool (build first)" >&2; exit 2; }
[ -r "$kernel" ] || { echo "compare-tcp-model: cannot read $kernel" >&2; exit 2; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

tail -n +2 "$kernel" | while IFS=, read -r size loss n _; do
    "$tool" --size "$size" --loss "$loss" --count "$n" --seed 1
done | awk -f "$here/tools/tcp-summary.awk" >"$tmp"

echo "| size B | loss | kernel mean ms | model mean ms | error | kernel >100 ms | model >100 ms | kernel p99 ms | model p99 ms |"
echo "|---|---|---|---|---|---|---|---|---|"
awk -F, 'NR == FNR { if (FNR > 1) k[$1 "," $2] = $0; next }
{
    key = $1 "," $2
    if (!(key in k)) next
    split(k[key], a, ",")
    err = a[4] > 0 ? sprintf("%+.0f%%", 100 * ($4 - a[4]) / a[4]) : "-"
    printf "| %s | %s | %.3f | %.3f | %s | %.1f%% | %.1f%% | %.1f | %.1f |\n", $1, $2, a[4], $4, err,
        100 * a[8], 100 * $8, a[7], $7
}' "$kernel" "$tmp"
