#!/usr/bin/env bash
# Quality from the same policies as the headline, measured on the bundled model whose
# numerics really run (8 simulated Pi 4B, 5% loss on every worker's links): perplexity on the
# held-out stories of the TinyStories excerpt (1..124; the predictor was fitted on 125..177)
# for relaxed synchronisation without importance, HALO with the predictor and with the
# oracle (scenarios/quality.yaml), then HALO across thresholds (scenarios/threshold.yaml).
# usage: paper-repro/quality.sh [HALO_BINARY] [STORIES]
set -euo pipefail
# shellcheck source=paper-repro/lib.sh
. "$(dirname "$0")/lib.sh"
use_halo quality "${1:-$here/build/dev/app/halo}"
stories=${2:-124}
text=$here/data/tinystories-valid-dev.txt

base=$("$halo" eval --json --max-stories "$stories" "$text" 2>/dev/null | field perplexity)
echo "Loss-free single device on stories 1..$stories: perplexity $base."
echo
table() { # scenario label-key
    local sc=$here/scenarios/$1.yaml n
    n=$("$halo" sim --points "$sc")
    echo "| $2 | perplexity | change vs loss-free | contributions dropped | simulated ms/token |"
    echo "|---|---|---|---|---|"
    for p in $(seq 0 $((n - 1))); do
        out=$("$halo" eval --json --scenario "$sc" --point "$p" --max-stories "$stories" "$text")
        label=$(sed -n 's/.*"label": "\([^"]*\)".*/\1/p' <<<"$out")
        ppl=$(field perplexity <<<"$out")
        awk -v l="${label#*=}" -v p="$ppl" -v b="$base" -v m="$(field missing <<<"$out")" \
            -v c="$(field contributions <<<"$out")" -v t="$(field mean_ms <<<"$out")" \
            'BEGIN{printf "| %s | %.4f | %+.2f%% | %.2f%% | %.3f |\n", l, p, 100*(p-b)/b, 100*m/c, t}'
    done
    echo
}
table quality importance
table threshold tau
