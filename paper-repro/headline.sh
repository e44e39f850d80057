#!/usr/bin/env bash
# The paper's headline: time per token of distributed-llama's strict TCP synchronisation
# against HALO at 5% packet loss, 8 x Raspberry Pi 4B, Llama 2 7B (Q4_0 shape), with loss on
# every worker's links (scenarios/headline.yaml) and on 3 of 7 workers
# (scenarios/headline-subset.yaml). Prints a markdown table with the paper's number beside
# ours; means over each scenario's runs.
# usage: paper-repro/headline.sh [HALO_BINARY]
set -euo pipefail
# shellcheck source=paper-repro/lib.sh
. "$(dirname "$0")/lib.sh"
use_halo headline "${1:-$here/build/dev/app/halo}"

# mean_ms and missing share over the runs of one point
stats() {
    "$halo" sim --json --point "$2" "$1" | run_stats
}

echo "| losses | distributed-llama (strict, TCP) ms/token | HALO ms/token | contributions dropped | speedup | paper |"
echo "|---|---|---|---|---|---|"
for s in headline headline-subset; do
    read -r strict _ <<<"$(stats "$here/scenarios/$s.yaml" 0)"
    read -r t_halo miss <<<"$(stats "$here/scenarios/$s.yaml" 1)"
    what="5% on every worker"
    [ "$s" = headline-subset ] && what="5% on 3 of 7 workers"
    speed=$(awk -v a="$strict" -v b="$t_halo" 'BEGIN{printf "%.2fx", a/b}')
    paper=3.41x
    [ "$s" = headline-subset ] && paper="-"
    echo "| $what | $strict | $t_halo | $miss% | $speed | $paper |"
done
