#!/usr/bin/env bash
# The attribution ladder (issue 14): from distributed-llama (strict sync over TCP, the mesh
# collective) to HALO, one mechanism added at a time, on three clusters: the headline
# (8 x Pi 4B, Llama 2 7B shape, 5% loss on every worker), a heterogeneous one (4 of the 8
# boards with a quarter of the memory bandwidth, 2% loss) and a bursty one (5% mean loss in
# 10 ms Gilbert-Elliott bursts). Each step is the previous step's engine keys plus one
# change, given as engine flags over the scenario's dllama point, so every row is one
# `halo sim` of the same cluster, seeds and runs. Prints one markdown table per cluster:
# ms/token, contributions dropped, the step's share of the log-speedup from dllama to the
# HALO preset (ln(t_prev / t_step) / ln(t_dllama / t_halo)), and the speedup so far; then
# two steps beyond the preset (the scheduler, memory budgets with read-ahead) and the fair
# baselines for comparison.
#
# usage: paper-repro/attribution.sh [--quick] [HALO_BINARY]
#   --quick  run 0 of each point only (the scenarios have 3 runs); same steps
set -euo pipefail
# shellcheck source=paper-repro/lib.sh
. "$(dirname "$0")/lib.sh"
quick=0
if [ "${1-}" = --quick ]; then
    quick=1
    shift
fi
use_halo attribution "${1:-$here/build/dev/app/halo}" "run 'make build'"
export HALO_SCENARIO_DIR=$here/scenarios

# The ladder: label | engine flags (cumulative: each row repeats the previous row's keys).
# Shapes have no activations: "importance" is the synthetic log-normal scores, with sigma
# measured on the bundled model per block kind, depth and group count (docs/halo.md).
relaxed="--baseline relaxed"
imp="$relaxed --importance synthetic"
red="$imp --redundancy 2 --redundancy-on-loss true"
ada="$red --adaptive-deadline true"
host="$ada --placement balanced-host"
steps=(
    "dllama: strict, TCP, mesh|--baseline dllama"
    "+transport: datagrams, application resend after a fixed 10 ms timeout (star)|--baseline strict-datagram --adaptive-deadline false"
    "+relaxed sync: a fixed 10 ms deadline, a late contribution is a zero term|$relaxed"
    "+importance: critical groups (tau 0.9) awaited, on reliable devices|$imp"
    "+redundancy: two copies to critical devices after a loss|$red"
    "+adaptive deadline: srtt + 4 rttvar per device and block kind|$ada"
    "+split by speed and host costs (balanced-host) = the halo preset|$host"
)
beyond=(
    "+scheduler (placement: scheduled instead of balanced-host)|$ada --placement scheduled"
    "+loading (memory_budget with read-ahead, over the scheduler)|$ada --placement scheduled --memory-budget true --prefetch true"
)
fair=(
    "halo preset (check: the last ladder row)|--baseline halo"
    "strict-datagram (adaptive resend timeout)|--baseline strict-datagram"
    "strict-tcp-tuned (rto_min 5 ms)|--baseline strict-tcp-tuned"
)

# point_stats SCENARIO POINT FLAGS...: "mean_ms dropped_pct" averaged over the runs
point_stats() {
    local scen=$1 point=$2
    shift 2
    local runs=()
    [ $quick = 1 ] && runs=(--run 0)
    "$halo" sim --json --point "$point" "${runs[@]}" "$@" "$scen" | run_stats
}

# ladder TITLE SCENARIO POINT: one table
ladder() {
    local title=$1 scen=$2 point=$3 i t0 th prev row label flags ms drop
    local -a ms_of drop_of
    for i in "${!steps[@]}"; do
        # shellcheck disable=SC2086 # flags are words
        read -r "ms_of[i]" "drop_of[i]" <<<"$(point_stats "$scen" "$point" ${steps[i]#*|})"
    done
    t0=${ms_of[0]}
    th=${ms_of[${#steps[@]} - 1]}
    echo
    echo "### $title"
    echo
    echo "| step | ms/token | dropped | share of log-speedup | speedup over dllama |"
    echo "|---|---|---|---|---|"
    prev=$t0
    for i in "${!steps[@]}"; do
        label=${steps[i]%%|*}
        awk -v l="$label" -v t="${ms_of[i]}" -v d="${drop_of[i]}" -v p="$prev" -v a="$t0" \
            -v h="$th" -v first="$i" 'BEGIN {
                tot = log(a / h)
                share = first == 0 || tot == 0 ? "-" : sprintf("%+.0f%%", 100 * log(p / t) / tot)
                printf "| %s | %.1f | %.2f%% | %s | %.2fx |\n", l, t, d, share, a / t
            }'
        prev=${ms_of[i]}
    done
    echo "| *beyond the preset, and the fair baselines* | | | | |"
    for row in "${beyond[@]}" "${fair[@]}"; do
        label=${row%%|*} flags=${row#*|}
        # shellcheck disable=SC2086
        read -r ms drop <<<"$(point_stats "$scen" "$point" $flags)"
        awk -v l="$label" -v t="$ms" -v d="$drop" -v a="$t0" -v h="$th" 'BEGIN {
            printf "| %s | %.1f | %.2f%% | - | %.2fx; HALO %.2fx over it |\n", l, t, d, a / t, t / h
        }'
    done
}

echo "## Attribution ladder"
echo
echo "Each row adds one mechanism to the row above (engine flags over the scenario's dllama"
echo "point); share = ln(t_prev / t_row) / ln(t_dllama / t_halo), so the shares of the ladder"
echo "rows add to 100%. Below the line: steps beyond the preset, and the baselines HALO is also"
echo "compared with (the last column gives HALO's speedup over each)."
[ $quick = 1 ] && echo "(--quick: run 0 only)"
ladder "headline: 8 x Pi 4B, Llama 2 7B, 5% loss on every worker" \
    "$here/scenarios/headline.yaml" 0
ladder "heterogeneous: 4 of the 8 boards at a quarter of the memory bandwidth, 2% loss" \
    "$here/scenarios/sweep-hetero.yaml" 8
ladder "bursty: 5% mean loss in 10 ms Gilbert-Elliott bursts on every worker" \
    "$here/scenarios/headline-bursty.yaml" 0
