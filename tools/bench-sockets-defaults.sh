#!/usr/bin/env bash
# Issue 15's acceptance ratios, measured in one run: root + 3 `halo worker` processes, cluster
# files with no engine section for HALO (the halo preset: the defaults a user gets), against
# strict sync over TCP (`baseline: dllama`) and strict sync over UDP (`sync: strict`, the
# datagram path without HALO's machinery), each configuration once per round, round after
# round (interleaved), so that load on the machine falls on all of them alike. Per round it
# takes the ratios; it prints their medians (and the medians of the times):
#   HALO 5% / HALO 0%        (at most 2x on the bundled model, 1.5x on a compute-heavy one)
#   HALO 0% / strict TCP 0%  (a clean network costs HALO nothing: at most 1.0x)
#   missing contributions at 0% (deadlines never drop work that is merely slow)
#   perplexity at 5% / 0%    (bundled model, teacher-forced over the first stories; loopback)
#
#   tools/bench-sockets-defaults.sh [--rounds N] [--tokens N] [--stories K]
#                                   [--big MODEL.bin TOKENIZER.bin] [--modes "loopback netns"]
#                                   [--bin PATH] [--write FILE]
#
# Modes: loopback (127.0.0.1, loss injected by the transports: `inject:`), netns (the root in
# one network namespace, the workers in another, a veth pair between them, loss from kernel
# random drops on the INPUT of both: iptables statistic; needs root, skipped otherwise).
# --big adds a second model (e.g. `halo bench --save-big F`'s ~110M synthetic f32 model with a
# tokenizer from `halo_dllama_files random-tokenizer 32000 T` and a predictor from `halo
# calibrate`: the halo preset needs MODEL.pred beside it). --write FILE puts the table between
# FILE's lines `<!-- bench-sockets-defaults.sh: begin -->` and `... end -->`
# (tools/splice-doc.sh). Every process and namespace it makes is removed on exit (trap); it
# talks only to 127.0.0.1 and the addresses inside its namespaces.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
. "$here/netns.sh"
halo=$repo/build/dev/app/halo
rounds=5
tokens=48
stories=3
modes="loopback"
write=""
big_model="" big_tok=""
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?}; shift ;;
    --tokens) tokens=${2:?}; shift ;;
    --stories) stories=${2:?}; shift ;;
    --big) big_model=${2:?}; big_tok=${3:?}; shift 2 ;;
    --modes) modes=${2:?}; shift ;;
    --bin) halo=${2:?}; shift ;;
    --write) write=${2:?}; shift ;;
    *) other_arg "$1" ;;
    esac
    shift
done
[ -x "$halo" ] || { echo "bench-sockets-defaults: $halo not built" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/halo-bsd.XXXXXX")
netns_names halo-bsd 10.216
made_ns=0
# workers are started inside $(...): their pids go to files, not to a variable
cleanup() {
    for f in "$tmp"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ $made_ns = 0 ] || netns_remove "$NS_R" "$NS_W"
    rm -rf "$tmp"
}
trap cleanup EXIT
"$halo" keygen "$tmp/k.key" >/dev/null

setup_netns() { netns_iptables_pair "$NS_R" halo-bsr "$IP_R" "$NS_W" halo-bsw "$IP_W"; }

kernel_loss() { netns_iptables_loss "$1" "$NS_R:halo-bsr" "$NS_W:halo-bsw"; }

# workers MODE MODEL TRANSPORT: starts three, prints their addresses comma-separated
workers() {
    local mode=$1 model=$2 transport=$3 addrs=() i a host=127.0.0.1
    [ "$mode" = netns ] && host=$IP_W
    # started directly in the background (not through `at`, a function: its $! was the
    # subshell's, and killing that left the worker running after the script ended)
    local ns=()
    [ "$mode" = netns ] && ns=(ip netns exec "$NS_W")
    for i in 1 2 3; do
        "${ns[@]}" "$halo" worker --listen "$host:0" --key "$tmp/k.key" \
            --transport "$transport" -m "$model" >"$tmp/w-$transport-$i.log" 2>&1 &
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
        [ -n "$a" ] || { log "worker did not start"; exit 1; }
        addrs+=("$a")
    done
    (IFS=,; echo "${addrs[*]}")
}

stop_workers() {
    for f in "$tmp"/*.pid; do
        [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
    wait 2>/dev/null || true
}

# cfile MODE CONFIG LOSS ADDRS FILE: the cluster file of one run
cfile() {
    local mode=$1 cfg=$2 loss=$3 addrs=$4 f=$5
    printf 'key: %s\nworkers: [%s]\n' "$tmp/k.key" "$addrs" >"$f"
    [ "$mode" = loopback ] && printf 'inject: {loss: %s, seed: %d}\n' "$loss" "$RANDOM" >>"$f"
    case "$cfg" in
    strict) printf 'stall_ms: 60000\nengine: {baseline: dllama}\n' >>"$f" ;;
    sudp) printf 'engine: {sync: strict, delivery: datagram}\n' >>"$f" ;;
    esac
    return 0
}

# one MODE CONFIG LOSS MODEL TOK ADDRS: prints "ms_per_token missing_pct"
one() {
    local mode=$1 cfg=$2 loss=$3 model=$4 tok=$5 addrs=$6 f=$tmp/c.yaml try
    cfile "$mode" "$cfg" "$loss" "$addrs" "$f"
    [ "$mode" = netns ] && kernel_loss "$loss"
    for try in 1 2; do # a failed run (printed on stderr) is run once more
        if netns_in_mode "$mode" root "$halo" generate -m "$model" -z "$tok" -p "Once upon a time" \
            -n "$tokens" -t 0 --cluster "$f" >/dev/null 2>"$tmp/err"; then
            break
        fi
        { log "$mode $cfg at loss $loss failed (try $try):"; cat "$tmp/err"; } >&2
        [ "$try" = 2 ] && { echo "nan nan"; return; }
    done
    [ "$mode" = netns ] && kernel_loss 0
    local ms miss
    ms=$(sed -n 's/.*(\([0-9.]*\) ms\/token).*/\1/p' "$tmp/err")
    miss=$(sed -n 's/.*missing (\([0-9.]*\)%).*/\1/p' "$tmp/err")
    echo "$ms ${miss:-0}"
}

# ppl LOSS ADDRS: perplexity of the bundled model through the cluster (loopback)
ppl() {
    local f=$tmp/e.yaml
    printf 'key: %s\nworkers: [%s]\ninject: {loss: %s, seed: 7}\n' "$tmp/k.key" "$2" "$1" >"$f"
    "$halo" eval --max-stories "$stories" --json --cluster "$f" \
        "$repo/data/tinystories-valid-dev.txt" 2>/dev/null |
        sed -n 's/.*"perplexity": \([0-9.]*\).*/\1/p'
}

bench_model() { # MODE NAME MODEL TOK
    local mode=$1 name=$2 model=$3 tok=$4 r udp tcp
    udp=$(workers "$mode" "$model" udp)
    tcp=$(workers "$mode" "$model" tcp)
    : >"$tmp/rows"
    for r in $(seq "$rounds"); do
        log "$mode $name round $r of $rounds"
        echo "$r strict0 $(one "$mode" strict 0 "$model" "$tok" "$tcp")" >>"$tmp/rows"
        echo "$r sudp0 $(one "$mode" sudp 0 "$model" "$tok" "$udp")" >>"$tmp/rows"
        echo "$r halo0 $(one "$mode" halo 0 "$model" "$tok" "$udp")" >>"$tmp/rows"
        echo "$r halo5 $(one "$mode" halo 0.05 "$model" "$tok" "$udp")" >>"$tmp/rows"
    done
    local pp="-"
    if [ "$name" = stories260K ] && [ "$mode" = loopback ]; then
        local p0 p5
        p0=$(ppl 0 "$udp")
        p5=$(ppl 0.05 "$udp")
        pp=$(awk -v a="$p0" -v b="$p5" 'BEGIN { printf "%.4f / %.4f (%+.2f%%)", a, b, 100 * (b / a - 1) }')
    fi
    stop_workers
    cp "$tmp/rows" "$tmp/rows-$mode-$name"
    awk -v name="$name" -v mode="$mode" -v pp="$pp" '
        function median(a, n,    i, j, t) {
            for (i = 2; i <= n; i++)
                for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { v[$1, $2] = $3; m[$1, $2] = $4; if ($1 > R) R = $1 }
        END {
            split("strict0 sudp0 halo0 halo5", K, " ")
            for (k = 1; k <= 4; k++) {
                for (r = 1; r <= R; r++) x[r] = v[r, K[k]]
                med[K[k]] = median(x, R)
                for (r = 1; r <= R; r++) x[r] = m[r, K[k]]
                mis[K[k]] = median(x, R); mx[K[k]] = 0
                for (r = 1; r <= R; r++) if (m[r, K[k]] > mx[K[k]]) mx[K[k]] = m[r, K[k]]
            }
            for (r = 1; r <= R; r++) x[r] = v[r, "halo5"] / v[r, "halo0"]
            q5 = median(x, R); lo5 = 1e9; hi5 = 0
            for (r = 1; r <= R; r++) { if (x[r] < lo5) lo5 = x[r]; if (x[r] > hi5) hi5 = x[r] }
            for (r = 1; r <= R; r++) x[r] = v[r, "halo0"] / v[r, "strict0"]
            q0 = median(x, R); lo0 = 1e9; hi0 = 0
            for (r = 1; r <= R; r++) { if (x[r] < lo0) lo0 = x[r]; if (x[r] > hi0) hi0 = x[r] }
            for (r = 1; r <= R; r++) x[r] = v[r, "sudp0"] / v[r, "strict0"]
            qu = median(x, R)
            printf "| %s | %s | %.3f | %.3f | %.3f | %.3f | **%.2fx** (%.2f-%.2f) | **%.2fx** (%.2f-%.2f) | %.2fx | %.2f%% (max %.2f%%) | %.2f%% | %s |\n",
                mode, name, med["strict0"], med["sudp0"], med["halo0"], med["halo5"], q5, lo5, hi5,
                q0, lo0, hi0, qu, mis["halo0"], mx["halo0"], mis["halo5"], pp
        }' "$tmp/rows"
}

out=$tmp/table.md
{
    echo "root + 3 workers, $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg) at the start;"
    echo "$rounds interleaved rounds of $tokens greedy tokens, medians over the rounds; $(date -u +%Y-%m-%d)."
    echo "HALO: no engine section (the halo preset). Ratios are taken per round, then the median"
    echo "(range over the rounds in brackets)."
    echo
    echo "| mode | model | strict TCP 0% ms/token | strict UDP 0% | HALO 0% | HALO 5% | HALO 5% / 0% | HALO 0% / strict TCP 0% | strict UDP / TCP 0% | missing 0% | missing 5% | perplexity 0% / 5% |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
} >"$out"
for mode in $modes; do
    case "$mode" in
    loopback) ;;
    netns) setup_netns || continue ;;
    *) log "unknown mode $mode"; exit 2 ;;
    esac
    bench_model "$mode" stories260K "$repo/models/stories260K.bin" "$repo/models/tok512.bin" >>"$out"
    if [ -n "$big_model" ]; then
        bench_model "$mode" "$(basename "$big_model" .bin)" "$big_model" "$big_tok" >>"$out"
    fi
done
cat "$out"
[ -z "$write" ] || "$here/splice-doc.sh" "$write" bench-sockets-defaults.sh <"$out"
exit 0
