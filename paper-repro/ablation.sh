#!/usr/bin/env bash
# Ablation: HALO with each mechanism switched off in turn. Speed from the headline's cluster
# (Llama 2 7B Q4_0 shape on 8 x Pi 4B, 5% loss on every worker: scenarios/headline.yaml,
# point 1), quality from the bundled model on the same kind of cluster
# (scenarios/quality.yaml, predictor point) on the held-out stories 1..124.
# usage: paper-repro/ablation.sh [HALO_BINARY] [STORIES]
set -euo pipefail
# shellcheck source=paper-repro/lib.sh
. "$(dirname "$0")/lib.sh"
use_halo ablation "${1:-$here/build/dev/app/halo}"
stories=${2:-124}
text=$here/data/tinystories-valid-dev.txt
scratch
export HALO_SCENARIO_DIR=$here/scenarios

# variant SCENARIO OUT KEY-VALUE...: a copy of SCENARIO with engine overrides
variant() {
    local src=$1 out=$2
    shift 2
    # the model path is relative to the scenario's folder
    sed "s|file: \.\./models/|file: $here/models/|" "$src" >"$out"
    engine_overrides "$out" "$@"
}

base=$("$halo" eval --json --max-stories "$stories" "$text" 2>/dev/null | field perplexity)
strict=$("$halo" sim --json --point 0 --run 0 "$here/scenarios/headline.yaml" | field mean_ms)
echo "Loss-free perplexity $base (stories 1..$stories); distributed-llama on the headline"
echo "cluster: $strict ms/token (first run)."
echo
echo "| variant | 7B ms/token | speedup vs distributed-llama | 7B contributions dropped | perplexity | change vs loss-free |"
echo "|---|---|---|---|---|---|"
variants=(
    "HALO (all mechanisms)|"
    "no importance (relaxed, drop whatever is late)|importance: none"
    "no critical placement (critical groups stay where the split puts them)|place_critical: false"
    "no redundancy (one copy of critical activations)|redundancy: 1"
    "fixed 10 ms deadline instead of the adaptive one|adaptive_deadline: false"
    "equal split instead of the speed-balanced one|placement: equal"
)
for v in "${variants[@]}"; do
    label=${v%%|*}
    kv=${v#*|}
    args=()
    [ -n "$kv" ] && args=("$kv")
    variant "$here/scenarios/headline.yaml" "$tmp/h.yaml" "${args[@]}"
    sim=$("$halo" sim --json --point 1 --run 0 "$tmp/h.yaml")
    t=$(field mean_ms <<<"$sim")
    miss=$(awk -v m="$(field missing <<<"$sim")" -v e="$(field expected <<<"$sim")" \
        'BEGIN{printf "%.2f%%", 100*m/e}')
    # quality.yaml's importance axis pinned to the predictor, then the variant's override
    variant "$here/scenarios/quality.yaml" "$tmp/q.yaml" "importance: predictor" "${args[@]}"
    q=$("$halo" eval --json --scenario "$tmp/q.yaml" --max-stories "$stories" "$text")
    ppl=$(field perplexity <<<"$q")
    awk -v l="$label" -v t="$t" -v s="$strict" -v m="$miss" -v p="$ppl" -v b="$base" \
        'BEGIN{printf "| %s | %.1f | %.2fx | %s | %.4f | %+.2f%% |\n", l, t, s/t, m, p, 100*(p-b)/b}'
done
