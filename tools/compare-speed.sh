#!/usr/bin/env bash
# halo against distributed-llama (the paper's baseline) on this machine, side by side,
# interleaved (every round runs every system once, the order rotated):
#   T  TinyLlama-1.1B-shaped synthetic models: halo q4_0 and q4_k_m (GGUF, `halo convert
#      --synthetic tinyllama-1.1b`), distributed-llama q40 (its only 4-bit type); 1 node with
#      all threads, and 2 and 4 nodes of one thread each over loopback TCP (halo: `halo
#      worker` processes and `engine: {baseline: dllama}`, strict sync over TCP, as
#      distributed-llama). Figure: each system's own decode time per generated token (halo's
#      summary line; distributed-llama's "Prediction" line), median over rounds.
#   S  the bundled model (f32), 1 node, 1 thread: CPU time (user + sys of the process, from
#      getrusage through python3) per position, by difference between runs of 256 and 32
#      positions, so that start-up cancels.
#
# distributed-llama is not part of halo: build it from its public source (b4rtaz/
# distributed-llama, commit 8d624a7, `make dllama`) in a scratch folder and write its model
# and tokenizer files with the ground-truth tools (halo_dllama_files: tinyllama-q40.m,
# tinyllama.t from a synthetic TinyLlama-shaped checkpoint; stories260K.m, stories260K.t from
# the bundled model). Timings do not depend on weight values (no early stop, argmax
# sampling), so the synthetic models need not be the same random draw.
#
# usage: tools/compare-dllama.sh [--rounds R] [--nodes "1 2 4"] [--threads T] [--tokens N]
#                                [--models "T S"] [--build DIR]
# Environment: DLLAMA (the binary; default ${XDG_CACHE_HOME:-$HOME/.cache}/halo/dllama/src/
# dllama), DLLAMA_MODELS (default ${XDG_CACHE_HOME:-$HOME/.cache}/halo/models).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=5 nodes="1 2 4" threads=2 tokens=64 models="T S" build=
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=$2 && shift 2 ;;
    --nodes) nodes=$2 && shift 2 ;;
    --threads) threads=$2 && shift 2 ;;
    --tokens) tokens=$2 && shift 2 ;;
    --models) models=$2 && shift 2 ;;
    --build) build=$2 && shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' && exit 0 ;;
    *) echo "compare-dllama.sh: unknown option $1" >&2 && exit 2 ;;
    esac
done
[ -n "$build" ] || build=$here/build/release
halo=$build/app/halo
cache=${XDG_CACHE_HOME:-$HOME/.cache}/halo
dllama=${DLLAMA:-$cache/dllama/src/dllama}
dm=${DLLAMA_MODELS:-$cache/models}
[ -x "$halo" ] || { echo "no $halo (make release)" >&2; exit 1; }
[ -x "$dllama" ] || { echo "no distributed-llama binary at $dllama (set DLLAMA)" >&2; exit 1; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/halo-dllama-XXXXXX")
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
log() { echo "compare-dllama: $*" >&2; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'; }
port=$((7400 + RANDOM % 500))

# ---- T: per-token decode time, 1, 2 and 4 nodes ----
start_workers() { # start_workers SYSTEM MODEL N PORT: N - 1 workers on PORT+1...; prints them
    local sys=$1 model=$2 n=$3 port=$4 addrs=()
    for ((i = 1; i < n; i++)); do
        port=$((port + 1))
        if [ "$sys" = dllama ]; then
            "$dllama" worker --host 127.0.0.1 --port "$port" --nthreads 1 --net-turbo 0 \
                >"$scratch/w-$sys-$port.log" 2>&1 &
        else
            "$halo" worker --listen "127.0.0.1:$port" --key "$scratch/k.key" --transport tcp \
                -m "$model" --threads 1 >"$scratch/w-$sys-$port.log" 2>&1 &
        fi
        echo $! >>"$scratch/pids"
        addrs+=("127.0.0.1:$port")
    done
    # wait until each listens: halo says so (after hashing its model); distributed-llama's
    # workers listen at once
    for a in "${addrs[@]}"; do
        for _ in $(seq 300); do
            [ "$sys" = dllama ] && break
            grep -q "listening on" "$scratch/w-$sys-${a#*:}.log" 2>/dev/null && break
            sleep 0.1
        done
    done
    [ "$sys" = dllama ] && sleep 1
    echo "${addrs[*]}"
}

run_t() { # run_t SYSTEM MODEL N ADDRS -> ms/token on stdout
    local sys=$1 model=$2 n=$3 addrs=$4 tr=$threads
    [ "$n" -gt 1 ] && tr=1
    if [ "$sys" = dllama ]; then
        local w=()
        [ "$n" -gt 1 ] && w=(--workers $addrs)
        timeout 600 "$dllama" inference --model "$dm/tinyllama-q40.m" --tokenizer "$dm/tinyllama.t" \
            --buffer-float-type q80 --nthreads "$tr" --prompt "Hello world" \
            --steps $((tokens + 11)) --temperature 0 --seed 1 --max-seq-len 512 --net-turbo 0 \
            "${w[@]}" 2>&1 | awk '/^Prediction/ { p = 1 } p && /tokens\/s/ { gsub(/[()]/, ""); print $3; exit }'
    else
        local c=()
        if [ "$n" -gt 1 ]; then
            { echo "key: k.key"; echo "workers: [${addrs// /, }]"; echo "engine: {baseline: dllama}"; } \
                >"$scratch/c-$n.yaml"
            c=(--cluster "$scratch/c-$n.yaml")
        fi
        timeout 600 "$halo" generate -m "$model" -t 0 -n "$tokens" --threads "$tr" "${c[@]}" \
            2>&1 >/dev/null | sed -n 's/.*(\([0-9.]*\) ms\/token).*/\1/p'
    fi
}

if [[ " $models " == *" T "* ]]; then
    for f in tinyllama-q40.m tinyllama.t; do
        [ -f "$dm/$f" ] || { echo "no $dm/$f (distributed-llama's files; see the header)" >&2; exit 1; }
    done
    log "writing the TinyLlama-shaped GGUF models"
    "$halo" convert --synthetic tinyllama-1.1b -t q4_0 -o "$scratch/t-q4_0.gguf" >/dev/null
    "$halo" convert --synthetic tinyllama-1.1b -t q4_k_m -o "$scratch/t-q4_k_m.gguf" >/dev/null
    "$halo" keygen "$scratch/k.key" >/dev/null
    systems=(halo-q4_0 halo-q4_k_m dllama)
    for n in $nodes; do
        declare -A addr=()
        for s in "${systems[@]}"; do
            case $s in
            halo-q4_0) addr[$s]=$(start_workers halo "$scratch/t-q4_0.gguf" "$n" "$port") ;;
            halo-q4_k_m) addr[$s]=$(start_workers halo "$scratch/t-q4_k_m.gguf" "$n" "$port") ;;
            dllama) addr[$s]=$(start_workers dllama - "$n" "$port") ;;
            esac
            port=$((port + 8))
        done
        for ((r = 0; r < rounds; r++)); do
            for ((k = 0; k < ${#systems[@]}; k++)); do
                s=${systems[$(((k + r) % ${#systems[@]}))]}
                case $s in
                halo-q4_0) v=$(run_t halo "$scratch/t-q4_0.gguf" "$n" "${addr[$s]}") ;;
                halo-q4_k_m) v=$(run_t halo "$scratch/t-q4_k_m.gguf" "$n" "${addr[$s]}") ;;
                dllama) v=$(run_t dllama - "$n" "${addr[$s]}") ;;
                esac
                echo "$n $s ${v:-nan}" >>"$scratch/t.txt"
                log "T, $n node(s), round $((r + 1)), $s: ${v:-failed} ms/token"
            done
        done
        stop_workers
        unset addr
    done
    echo "## TinyLlama-1.1B shape: decode ms/token (median of $rounds interleaved rounds, $tokens tokens)"
    echo
    echo "| nodes | threads per node | halo q4_0 | halo q4_k_m | distributed-llama q40 | dllama / halo q4_0 | dllama / halo q4_k_m |"
    echo "|---|---|---|---|---|---|---|"
    for n in $nodes; do
        h0=$(awk -v n="$n" '$1 == n && $2 == "halo-q4_0" { print $3 }' "$scratch/t.txt" | median)
        hk=$(awk -v n="$n" '$1 == n && $2 == "halo-q4_k_m" { print $3 }' "$scratch/t.txt" | median)
        dl=$(awk -v n="$n" '$1 == n && $2 == "dllama" { print $3 }' "$scratch/t.txt" | median)
        awk -v n="$n" -v t="$([ "$n" -gt 1 ] && echo 1 || echo "$threads")" -v a="$h0" -v b="$hk" -v d="$dl" \
            'BEGIN { printf "| %d | %d | %.1f | %.1f | %.1f | %.2fx | %.2fx |\n", n, t, a, b, d, d / a, d / b }'
    done
    echo
fi

# ---- S: CPU time per position, the bundled model, 1 node ----
cpu_of() { # cpu_of CMD...: user + sys seconds of the command (microseconds)
    python3 -c 'import resource, subprocess, sys
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
before = cpu()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("%.6f" % (cpu() - before))' "$@"
}
if [[ " $models " == *" S "* ]]; then
    for f in stories260K.m stories260K.t; do
        [ -f "$dm/$f" ] || { echo "no $dm/$f (distributed-llama's files; see the header)" >&2; exit 1; }
    done
    runs=$((rounds * 6 + 1))
    for ((r = 0; r < runs; r++)); do
        for pos in 256 32; do
            # " Once upon a time": 4 tokens (+ BOS for halo); positions = prompt + generated
            h=$(cpu_of "$halo" generate -t 0 -n $((pos - 4)) --threads 1 -p "Once upon a time")
            d=$(cpu_of "$dllama" inference --model "$dm/stories260K.m" --tokenizer "$dm/stories260K.t" \
                --buffer-float-type f32 --nthreads 1 --prompt " Once upon a time" --steps "$pos" \
                --temperature 0 --seed 1 --max-seq-len 512 --net-turbo 0)
            echo "$r $pos $h $d" >>"$scratch/s.txt"
        done
    done
    echo "## The bundled model (f32), 1 node, 1 thread: CPU time per position ($runs interleaved rounds)"
    echo
    echo "| system | CPU ms, 256 positions | CPU ms, 32 positions | decode ms/position (difference / 224) | whole run ms/position (256) |"
    echo "|---|---|---|---|---|"
    for col in 3 4; do
        name=$([ $col = 3 ] && echo halo || echo distributed-llama)
        a=$(awk -v c=$col '$2 == 256 { print $c }' "$scratch/s.txt" | median)
        b=$(awk -v c=$col '$2 == 32 { print $c }' "$scratch/s.txt" | median)
        awk -v s="$name" -v a="$a" -v b="$b" \
            'BEGIN { printf "| %s | %.2f | %.2f | %.4f | %.4f |\n", s, 1e3 * a, 1e3 * b, 1e3 * (a - b) / 224, 1e3 * a / 256 }'
    done
    # per round ratios of the decode figure
    awk '{ k = $1; if ($2 == 256) { h2[k] = $3; d2[k] = $4 } else { h1[k] = $3; d1[k] = $4 } }
         END { for (k in h2) if ((d2[k] - d1[k]) > 0) print (h2[k] - h1[k]) / (d2[k] - d1[k]) }' "$scratch/s.txt" |
        median | awk '{ printf "\nMedian over rounds of halo / distributed-llama (decode CPU per position): %.2f\n\n", $1 }'
fi
