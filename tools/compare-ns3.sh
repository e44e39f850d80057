#!/usr/bin/env bash
# Cross-validation of the in-tree engine against ns-3 (docs/ns3.md): prints the markdown
# tables of docs/ns3.md, every number from this run.
#   1. delay-only message times (request/response, no loss) on both engines, both deliveries;
#   2. delay-only per-token times of scenarios/ns3-cross.yaml (every point) on both engines;
#   3. datagram delivery under loss: exchange success ratios over RUNS runs per engine, with a
#      two-proportion z-test (two-sided p-value);
#   4. the reliable stream against kernel TCP per message size (256 B to 64 kB) and loss rate
#      (0/1/2/5%): tools/compare-kernel-tcp.sh, the ns-3 column (K_ENGINES="ns3 sim" in the
#      environment adds the in-tree engine's);
#   5. the paper's headline point (scenarios/headline.yaml) on both engines, with wall times.
# usage: tools/compare-ns3.sh [--quick] [BUILD_DIR]   (needs a build with ns-3)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
quick=0
if [ "${1-}" = "--quick" ]; then
    quick=1
    shift
fi
build=${1:-$here/build/dev}
pp=$build/tools/halo_sim_pingpong
halo=$build/app/halo
k_engines=${K_ENGINES:-ns3}
for f in "$pp" "$halo"; do
    [ -x "$f" ] || { echo "compare-ns3: no $f (build first)" >&2; exit 2; }
done
unset NS_LOG NS_GLOBAL_VALUE
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
summ=$here/tools/tcp-summary.awk
runs=10
count=2000
head_runs=3
if [ $quick -eq 1 ]; then
    runs=3
    count=300
    head_runs=1
fi

echo "## 1. Delay-only message times (request/response, 10 Gb/s, 7 us per link, no loss)"
echo
echo "| delivery | size B | in-tree mean ms | ns-3 mean ms | difference |"
echo "|---|---|---|---|---|"
for d in stream datagram; do
    for size in 1 1024 4352 16384 65536; do
        for e in sim ns3; do
            "$pp" --engine "$e" --delivery "$d" --size "$size" --loss 0 --count 200 |
                awk -f "$summ" >"$tmp/$e"
        done
        paste -d, "$tmp/sim" "$tmp/ns3" | awk -F, -v d="$d" '{
            m = NF / 2    # the in-tree summary's columns, then ns-3's
            printf "| %s | %s | %.6f | %.6f | %+.3f%% |\n", d, $1, $4, $(m + 4), 100 * ($(m + 4) - $4) / $4 }'
    done
done

echo
echo "## 2. Delay-only per-token times (scenarios/ns3-cross.yaml, run 0)"
echo
echo "| point | in-tree ms/token | ns-3 ms/token | difference | largest per-token difference |"
echo "|---|---|---|---|---|"
np=$("$halo" sim --points "$here/scenarios/ns3-cross.yaml")
for ((p = 0; p < np; p++)); do
    for e in sim ns3; do
        "$halo" sim --json --engine "$e" --point "$p" --run 0 "$here/scenarios/ns3-cross.yaml" \
            >"$tmp/$e.json"
    done
    label=$(sed -n 's/.*"label": "\([^"]*\)".*/\1/p' "$tmp/sim.json")
    for e in sim ns3; do
        sed -n 's/.*"token_ms": \[\([^]]*\)\].*/\1/p' "$tmp/$e.json" | tr ',' '\n' >"$tmp/$e.tok"
    done
    paste "$tmp/sim.tok" "$tmp/ns3.tok" | awk -v label="$label" '
        { a += $1; b += $2; d = ($2 - $1) / $1; if (d < 0) d = -d; if (d > m) m = d; n++ }
        END { printf "| %s | %.4f | %.4f | %+.3f%% | %.3f%% |\n", label, a / n, b / n,
              100 * (b - a) / a, 100 * m }'
done

# erfc for the two-sided p-value (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7)
erfc_awk='function erfc(x,  t, y) { t = 1 / (1 + 0.3275911 * x)
    y = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return y * exp(-x * x) }'

echo
echo "## 3. Datagram delivery under loss ($runs runs x $count exchanges per engine)"
echo
echo "An exchange succeeds when the request and the response (each SIZE bytes, cut into"
echo "datagrams of 1472 bytes) all arrive; loss on both nodes' incoming links: Bernoulli, or"
echo "Gilbert-Elliott bursts (ge: P(good->bad) 0.01, P(bad->good) 0.3, loss 0.001 in the good"
echo "state and 0.5 in the bad one; mean loss 0.0171, bursts of 3.3 packets on average)."
echo
echo "| size B | loss | in-tree delivered | ns-3 delivered | expected, Bernoulli (1-p)^(2f) | z | p-value |"
echo "|---|---|---|---|---|---|---|"
for size in 1024 4352 16384; do
    for loss in 0.01 0.05 ge; do
        model=(--loss "$loss")
        [ "$loss" = ge ] && model=(--loss 0.0171 --gilbert 0.01,0.3,0.001,0.5)
        for e in sim ns3; do
            for ((r = 0; r < runs; r++)); do
                "$pp" --engine "$e" --delivery datagram --size "$size" "${model[@]}" \
                    --count "$count" --run "$r" --warmup 0
            done | awk -F, '{ n++; if ($4 >= 0) ok++ } END { print ok + 0, n }' >"$tmp/$e.dg"
        done
        paste -d' ' "$tmp/sim.dg" "$tmp/ns3.dg" | awk -v size="$size" -v loss="$loss" "$erfc_awk"'
        { a = $1; n1 = $2; b = $3; n2 = $4; p1 = a / n1; p2 = b / n2; pool = (a + b) / (n1 + n2)
          z = (p2 - p1) / sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2)); az = z < 0 ? -z : z
          f = int((size + 1471) / 1472)
          expect = loss == "ge" ? "-" : sprintf("%.4f", (1 - loss) ^ (2 * f))
          printf "| %s | %s | %.4f (%d/%d) | %.4f (%d/%d) | %s | %+.2f | %.3f |\n", size, loss,
              p1, a, n1, p2, b, n2, expect, z, erfc(az / sqrt(2)) }'
    done
done

echo
echo "## 4. Reliable stream against kernel TCP, per message size and loss rate"
echo
echo "Request/response of SIZE bytes each way, loss on both incoming links; kernel:"
echo "sim/validation/kernel-tcp-2026-12-04-summary.csv (tools/measure-kernel-tcp.sh, two network"
echo "namespaces). tools/compare-kernel-tcp.sh --engines \"$k_engines\"."
echo
qk=()
[ $quick -eq 1 ] && qk=(--quick)
bash "$here/tools/compare-kernel-tcp.sh" ${qk[@]+"${qk[@]}"} --engines "$k_engines" \
    "$here/sim/validation/kernel-tcp-2026-12-04-summary.csv" "$build"

echo
echo "## 5. Headline point (scenarios/headline.yaml: 8 x Pi 4B, Llama 2 7B shape, 5% loss)"
echo
echo "| engine | strict (dllama) ms/token | HALO ms/token | speedup | strict RTOs/token | wall s (strict, HALO) |"
echo "|---|---|---|---|---|---|"
for e in sim ns3; do
    for p in 0 1; do
        : >"$tmp/h$p"
        for ((r = 0; r < head_runs; r++)); do
            "$halo" sim --json --engine "$e" --point "$p" --run "$r" "$here/scenarios/headline.yaml" |
                sed -n 's/.*"tokens": \([0-9]*\), "mean_ms": \([0-9.]*\),.*"timeouts": \([0-9]*\),.*"wall_s": \([0-9.]*\),.*/\1 \2 \3 \4/p' >>"$tmp/h$p"
        done
    done
    paste -d' ' "$tmp/h0" "$tmp/h1" | awk -v e="$e" '
        { s += $2; h += $6; rto += $3 / $1; ws += $4; wh += $8; n++ }
        END { printf "| %s | %.1f | %.1f | %.2fx | %.1f | %.2f, %.2f |\n", e == "sim" ? "in-tree" : "ns-3",
              s / n, h / n, s / h, rto / n, ws / n, wh / n }'
done
echo
echo "(means over $head_runs runs; wall s: per run)"
