#!/usr/bin/env bash
# One command for the paper's reproducible claims: sweeps every paper-repro scenario into a
# results database, draws the figures and writes the report, then prints the paper's numbers
# beside ours with their conditions (paper-repro/README.md maps every claim).
#
# usage: paper-repro/run.sh [--quick] [--out DIR] [--jobs N]
#   --quick   quality on the first 10 held-out stories instead of all 124 (what the README's
#             main command and CI run), run 0 only of the attribution ladder, the band
#             without its ns-3 rows, 10 stories for quality at the headline's drop rate;
#             the speed sweeps are the same in both modes
#   --out     where the database, figures and report go (default build/paper-repro, or
#             build/paper-repro-quick); re-running resumes: finished runs are skipped
#   --jobs    worker processes per sweep (default: the number of cores)
# Environment: HALO (the halo binary, default build/dev/app/halo).
set -euo pipefail
# shellcheck source=paper-repro/lib.sh
. "$(dirname "$0")/lib.sh"
repro_options "$@"
shift "$nargs"
case ${1-} in
"") ;;
-h | --help) sed -n '2,15p' "$0"; exit 0 ;;
*) echo "paper-repro: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
use_halo paper-repro "${HALO:-$here/build/dev/app/halo}" "run 'make build'"
command -v sqlite3 >/dev/null || { echo "paper-repro: needs the sqlite3 command (scripts/deps.sh)" >&2; exit 2; }
stories=124 mode=full suffix=""
if [ $quick = 1 ]; then
    stories=10 mode=quick suffix=-quick
fi
[ -n "$out" ] || out=$here/build/paper-repro$suffix
mkdir -p "$out/scenarios"
db=$out/results.db
text=$here/data/tinystories-valid-dev.txt
export HALO_SCENARIO_DIR=$here/scenarios
t0=$(date +%s.%N)

sweep() { "$halo" sweep --jobs "$jobs" --db "$db" "$@"; }

echo "== paper-repro ($mode): sweeps into $db"
for s in headline headline-subset sweep-loss sweep-scale sweep-hetero sweep-tau hetero-sched \
    loss-strict loading loading-place; do
    sweep "$here/scenarios/$s.yaml"
done
# quality: the bundled model's numerics, evaluated on held-out stories
sweep --max-stories "$stories" "$here/scenarios/sweep-quality.yaml"
sweep --max-stories "$stories" --eval "$text" "$here/scenarios/quality.yaml"
sweep --max-stories "$stories" --eval "$text" "$here/scenarios/threshold.yaml"

# Ablation: HALO with one mechanism off, as scenarios of their own (named ablation-*), on
# the headline's cluster for speed and the quality cluster for perplexity.
variant() { # SRC NAME KEY-VALUE...: a copy of SRC named NAME with engine overrides
    local src=$1 name=$2 dst=$out/scenarios/$2.yaml
    shift 2
    sed -e "s|^name:.*|name: $name|" -e "s|file: \.\./models/|file: $here/models/|" \
        -e "s|eval: \.\./data/|eval: $here/data/|" "$src" >"$dst"
    engine_overrides "$dst" "$@"
    echo "$dst"
}
ablations=(
    "all|"
    "no-importance|importance: none"
    "no-placement|place_critical: false"
    "no-redundancy|redundancy: 1"
    "fixed-deadline|adaptive_deadline: false"
    "equal-split|placement: equal"
)
for a in "${ablations[@]}"; do
    name=${a%%|*} kv=${a#*|}
    args=()
    [ -n "$kv" ] && args=("$kv")
    sweep "$(variant "$here/scenarios/headline.yaml" "ablation-$name" "${args[@]}")"
    sweep --max-stories "$stories" --eval "$text" \
        "$(variant "$here/scenarios/quality.yaml" "ablation-quality-$name" "importance: predictor" "${args[@]}")"
done

echo "== figures and report"
"$halo" plot --db "$db" --out "$out/figures"
"$halo" report --db "$db" >"$out/report.md"
echo "$out/report.md"

# The attribution ladder and the fair baselines (attribution.sh): its own tables, written
# into the output directory and appended to the report
echo
echo "== attribution ladder ($out/attribution.md)"
quick_flag=()
[ $quick = 1 ] && quick_flag=(--quick)
bash "$here/paper-repro/attribution.sh" "${quick_flag[@]}" "$halo" >"$out/attribution.md"
cat "$out/attribution.md"
echo
echo "== the headline as a band ($out/band.md, $out/figures/band.png)"
bash "$here/paper-repro/band.sh" "${quick_flag[@]}" --out "$out/figures" "$halo" >"$out/band.md"
cat "$out/band.md"
echo
echo "== quality at the headline's drop rate ($out/quality-op.md, $out/figures/quality-op.png)"
bash "$here/paper-repro/quality-op.sh" "${quick_flag[@]}" --out "$out/figures" --jobs "$jobs" \
    "$halo" >"$out/quality-op.md"
cat "$out/quality-op.md"
{
    echo
    cat "$out/attribution.md"
    echo
    cat "$out/band.md"
    echo
    cat "$out/quality-op.md"
} >>"$out/report.md"

q() { sqlite3 -batch -noheader "$db" "$1"; }
# mean ms/token of scenario S at system Y (and an optional extra condition)
ms() { q "SELECT printf('%.1f', avg(mean_ms)) FROM latest_run WHERE scenario_name = '$1' AND system = '$2' ${3:+AND $3}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
ppl() { q "SELECT printf('%.4f', avg(q.perplexity)) FROM latest_run r JOIN quality q ON q.run_id = r.id WHERE r.scenario_name = '$1' ${2:+AND $2}"; }
change() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%+.2f%%", 100 * (a - b) / b; else print "-" }'; }

echo
echo "== the paper's numbers beside ours ($mode; all simulated, see paper-repro/README.md)"
echo
echo "| claim | paper | ours | conditions |"
echo "|---|---|---|---|"
d5=$(ms sweep-loss dllama "abs(loss - 0.05) < 1e-9") h5=$(ms sweep-loss halo "abs(loss - 0.05) < 1e-9")
echo "| speedup over distributed-llama at 5% loss | 3.41x | $(ratio "$d5" "$h5") ($d5 vs $h5 ms/token) | Llama 2 7B Q4_0 shape, 8 x Pi 4B, gigabit, 5% loss on every worker's links, 32 tokens x 3 runs |"
# HALO against the fair baselines on the headline (attribution.sh's first table)
fair() { awk -v k="$1" '/^### / { n++ } n == 1 && index($0, "| " k " ") == 1 { split($0, c, "|"); gsub(/ /, "", c[3]); print c[3]; exit }' "$out/attribution.md"; }
hh=$(fair "halo preset (check: the last ladder row)") sd=$(fair "strict-datagram (adaptive resend timeout)") st=$(fair "strict-tcp-tuned (rto_min 5 ms)")
echo "| same, against strict-datagram (strict sync over datagrams, adaptive resend) | - | $(ratio "$sd" "$hh") ($sd vs $hh ms/token) | headline cluster, attribution.sh |"
echo "| same, against strict-tcp-tuned (strict TCP, rto_min 5 ms) | - | $(ratio "$st" "$hh") ($st vs $hh ms/token) | headline cluster, attribution.sh |"
ds=$(ms headline-subset dllama) hs=$(ms headline-subset halo)
echo "| same, loss on 3 of 7 workers | - | $(ratio "$ds" "$hs") ($ds vs $hs ms/token) | as above, 5% loss on 3 workers' links only |"
d0=$(ms sweep-loss dllama "abs(loss) < 1e-9") h0=$(ms sweep-loss halo "abs(loss) < 1e-9")
echo "| gain on a clean LAN | about 1.12x | $(ratio "$d0" "$h0") ($d0 vs $h0 ms/token) | as above, no loss |"
p0=$(ppl sweep-quality "r.system = 'halo' AND abs(r.loss) < 1e-9") p5=$(ppl sweep-quality "r.system = 'halo' AND abs(r.loss - 0.05) < 1e-9")
r5=$(ppl sweep-quality "r.system = 'relaxed' AND abs(r.loss - 0.05) < 1e-9")
echo "| accuracy loss at 5% loss | under 1% | perplexity $(change "$p5" "$p0") ($p5 vs $p0 loss-free); relaxed without importance $(change "$r5" "$p0") | stories260K numerics, 8 simulated Pi 4B, first $stories held-out stories |"
# perplexity change at the headline's drop rate (quality-op.sh), per scoring
qop() { awk -F'|' -v k="$1" '$2 == " " k " " { gsub(/ /, "", $5); print $5; exit }' "$out/quality-op.md"; }
qdrop=$(sed -n 's/.*The HALO headline run drops \([0-9.]*\)%.*/\1/p' "$out/quality-op.md")
echo "| accuracy loss at the speed run's drop rate | under 1% | perplexity $(qop predictor) with the predictor, $(qop oracle) oracle, $(qop none) without importance | stories260K where it drops what the headline drops (${qdrop}%), quality-op.sh (held-out stories: 10 with --quick, else 40) |"
for n in 2 4 8; do
    dn=$(ms sweep-scale dllama "n_devices = $n") hn=$(ms sweep-scale halo "n_devices = $n")
    echo "| speedup with $n devices at 5% loss | not known | $(ratio "$dn" "$hn") | Llama 2 7B Q4_0 shape, Pi 4B, gigabit |"
done
dh=$(ms sweep-hetero dllama "speed_ratio > 3.9") hh=$(ms sweep-hetero halo "speed_ratio > 3.9")
echo "| speedup with 4 of 8 devices 4x slower, 2% loss | not known | $(ratio "$dh" "$hh") | Llama 2 7B Q4_0 shape, gigabit |"
for t in 0.5 0.9 0.99; do
    pt=$(ppl threshold "r.tau = $t")
    echo "| perplexity at tau $t | not known | $pt | stories260K numerics, 8 simulated Pi 4B, 5% loss, first $stories held-out stories |"
done
# overlapped loading: 840 MiB workers (27% of the share streamed), USB 3 SSD
ld() { # system prefetch -> "ms read stall"
    q "SELECT printf('%.1f %.1f %.1f', avg(r.mean_ms), avg(r.storage_read_ms), avg(r.storage_stall_ms))
       FROM latest_run r JOIN run_axis m ON m.run_id = r.id AND m.key = 'devices[1].memory_mb'
       JOIN run_axis s ON s.run_id = r.id AND s.key = 'devices[1].profile.storage_mbps'
       WHERE r.scenario_name = 'loading' AND r.system = '$1' AND r.prefetch = $2
       AND CAST(m.value AS REAL) = 840 AND CAST(s.value AS REAL) = 350"
}
read -r l0 _ _ <<<"$(ld halo 0)"
read -r l1 lr ls <<<"$(ld halo 1)"
read -r ldl _ _ <<<"$(ld dllama 1)"
echo "| load time hidden by overlapped neuron-group loading | not known | $(awk -v r="$lr" -v s="$ls" 'BEGIN { printf "%.0f%%", 100 * (1 - s / r) }') of the storage reading hidden; read-ahead $(ratio "$l0" "$l1") faster ($l0 vs $l1 ms/token); $(ratio "$ldl" "$l1") over distributed-llama | Llama 2 7B Q4_0 shape, 8 x Pi 4B, 5% loss on workers, workers with 840 MiB (27% of their share streamed) and a 350 MB/s SSD |"
da=$(ms ablation-all dllama)
for a in "${ablations[@]}"; do
    name=${a%%|*}
    ha=$(ms "ablation-$name" halo)
    pa=$(ppl "ablation-quality-$name")
    echo "| ablation: $name | not known | $(ratio "$da" "$ha") speedup, perplexity $pa | headline cluster for speed, quality cluster for perplexity |"
done

t1=$(date +%s.%N)
echo
awk -v a="$t0" -v b="$t1" -v m="$mode" -v j="$jobs" 'BEGIN { printf "paper-repro (%s): wall time %.1f s with %d jobs\n", m, b - a, j }'
echo "database $db, figures $out/figures, report $out/report.md"
