#!/usr/bin/env bash
# Measures what lost contributions cost in quality: `halo eval` on the dev excerpt through
# in-process clusters with deterministic injected drops (relaxed sync), and the cost of
# 8-bit payloads. Prints markdown tables (docs/engine.md holds a copy of one run's output).
# usage: tools/engine-quality.sh [HALO_BINARY] [TEXT_FILE]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
halo=${1:-$here/build/dev/app/halo}
text=${2:-$here/data/tinystories-valid-dev.txt}
[ -x "$halo" ] || { echo "engine-quality: no halo binary at $halo (build first)" >&2; exit 2; }

field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }

nll() { # prints "nll perplexity missing%" for one configuration
    local out
    out=$("$halo" eval --json "$text" "$@" 2>/dev/null) || {
        echo "engine-quality: halo eval $* failed" >&2; exit 1; }
    local contrib miss
    contrib=$(field contributions <<<"$out")
    miss=$(field missing <<<"$out")
    echo "$(field nll <<<"$out") $(field perplexity <<<"$out") $(awk -v m="$miss" -v c="$contrib" 'BEGIN{printf "%.2f", (c > 0 ? 100*m/c : 0)}')"
}

base=$(nll)
read -r base_nll base_ppl _ <<<"$base"
echo "Single device: mean NLL $base_nll nats/token, perplexity $base_ppl ($(basename "$text"))."
echo
echo "| payload | devices | mean NLL | perplexity | change |"
echo "|---|---|---|---|---|"
for enc in f32 q8; do
    read -r n p _ <<<"$(nll --nodes 4 --encoding "$enc")"
    echo "| $enc | 4, equal split, strict | $n | $p | $(awk -v a="$p" -v b="$base_ppl" 'BEGIN{printf "%+.3f%%", 100*(a-b)/b}') |"
done
echo
echo "Relaxed sync, drops injected on the links of the listed devices (seed 1):"
echo
echo "| groups exposed to drops | drop rate | contributions missing | mean NLL | perplexity | change |"
echo "|---|---|---|---|---|---|"
configs=(
    "all groups of 3 of 4 devices (equal split)|--nodes 4"
    "half the attention groups (device 1 of 2)|--nodes 2 --placement explicit:0,0,1,1/0,0,0,0,0,0"
    "half the FFN groups (device 1 of 2)|--nodes 2 --placement explicit:0,0,0,0/0,0,0,1,1,1"
)
for cfg in "${configs[@]}"; do
    label=${cfg%%|*}
    args=${cfg#*|}
    for rate in 0.01 0.02 0.05 0.1 0.2; do
        # shellcheck disable=SC2086
        read -r n p miss <<<"$(nll $args --sync relaxed --drop "$rate")"
        echo "| $label | $rate | $miss% | $n | $p | $(awk -v a="$p" -v b="$base_ppl" 'BEGIN{printf "%+.2f%%", 100*(a-b)/b}') |"
    done
done
