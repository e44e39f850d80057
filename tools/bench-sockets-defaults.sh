#!/usr/bin/env bash
# Issue 15's loopback acceptance: root + 3 `halo worker` processes on 127.0.0.1, cluster
# files with no engine section (the halo preset: the defaults a user gets), 0% and 5%
# injected loss, against strict TCP (baseline dllama) at 0%, measured interleaved (round
# after round, every configuration once per round) so that load on the machine falls on all
# of them alike. Prints a markdown table and the ratios the issue asks for:
#   HALO 5% / HALO 0%        (at most 2x on the bundled model, 1.5x on a compute-heavy one)
#   HALO 0% / strict TCP 0%  (a clean network costs HALO nothing: at most 1.0x)
#   missing contributions at 0% (deadlines never drop work that is merely slow)
#   perplexity at 5% / 0%    (bundled model, teacher-forced over the first stories)
#
#   tools/bench-sockets-defaults.sh [--rounds N] [--tokens N] [--stories K]
#                                   [--big MODEL.bin TOKENIZER.bin] [--bin PATH]
#
# --big adds a second model (e.g. `halo bench --save-big F`'s ~110M synthetic f32 model with
# a tokenizer from `halo_dllama_files random-tokenizer 32000 T` and a predictor from `halo
# calibrate`: the halo preset needs MODEL.pred beside it). Every process it starts is
# stopped on exit (trap); it talks only to 127.0.0.1.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
halo=$repo/build/dev/app/halo
rounds=3
tokens=48
stories=3
big_model="" big_tok=""
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?}; shift ;;
    --tokens) tokens=${2:?}; shift ;;
    --stories) stories=${2:?}; shift ;;
    --big) big_model=${2:?}; big_tok=${3:?}; shift 2 ;;
    --bin) halo=${2:?}; shift ;;
    -h | --help) script_help; exit 0 ;;
    *) log "unknown argument $1"; exit 2 ;;
    esac
    shift
done
[ -x "$halo" ] || { echo "bench-sockets-defaults: $halo not built" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/halo-bsd.XXXXXX")
# workers are started inside $(...): their pids go to files, not to a variable
cleanup() {
    for f in "$tmp"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
"$halo" keygen "$tmp/k.key" >/dev/null

# workers MODEL TRANSPORT: starts three, prints their addresses comma-separated
workers() {
    local model=$1 transport=$2 addrs=() i a
    for i in 1 2 3; do
        "$halo" worker --listen 127.0.0.1:0 --key "$tmp/k.key" --transport "$transport" \
            -m "$model" >"$tmp/w-$transport-$i.log" 2>&1 &
        echo $! >"$tmp/w-$transport-$i.pid"
    done
    for i in 1 2 3; do
        a=""
        for _ in $(seq 300); do
            a=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\) .*/\1/p' "$tmp/w-$transport-$i.log" \
                2>/dev/null || true)
            [ -n "$a" ] && break
            sleep 0.1
        done
        [ -n "$a" ] || { echo "worker did not start" >&2; exit 1; }
        addrs+=("$a")
    done
    (IFS=,; echo "${addrs[*]}")
}

stop_workers() {
    for f in "$tmp"/*.pid; do
        [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}

# one CONFIG LOSS MODEL TOK ADDRS: prints "ms_per_token missing_pct"
one() {
    local cfg=$1 loss=$2 model=$3 tok=$4 addrs=$5 f=$tmp/c.yaml
    printf 'key: %s\nworkers: [%s]\ninject: {loss: %s, seed: %d}\n' "$tmp/k.key" "$addrs" \
        "$loss" "$RANDOM" >"$f"
    [ "$cfg" = strict ] && printf 'engine: {baseline: dllama}\n' >>"$f"
    local try
    for try in 1 2; do # a failed run (printed on stderr) is run once more
        if "$halo" generate -m "$model" -z "$tok" -p "Once upon a time" -n "$tokens" -t 0 \
            --cluster "$f" >/dev/null 2>"$tmp/err"; then
            break
        fi
        { echo "bench-sockets-defaults: $cfg at loss $loss failed (try $try):"; cat "$tmp/err"; \
            cat "$tmp"/w-*.log | tail -5; } >&2
        [ "$try" = 2 ] && { echo "nan nan"; return; }
    done
    local ms miss
    ms=$(sed -n 's/.*(\([0-9.]*\) ms\/token).*/\1/p' "$tmp/err")
    miss=$(sed -n 's/.*missing (\([0-9.]*\)%).*/\1/p' "$tmp/err")
    echo "$ms $miss"
}

# ppl CONFIG LOSS ADDRS: perplexity of the bundled model through the cluster
ppl() {
    local loss=$2 addrs=$3 f=$tmp/e.yaml
    printf 'key: %s\nworkers: [%s]\ninject: {loss: %s, seed: 7}\n' "$tmp/k.key" "$addrs" \
        "$loss" >"$f"
    "$halo" eval --max-stories "$stories" --json --cluster "$f" \
        "$repo/data/tinystories-valid-dev.txt" 2>/dev/null |
        sed -n 's/.*"perplexity": \([0-9.]*\).*/\1/p'
}

bench_model() { # NAME MODEL TOK
    local name=$1 model=$2 tok=$3 r
    local udp tcp
    udp=$(workers "$model" udp)
    tcp=$(workers "$model" tcp)
    : >"$tmp/$name.txt"
    for r in $(seq "$rounds"); do
        echo "strict0 $(one strict 0 "$model" "$tok" "$tcp")" >>"$tmp/$name.txt"
        echo "halo0 $(one halo 0 "$model" "$tok" "$udp")" >>"$tmp/$name.txt"
        echo "halo5 $(one halo 0.05 "$model" "$tok" "$udp")" >>"$tmp/$name.txt"
    done
    if [ "$name" = stories260K ]; then
        echo "ppl0 $(ppl halo 0 "$udp") 0" >>"$tmp/$name.txt"
        echo "ppl5 $(ppl halo 0.05 "$udp") 0" >>"$tmp/$name.txt"
    fi
    stop_workers
    awk -v name="$name" -v rounds="$rounds" '
        { s[$1] += $2; m[$1] += $3; n[$1]++ }
        END {
            for (k in s) { s[k] /= n[k]; m[k] /= n[k] }
            printf "| %s | %.3f | %.3f | %.3f | %.2fx | %.2fx | %.2f%% | %.2f%% |", name,
                s["strict0"], s["halo0"], s["halo5"], s["halo5"] / s["halo0"],
                s["halo0"] / s["strict0"], m["halo0"], m["halo5"]
            if (n["ppl0"]) printf " %.4f / %.4f (%+.2f%%) |\n", s["ppl0"], s["ppl5"],
                100 * (s["ppl5"] / s["ppl0"] - 1); else printf " - |\n"
        }' "$tmp/$name.txt"
}

echo "root + 3 workers on 127.0.0.1, $(nproc) cores, $(uname -r); $rounds interleaved rounds of"
echo "$tokens greedy tokens; means of the rounds. HALO: no engine section (the halo preset)."
echo
echo "| model | strict TCP 0% ms/token | HALO 0% | HALO 5% | HALO 5% / 0% | HALO 0% / strict 0% | missing 0% | missing 5% | perplexity 0% / 5% |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
bench_model stories260K "$repo/models/stories260K.bin" "$repo/models/tok512.bin"
[ -n "$big_model" ] && bench_model "$(basename "$big_model" .bin)" "$big_model" "$big_tok"
exit 0
