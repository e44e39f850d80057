#!/usr/bin/env bash
# Issue 15, item 6 (distributed speed without loss): root + 3 workers on 127.0.0.1, no loss,
# the collectives of a socket cluster measured against each other and against
# distributed-llama on the same model, each configuration once per round, round after
# round (interleaved), so that load on the machine falls on all of them alike. Columns:
#   strict       engine {baseline: dllama}: strict sync over TCP, star (the root gathers the
#                partial sums and computes the whole classifier)
#   mesh         the same with collective: mesh (every node sends its partial sums to every
#                peer; the classifier split in 4 row slices)
#   split        strict star with split_classifier: true (classifier split, blocks gathered)
#   halo         no engine section (the halo preset: relaxed sync over UDP, importance from
#                the predictor, adaptive deadline), star
#   halo-split   the halo preset with split_classifier: true
#   nospin, halo-nospin  strict and halo with `spin_us: 0`: the root blocks in ppoll at once
#                instead of polling for 20 us first (the default since 2026-12-07)
#   dllama       distributed-llama (f32 weights, f32 sync buffer, --nthreads 1, --net-turbo 0,
#                its own 3 workers on loopback ports), when --dllama BIN is given
# Every halo root and worker runs one compute thread (--threads 1), as distributed-llama's
# --nthreads 1. Times: the root's ms/token of the generated tokens (halo: `(X ms/token)`;
# distributed-llama: its "Prediction ... ms/tok" line), prompt "Once upon a time", greedy.
# Per round the ratios to `strict` are taken; their medians (range over the rounds) are
# printed, with the median times.
#
#   tools/bench-sockets-collective.sh [--rounds N] [--tokens N] [--bin PATH]
#        [--model NAME BIN TOK [DLLAMA_M DLLAMA_T]]...   (default: the bundled model only)
#        [--dllama BIN] [--write FILE]
#
# --model may repeat; DLLAMA_M/_T are the model and tokenizer converted for
# distributed-llama (tools' halo_dllama_files model / tokenizer). The halo columns need
# BIN.pred beside a model (halo calibrate) for the halo preset; without it they are "-".
# --write FILE splices the table between FILE's lines `<!-- bench-sockets-collective.sh:
# begin -->` and `... end -->` (tools/splice-doc.sh). Everything it starts is stopped on exit.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

halo=$repo/build/dev/app/halo
rounds=3
tokens=32
write=""
dllama=""
models=()
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?}; shift ;;
    --tokens) tokens=${2:?}; shift ;;
    --bin) halo=${2:?}; shift ;;
    --dllama) dllama=${2:?}; shift ;;
    --write) write=${2:?}; shift ;;
    --model)
        if [ $# -ge 6 ] && [ "${5#--}" = "$5" ]; then
            models+=("$2|$3|$4|$5|$6"); shift 5
        else
            models+=("$2|$3|$4||"); shift 3
        fi
        ;;
    *) other_arg "$1" ;;
    esac
    shift
done
[ ${#models[@]} -gt 0 ] ||
    models=("stories260K|$repo/models/stories260K.bin|$repo/models/tok512.bin||")
bench_tmp "$halo" halo-bsc

# workers MODEL TRANSPORT: three halo workers, their addresses comma-separated
workers() {
    start_workers "$tmp" "w-$2" "$halo" worker --listen 127.0.0.1:0 --key "$tmp/k.key" \
        --transport "$2" -m "$1" --threads 1
}

# dllama_workers: three distributed-llama workers on free ports; prints their addresses
dllama_workers() {
    local addrs=() i p
    for i in 1 2 3; do
        p=$((20000 + ($$ + 7 * i) % 20000))
        "$dllama" worker --host 127.0.0.1 --port "$p" --nthreads 1 --net-turbo 0 \
            >"$tmp/dw-$i.log" 2>&1 &
        echo $! >"$tmp/dw-$i.pid"
        addrs+=("127.0.0.1:$p")
    done
    sleep 0.5
    echo "${addrs[*]}"
}

stop_all() {
    stop_pids "$tmp"
    wait 2>/dev/null || true
}

# one CONFIG MODEL TOK: prints the root's ms/token (nan when it failed twice)
one() {
    local cfg=$1 model=$2 tok=$3 f=$tmp/c.yaml try addrs=$tcp
    case "$cfg" in halo | halo-split | halo-nospin) addrs=$udp ;; esac
    printf 'key: %s\nworkers: [%s]\nstall_ms: 60000\n' "$tmp/k.key" "$addrs" >"$f"
    case "$cfg" in
    strict) printf 'engine: {baseline: dllama}\n' >>"$f" ;;
    mesh) printf 'engine: {baseline: dllama, collective: mesh}\n' >>"$f" ;;
    split) printf 'engine: {baseline: dllama, split_classifier: true}\n' >>"$f" ;;
    halo-split) printf 'engine: {split_classifier: true}\n' >>"$f" ;;
    nospin) printf 'spin_us: 0\nengine: {baseline: dllama}\n' >>"$f" ;;
    halo-nospin) printf 'spin_us: 0\n' >>"$f" ;;
    esac
    for try in 1 2; do
        if "$halo" generate -m "$model" -z "$tok" -p "Once upon a time" -n "$tokens" -t 0 \
            --threads 1 --cluster "$f" >/dev/null 2>"$tmp/err"; then
            gen_ms <"$tmp/err"
            return
        fi
        { log "$cfg failed (try $try):"; tail -5 "$tmp/err"; } >&2
    done
    echo nan
}

one_dllama() { # MODEL_M TOK_T ADDRS
    local out=$tmp/dl.out
    # shellcheck disable=SC2086 # the addresses are words
    if timeout 600 "$dllama" inference --model "$1" --tokenizer "$2" --buffer-float-type f32 \
        --nthreads 1 --prompt "Once upon a time" --steps $((tokens + 5)) --temperature 0 \
        --seed 1 --max-seq-len 256 --net-turbo 0 --workers $3 >"$out" 2>&1; then
        dllama_ms <"$out"
    else
        { log "dllama failed:"; tail -5 "$out"; } >&2
        echo nan
    fi
}

bench_model() { # NAME BIN TOK DLLAMA_M DLLAMA_T
    local name=$1 model=$2 tok=$3 dm=$4 dt=$5 r cfgs="strict mesh split nospin"
    [ -e "${model%.*}.pred" ] && cfgs="$cfgs halo halo-split halo-nospin"
    udp=$(workers "$model" udp)
    tcp=$(workers "$model" tcp)
    : >"$tmp/rows"
    for r in $(seq "$rounds"); do
        log "$name round $r of $rounds"
        for c in $cfgs; do
            echo "$r $c $(one "$c" "$model" "$tok")" >>"$tmp/rows"
        done
        if [ -n "$dllama" ] && [ -n "$dm" ]; then
            # distributed-llama's workers serve one root each: started per run
            local da
            da=$(dllama_workers)
            echo "$r dllama $(one_dllama "$dm" "$dt" "$da")" >>"$tmp/rows"
            stop_pids "$tmp" dw
        fi
    done
    stop_all
    cp "$tmp/rows" "$tmp/rows-$name"
    awk -v name="$name" "$AWK_ROUNDS"'
        { v[$1, $2] = $3; if ($1 > R) R = $1; have[$2] = 1 }
        END {
            n = split("strict mesh split nospin halo halo-split halo-nospin dllama", K, " ")
            line = "| " name
            for (k = 1; k <= n; k++) {
                if (!have[K[k]]) { line = line " | -"; continue }
                for (r = 1; r <= R; r++) x[r] = v[r, K[k]]
                line = line sprintf(" | %.3f", median(x, R))
            }
            for (k = 2; k <= n; k++) {
                if (!have[K[k]]) { line = line " | -"; continue }
                line = line " | " ratio(K[k], "strict")
            }
            print line " |"
        }' "$tmp/rows"
}

out=$tmp/table.md
{
    echo "root + 3 workers on 127.0.0.1, no loss, one compute thread per process, $(nproc) cores,"
    echo "load $(cut -d' ' -f1-3 /proc/loadavg) at the start; $rounds interleaved rounds of $tokens greedy"
    echo "tokens; ms/token of the root, medians over the rounds; ratios to strict (star) per round,"
    echo "their median (range); $(date -u +%Y-%m-%d)."
    echo
    echo "| model | strict ms/token | mesh | split | nospin | halo | halo-split | halo-nospin | dllama | mesh / strict | split / strict | nospin / strict | halo / strict | halo-split / strict | halo-nospin / strict | dllama / strict |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$out"
for m in "${models[@]}"; do
    IFS='|' read -r name bin tok dm dt <<<"$m"
    bench_model "$name" "$bin" "$tok" "$dm" "$dt" >>"$out"
done
cat "$out"
[ -z "$write" ] || "$repo/tools/splice-doc.sh" "$write" bench-sockets-collective.sh <"$out"
exit 0
