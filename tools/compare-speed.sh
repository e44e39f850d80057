#!/usr/bin/env bash
# Decode speed of halo, llama.cpp and distributed-llama (the paper's baseline) on this
# machine, side by side in one run, in interleaved rounds (every round runs every system
# once, the order rotated from round to round, so that load from elsewhere falls on all):
#
#   T  TinyLlama-1.1B-shaped synthetic models (`halo convert --synthetic tinyllama-1.1b`):
#      halo and llama.cpp on the same q4_0 and q4_k_m GGUF files, distributed-llama on q40
#      (its only 4-bit type; activations q80) written by tools' halo_dllama_files from a
#      random checkpoint of the same shape. Timings do not depend on the weights' values
#      (greedy decoding, no early stop), so the random draws need not be the same.
#      1 node with --threads threads: halo's figure and its fraction of the memory read
#      bandwidth come from `halo bench --model` (the bandwidth measured in the same interval
#      as the decode, docs/models.md); llama.cpp's from llama-bench (tg, no prompt);
#      distributed-llama's from its "Prediction" line. 2 and 4 nodes of one thread each over
#      loopback TCP: halo's socket cluster (`halo worker` processes, `engine: {baseline:
#      dllama}`: strict sync, star over TCP) against distributed-llama's workers.
#   S  The bundled model (f32), 1 node, 1 thread: CPU time (user + sys) per position of
#      `halo generate` and of distributed-llama, by difference between runs of 256 and 32
#      positions, so that start-up cancels.
#
# Nothing here is built: halo from --build (default build/release), llama.cpp as
# tools/compare-llamacpp.sh builds it (LLAMA_DIR, default ~/.cache/halo/llama.cpp), and
# distributed-llama as tools/ground-truth.sh builds it (DLLAMA_DIR, default
# ~/.cache/halo/dllama: b4rtaz/distributed-llama v0.16.4, `make dllama`). Its model files
# are written into DLLAMA_MODELS (default ~/.cache/halo/models) when absent.
#
# The systems run at real-time priority (SCHED_FIFO 5, as tools/ground-truth.sh runs them)
# unless --no-rt: on a shared machine other jobs then wait for them instead of the reverse.
# llama.cpp and distributed-llama synchronise their threads by spinning, so one thread that
# another job holds back stalls every operation: at normal priority on a busy 2-core machine
# llama-bench measured 1.7-3.9 s per TinyLlama token instead of tens of milliseconds.
#
# usage: tools/compare-speed.sh [--rounds R] [--nodes "1 2 4"] [--threads T] [--tokens N]
#                               [--models "T S"] [--build DIR] [--docs FILE] [--no-rt]
#   --docs FILE   also write the tables into FILE between the lines
#                 "<!-- compare-speed.sh: begin -->" and "<!-- compare-speed.sh: end -->"
#                 (docs/models.md; tools/splice-doc.sh)
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=5 nodes="1 2 4" threads=2 tokens=64 models="T S" build= docs= rt=1
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=$2 && shift 2 ;;
    --nodes) nodes=$2 && shift 2 ;;
    --threads) threads=$2 && shift 2 ;;
    --tokens) tokens=$2 && shift 2 ;;
    --models) models=$2 && shift 2 ;;
    --build) build=$2 && shift 2 ;;
    --docs) docs=$2 && shift 2 ;;
    --no-rt) rt=0 && shift ;;
    *) other_arg "$1" ;;
    esac
done
[ -n "$build" ] || build=$here/build/release
halo=$build/app/halo files=$build/tools/halo_dllama_files
cache=${XDG_CACHE_HOME:-$HOME/.cache}/halo
LLAMA_DIR=${LLAMA_DIR:-$cache/llama.cpp}
DLLAMA_DIR=${DLLAMA_DIR:-$cache/dllama}
dm=${DLLAMA_MODELS:-$cache/models}
lbench=$LLAMA_DIR/build/bin/llama-bench
dllama=$DLLAMA_DIR/src/dllama
[ -x "$halo" ] && [ -x "$files" ] || { echo "no halo or halo_dllama_files in $build (make release)" >&2; exit 1; }
[ -x "$dllama" ] || { echo "no distributed-llama at $dllama (tools/ground-truth.sh builds it)" >&2; exit 1; }
[ -x "$lbench" ] || { echo "no llama-bench at $lbench (tools/compare-llamacpp.sh builds it)" >&2; exit 1; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/halo-speed-XXXXXX")
# Workers are started inside $(...): their pids go to a file, and they are stopped by pid.
stop_workers() {
    local p
    for p in $(cat "$scratch/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    sleep 0.2
    for p in $(cat "$scratch/pids" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    : >"$scratch/pids"
}
cleanup() {
    stop_workers
    rm -rf "$scratch"
}
trap cleanup EXIT
export HALO_MODEL_DIR=$here/models
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'; }
port=$((7400 + RANDOM % 500))
rt_prio "$rt"
# Each part writes its own block (T: "compare-speed.sh", S: "compare-speed.sh bundled"), with
# its own header line, so that `--models S --docs FILE` renews the bundled model's table alone.
out=$scratch/out-T.md
: >"$scratch/out-T.md"
: >"$scratch/out-S.md"
emit() { cat >>"$out"; }

mkdir -p "$dm"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
header() { # header OPTIONS: the line saying when, how and with what a block was measured
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`tools/compare-speed.sh $1\` on" \
        "$(nproc) cores ($cpu), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start, the" \
        "systems at $([ ${#prio[@]} -gt 0 ] && echo "real-time priority (SCHED_FIFO 5)" || echo "normal priority");" \
        "halo $(git -C "$here" rev-parse --short HEAD)" \
        "($(basename "$build") build), llama.cpp" \
        "$(git -C "$LLAMA_DIR/src" rev-parse --short HEAD 2>/dev/null || echo '?'), distributed-llama" \
        "$(git -C "$DLLAMA_DIR/src" describe --tags 2>/dev/null || echo '?')."
    echo
}

# ---- T: per-token decode time, 1, 2 and 4 nodes ----
start_workers() { # start_workers SYSTEM MODEL N PORT: N - 1 workers on PORT+1...; prints them
    local sys=$1 model=$2 n=$3 port=$4 addrs=()
    for ((i = 1; i < n; i++)); do
        port=$((port + 1))
        if [ "$sys" = dllama ]; then
            "${prio[@]}" "$dllama" worker --host 127.0.0.1 --port "$port" --nthreads 1 --net-turbo 0 \
                >"$scratch/w-$sys-$port.log" 2>&1 &
        else
            "${prio[@]}" "$halo" worker --listen "127.0.0.1:$port" --key "$scratch/k.key" --transport tcp \
                -m "$model" --threads 1 >"$scratch/w-$sys-$port.log" 2>&1 &
        fi
        echo $! >>"$scratch/pids"
        addrs+=("127.0.0.1:$port")
    done
    # halo's workers say when they listen (after hashing their model); distributed-llama's
    # listen at once
    for a in "${addrs[@]}"; do
        for _ in $(seq 600); do
            [ "$sys" = dllama ] && break
            grep -q "listening on" "$scratch/w-$sys-${a#*:}.log" 2>/dev/null && break
            sleep 0.1
        done
    done
    [ "$sys" = dllama ] && sleep 1
    echo "${addrs[*]}"
}

run_t() { # run_t SYSTEM MODEL N ADDRS -> "ms/token [bandwidth-fraction bandwidth-GB/s]"
    local sys=$1 model=$2 n=$3 addrs=$4 tr=$threads
    [ "$n" -gt 1 ] && tr=1
    case $sys in
    dllama)
        local w=()
        [ "$n" -gt 1 ] && w=(--workers $addrs)
        timeout 900 "${prio[@]}" "$dllama" inference --model "$dm/tinyllama-q40.m" --tokenizer "$dm/tinyllama.t" \
            --buffer-float-type q80 --nthreads "$tr" --prompt "Hello world" \
            --steps $((tokens + 8)) --temperature 0 --seed 1 --max-seq-len 512 --net-turbo 0 \
            "${w[@]}" 2>&1 | awk '/^Prediction/ { p = 1 } p && /tokens\/s/ { gsub(/[()]/, ""); print $3; exit }'
        ;;
    llamacpp)
        timeout 900 "${prio[@]}" "$lbench" -m "$model" -p 0 -n "$tokens" -t "$tr" -r 1 -o csv 2>/dev/null |
            awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /avg_ts/) c = i; next }
                     { gsub(/"/, "", $c); printf "%.3f\n", 1000 / $c }'
        ;;
    halo)
        if [ "$n" -eq 1 ]; then
            timeout 900 "${prio[@]}" "$halo" bench --model "$model" --threads "$tr" --reps 1 \
                --big-tokens "$tokens" --json 2>/dev/null |
                sed -n 's/.*"ms_per_token": \([0-9.]*\).*"bandwidth_gbps": \([0-9.]*\), "bandwidth_fraction": \([0-9.]*\).*/\1 \3 \2/p'
        else
            { echo "key: k.key"; echo "workers: [${addrs// /, }]"; echo "engine: {baseline: dllama}"; } \
                >"$scratch/c-$n.yaml"
            timeout 900 "${prio[@]}" "$halo" generate -m "$model" -t 0 -n "$tokens" --threads "$tr" \
                --cluster "$scratch/c-$n.yaml" 2>&1 >/dev/null | gen_ms
        fi
        ;;
    esac
}

if [[ " $models " == *" T "* ]]; then
    header "--rounds $rounds --threads $threads --tokens $tokens" | emit
    T_BIN=$dm/tinyllama-f32.bin T_TOK=$dm/tinyllama.tok.bin
    make_file "$T_BIN" "$files" random-checkpoint @OUT@ --shape tinyllama
    make_file "$T_TOK" "$files" random-tokenizer 32000 @OUT@
    make_file "$dm/tinyllama.t" "$files" tokenizer "$T_TOK" @OUT@
    make_file "$dm/tinyllama-q40.m" "$files" model "$T_BIN" @OUT@ --type q40
    log "writing the TinyLlama-shaped GGUF models"
    "$halo" convert --synthetic tinyllama-1.1b -t q4_0 -o "$scratch/t-q4_0.gguf" >/dev/null
    "$halo" convert --synthetic tinyllama-1.1b -t q4_k_m -o "$scratch/t-q4_k_m.gguf" >/dev/null
    "$halo" keygen "$scratch/k.key" >/dev/null
    : >"$scratch/t.txt"
    for n in $nodes; do
        if [ "$n" -eq 1 ]; then
            systems=(halo-q4_0 llamacpp-q4_0 dllama halo-q4_k_m llamacpp-q4_k_m)
        else
            systems=(halo-q4_0 dllama halo-q4_k_m)
        fi
        declare -A addr=()
        for s in "${systems[@]}"; do
            addr[$s]=
            if [ "$n" -gt 1 ]; then
                case $s in
                halo-*) addr[$s]=$(start_workers halo "$scratch/t-${s#halo-}.gguf" "$n" "$port") ;;
                dllama) addr[$s]=$(start_workers dllama - "$n" "$port") ;;
                esac
            fi
            port=$((port + 8))
        done
        for ((r = 0; r < rounds; r++)); do
            for ((k = 0; k < ${#systems[@]}; k++)); do
                s=${systems[$(((k + r) % ${#systems[@]}))]}
                case $s in
                halo-*) v=$(run_t halo "$scratch/t-${s#halo-}.gguf" "$n" "${addr[$s]}") ;;
                llamacpp-*) v=$(run_t llamacpp "$scratch/t-${s#llamacpp-}.gguf" "$n" "") ;;
                dllama) v=$(run_t dllama - "$n" "${addr[$s]}") ;;
                esac
                echo "$n $s ${v:-nan}" >>"$scratch/t.txt"
                log "T, $n node(s), round $((r + 1)), $s: ${v:-failed}"
            done
        done
        stop_workers
        unset addr
    done
    col() { awk -v n="$1" -v s="$2" -v c="${3:-3}" '$1 == n && $2 == s { print $c }' "$scratch/t.txt" | median; }
    if [[ " $nodes " == *" 1 "* ]]; then
        {
            echo "**TinyLlama-1.1B shape, 1 node, $threads threads**: decode ms/token, median of $rounds" \
                "interleaved rounds of $tokens tokens; halo's fraction of the memory read bandwidth" \
                "measured during its own decode (\`halo bench --model\`)"
            echo
            echo "| type | halo | halo, of read bandwidth (rounds' range) | llama.cpp | distributed-llama q40 | distributed-llama / halo | halo / llama.cpp |"
            echo "|---|---|---|---|---|---|---|"
            for t in q4_0 q4_k_m; do
                fr=$(awk -v s="halo-$t" '$1 == 1 && $2 == s { print $4 }' "$scratch/t.txt" | sort -g |
                    awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f%%", 100 * lo, 100 * hi }')
                awk -v t="$t" -v h="$(col 1 "halo-$t")" -v f="$(col 1 "halo-$t" 4)" -v bw="$(col 1 "halo-$t" 5)" \
                    -v fr="$fr" -v l="$(col 1 "llamacpp-$t")" -v d="$(col 1 dllama)" 'BEGIN {
                    printf "| %s | %.1f | %.0f%% of %.1f GB/s (%s) | %.1f | %.1f | %.2fx | %.2f |\n",
                           t, h, 100 * f, bw, fr, l, d, d / h, h / l }'
            done
            echo
        } | emit
    fi
    multi=$(for n in $nodes; do [ "$n" -gt 1 ] && echo "$n"; done | tr '\n' ' ')
    if [ -n "$multi" ]; then
        {
            echo "**The same models over loopback TCP**, one thread per node (root + workers):" \
                "decode ms/token, median of $rounds interleaved rounds"
            echo
            echo "| nodes | halo q4_0 | halo q4_k_m | distributed-llama q40 | distributed-llama / halo q4_0 | distributed-llama / halo q4_k_m |"
            echo "|---|---|---|---|---|---|"
            for n in $multi; do
                awk -v n="$n" -v a="$(col "$n" halo-q4_0)" -v b="$(col "$n" halo-q4_k_m)" -v d="$(col "$n" dllama)" \
                    'BEGIN { printf "| %d | %.1f | %.1f | %.1f | %.2fx | %.2fx |\n", n, a, b, d, d / a, d / b }'
            done
            echo
        } | emit
    fi
fi

# ---- S: CPU time per position, the bundled model, 1 node ----
cpu_of() { # cpu_of CMD...: user + sys seconds of the command
    python3 -c 'import resource, subprocess, sys
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
before = cpu()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("%.6f" % (cpu() - before))' "$@"
}
if [[ " $models " == *" S "* ]]; then
    out=$scratch/out-S.md
    header "--models S --rounds $rounds" | emit
    make_file "$dm/stories260K.m" "$files" model "$here/models/stories260K.bin" @OUT@
    make_file "$dm/stories260K.t" "$files" tokenizer "$here/models/tok512.bin" @OUT@
    runs=$((rounds * 6 + 1))
    : >"$scratch/s.txt"
    for ((r = 0; r < runs; r++)); do
        for pos in 256 32; do
            # " Once upon a time": 4 tokens (+ BOS for halo); positions = prompt + generated
            if ((r % 2)); then
                d=$(cpu_of "${prio[@]}" "$dllama" inference --model "$dm/stories260K.m" --tokenizer "$dm/stories260K.t" \
                    --buffer-float-type f32 --nthreads 1 --prompt " Once upon a time" --steps "$pos" \
                    --temperature 0 --seed 1 --max-seq-len 512 --net-turbo 0)
                h=$(cpu_of "${prio[@]}" "$halo" generate -t 0 -n $((pos - 4)) --threads 1 -p "Once upon a time")
            else
                h=$(cpu_of "${prio[@]}" "$halo" generate -t 0 -n $((pos - 4)) --threads 1 -p "Once upon a time")
                d=$(cpu_of "${prio[@]}" "$dllama" inference --model "$dm/stories260K.m" --tokenizer "$dm/stories260K.t" \
                    --buffer-float-type f32 --nthreads 1 --prompt " Once upon a time" --steps "$pos" \
                    --temperature 0 --seed 1 --max-seq-len 512 --net-turbo 0)
            fi
            echo "$r $pos $h $d" >>"$scratch/s.txt"
        done
    done
    {
        echo "**The bundled model (f32), 1 node, 1 thread**: CPU time (user + sys) per position," \
            "medians of $runs interleaved rounds; decode = the difference between 256 and 32 positions"
        echo
        echo "| system | CPU ms, 256 positions | CPU ms, 32 positions | decode ms/position | whole run ms/position (256) |"
        echo "|---|---|---|---|---|"
        for c in 3 4; do
            name=$([ $c = 3 ] && echo halo || echo distributed-llama)
            a=$(awk -v c=$c '$2 == 256 { print $c }' "$scratch/s.txt" | median)
            b=$(awk -v c=$c '$2 == 32 { print $c }' "$scratch/s.txt" | median)
            awk -v s="$name" -v a="$a" -v b="$b" \
                'BEGIN { printf "| %s | %.2f | %.2f | %.4f | %.4f |\n", s, 1e3 * a, 1e3 * b, 1e3 * (a - b) / 224, 1e3 * a / 256 }'
        done
        awk '{ k = $1; if ($2 == 256) { h2[k] = $3; d2[k] = $4 } else { h1[k] = $3; d1[k] = $4 } }
             END { for (k in h2) if ((d2[k] - d1[k]) > 0) print (h2[k] - h1[k]) / (d2[k] - d1[k]) }' "$scratch/s.txt" |
            median | awk '{ printf "\nhalo / distributed-llama, decode CPU per position, median over rounds: %.2f" \
                                 " (halo decodes %.2fx as fast)\n\n", $1, 1 / $1 }'
    } | emit
fi

cat "$scratch/out-T.md" "$scratch/out-S.md"
if [ -n "$docs" ]; then
    [[ " $models " != *" T "* ]] || "$here/tools/splice-doc.sh" "$docs" compare-speed.sh <"$scratch/out-T.md"
    [[ " $models " != *" S "* ]] || "$here/tools/splice-doc.sh" "$docs" "compare-speed.sh bundled" <"$scratch/out-S.md"
    log "wrote the tables into $docs"
fi
