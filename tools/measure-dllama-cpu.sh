#!/usr/bin/env bash
# CPU per token of a distributed-llama cluster (root + 3 workers, one thread each, --net-turbo
# 0, as tools/ground-truth.sh runs it) in two network namespaces without loss: what its four
# processes spend on a CPU per token, beside the time a token takes. The simulator's mirror
# (tools/mirror-ground-truth.sh) charges every message a host cost (send_us, recv_us, the
# copy); this measures how much of that cost is CPU work, which competes for the host's
# cores, and how much is waiting (host_overlap; docs/ground-truth.md, "Host costs: CPU or
# waiting").
#
#   sudo tools/measure-dllama-cpu.sh --dllama BIN [--model M T] [--rounds R] [--tokens N]
#                                    [--short S] [--buffer f32|q80]
#
# --dllama BIN   distributed-llama's binary (tools/ground-truth.sh builds it into
#                ~/.cache/halo/dllama/src/dllama)
# --model M T    its model and tokenizer files (default the bundled model's conversion,
#                ~/.cache/halo/models/stories260K.m and .t, where tools/ground-truth.sh
#                leaves it)
# --rounds R     rounds (default 3); each round runs the cluster twice, for S and S + N
#                tokens, each time with three fresh workers, and takes the difference divided
#                by N, so that start-up and model loading cancel
# --tokens N     (default 200; the model's context must hold S + N + the prompt)
# --short S      steps of the shorter run (default 16); distributed-llama counts the prompt's
#                tokens among its steps, so S must exceed them (a vocabulary that spells
#                "Once upon a time" letter by letter needs more than 16)
# --buffer B     distributed-llama's sync buffer, f32 (default) or q80 (which its Q40 models
#                require)
#
# Per round it prints the root's and the workers' CPU per token (the root: user + system time
# of its process, from bash's `time`; a worker: the time on a CPU in /proc/PID/schedstat just
# before it is stopped) and the longer run's ms/token (distributed-llama's "Prediction" line),
# then the median of the rounds' totals. Needs root (namespaces) and iproute2; every process
# and namespace it makes is removed on exit; it talks only to the addresses inside its
# namespaces.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$repo/tools/netns.sh"

dllama=""
dm=${XDG_CACHE_HOME:-$HOME/.cache}/halo/models/stories260K.m
dt=${XDG_CACHE_HOME:-$HOME/.cache}/halo/models/stories260K.t
rounds=3
tokens=200
short=16
buffer=f32
while [ $# -gt 0 ]; do
    case "$1" in
    --dllama) dllama=${2:?--dllama needs a binary}; shift ;;
    --model) dm=${2:?--model needs two files}; dt=${3:?--model needs two files}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --tokens) tokens=${2:?--tokens needs a number}; shift ;;
    --short) short=${2:?--short needs a number}; shift ;;
    --buffer) buffer=${2:?--buffer needs f32 or q80}; shift ;;
    *) other_arg "$1" ;;
    esac
    shift
done
need_int --rounds "$rounds" 1 100 "a round count from 1 to 100"
need_int --tokens "$tokens" 1 100000 "a positive token count"
need_int --short "$short" 1 100000 "a positive step count"
case "$buffer" in f32 | q80) ;; *) log "--buffer: '$buffer' is not f32 or q80"; exit 2 ;; esac
[ -n "$dllama" ] || { log "--dllama BIN is required (tools/ground-truth.sh builds one)"; exit 2; }
[ -x "$dllama" ] || { log "$dllama: not an executable file"; exit 2; }
for f in "$dm" "$dt"; do
    [ -r "$f" ] || { log "$f: cannot read it (--model M T; tools/ground-truth.sh converts the bundled model)"; exit 2; }
done
[ "$(id -u)" = 0 ] || { log "needs root (network namespaces)"; exit 2; }

netns_names halo-mdc 10.218
made_ns=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/halo-mdc.XXXXXX")
cleanup() {
    stop_pids "$tmp"
    [ $made_ns = 0 ] || netns_remove "$NS_R" "$NS_W"
    rm -rf "$tmp"
}
trap cleanup EXIT
netns_iptables_pair "$NS_R" halo-mdr "$IP_R" "$NS_W" halo-mdw "$IP_W"
made_ns=1

dl_port=$((21000 + $$ % 20000))
# one STEPS: runs the cluster once; prints "ms_per_token root_cpu_s workers_cpu_ns"
one() {
    local steps=$1 i p w=0 t
    dllama_workers "$dllama" "$NS_W" "$IP_W" "$tmp"
    sleep 0.5
    local TIMEFORMAT='%U %S'
    { time ip netns exec "$NS_R" "$dllama" inference --model "$dm" --tokenizer "$dt" \
        --buffer-float-type "$buffer" --nthreads 1 --prompt "Once upon a time" --steps "$steps" \
        --temperature 0 --seed 1 --max-seq-len $((steps + 40)) --net-turbo 0 \
        --workers "${dl_addrs[@]}" >"$tmp/out" 2>&1; } 2>"$tmp/time" ||
        { log "distributed-llama failed:"; tail -5 "$tmp/out" >&2; return 1; }
    for i in 1 2 3; do # each worker's time on a CPU, read before it is stopped
        p=$(cat "$tmp/dw-$i.pid")
        t=$(awk '{ print $1 }' "/proc/$p/schedstat" 2>/dev/null || echo 0)
        w=$((w + t))
    done
    stop_pids "$tmp" dw
    wait 2>/dev/null || true
    echo "$(dllama_ms <"$tmp/out") $(awk '{ print $1 + $2 }' "$tmp/time") $w"
}

totals=""
for r in $(seq "$rounds"); do
    one "$short" >"$tmp/a" || exit 1
    one $((short + tokens)) >"$tmp/b" || exit 1
    read -r _ ra wa <"$tmp/a"
    read -r ms rb wb <"$tmp/b"
    line=$(awk -v r="$r" -v ms="$ms" -v ra="$ra" -v rb="$rb" -v wa="$wa" -v wb="$wb" -v n="$tokens" 'BEGIN {
        root = (rb - ra) * 1000 / n; wk = (wb - wa) / 1e6 / n
        printf "round %d: %s ms/token; CPU per token: root %.3f ms, workers %.3f ms (3 summed), total %.3f ms\n", r, ms, root, wk, root + wk }')
    echo "$line"
    totals="$totals ${line##* total }"
done
echo "$totals" | tr ' ' '\n' | grep '^[0-9.]' | sort -g | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median total CPU per token over %d rounds: %.3f ms\n", NR, m }'
