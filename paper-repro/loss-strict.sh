#!/usr/bin/env bash
# Strict synchronisation over TCP under packet loss: prints a markdown table of simulated
# time per token for scenarios/loss-strict.yaml (8 x Raspberry Pi 4B, gigabit Ethernet,
# loss on every worker's links), means over the scenario's runs.
# usage: paper-repro/loss-strict.sh [HALO_BINARY]
set -euo pipefail
# shellcheck source=paper-repro/lib.sh
. "$(dirname "$0")/lib.sh"
use_halo loss-strict "${1:-$here/build/dev/app/halo}"
scenario=$here/scenarios/loss-strict.yaml

# Means over the runs of one point: prints "label mean compute network retx timeouts probes p99".
point() {
    "$halo" sim --json --point "$1" "$scenario" | awk '
    {
        label = $0; sub(/.*"label": "/, "", label); sub(/".*/, "", label)
        n = split($0, runs, /\{"run": /)
        for (i = 2; i <= n; i++) {
            r = runs[i]
            mean += val(r, "mean_ms"); comp += val(r, "compute_ms"); net += val(r, "network_ms")
            rt += val(r, "retransmits") / val(r, "tokens"); to += val(r, "timeouts") / val(r, "tokens")
            pr += val(r, "probes") / val(r, "tokens"); p = val(r, "p99_ms"); if (p > p99) p99 = p
            k++
        }
        printf "%s|%.1f|%.1f|%.1f|%.1f|%.2f|%.2f|%.1f\n", label, mean/k, comp/k, net/k, rt/k, to/k, pr/k, p99
    }
    '"$AWK_VAL"
}

n=$("$halo" sim --points "$scenario")
echo "| model | loss per packet | ms/token | compute | network | retransmits/token | RTOs/token | probes/token | p99 ms | slowdown |"
echo "|---|---|---|---|---|---|---|---|---|---|"
base=0
for p in $(seq 0 $((n - 1))); do
    IFS='|' read -r label mean comp net rt to pr p99 <<<"$(point "$p")"
    model=$(sed -n 's/.*model.shape=\([^ ]*\).*/\1/p' <<<"$label")
    loss=$(sed -n 's/.*loss=\([0-9.]*\).*/\1/p' <<<"$label")
    if [ "$loss" = 0 ]; then base=$mean; fi
    slow=$(awk -v a="$mean" -v b="$base" 'BEGIN{printf "%.1fx", a/b}')
    echo "| $model | $loss | $mean | $comp | $net | $rt | $to | $pr | $p99 | $slow |"
done
