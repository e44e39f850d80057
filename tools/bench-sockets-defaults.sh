#!/usr/bin/env bash
# Issue 15's acceptance ratios, measured in one run: root + 3 `halo worker` processes, cluster
# files with no engine section for HALO (the halo preset: the defaults a user gets), against
# strict sync over TCP (`baseline: dllama`) and the same over UDP (`baseline: dllama,
# delivery: datagram`: only the transport differs, to see what the datagram path costs; until
# 2026-12-07 `sync: strict` over the halo preset, which also split the classifier where strict
# TCP does not), each configuration once per round, round after
# round (interleaved), so that load on the machine falls on all of them alike. Per round it
# takes the ratios; it prints their medians (and the medians of the times):
#   HALO 5% / HALO 0%        (at most 2x on the bundled model, 1.5x on a compute-heavy one)
#   HALO 0% / strict TCP 0%  (a clean network costs HALO nothing: at most 1.0x)
#   missing contributions at 0% (deadlines never drop work that is merely slow)
#   perplexity at 5% / 0%    (bundled model, teacher-forced over the first stories; loopback)
#   dllama 5% / HALO 5%      (netns with --dllama: distributed-llama at 0% and 5% kernel drops
#                             in the same namespaces and rounds; HALO at least 10x faster)
#   HALO 0% / dllama 0%, strict TCP 0% / dllama 0%  (without loss at least as fast: at most 1.0x)
#
#   tools/bench-sockets-defaults.sh [--rounds N] [--tokens N] [--tokens-bundled N] [--stories K]
#                                   [--big MODEL.bin TOKENIZER.bin [DLLAMA_M DLLAMA_T]]
#                                   [--quant MODEL.gguf TOKENIZER.bin [DLLAMA_Q40_M DLLAMA_T]]
#                                   [--modes "loopback netns"] [--dllama BIN]
#                                   [--dllama-bundled DLLAMA_M DLLAMA_T]
#                                   [--bin PATH] [--write FILE] [--root-threads N]
#                                   [--more-losses "0.01 0.02"] [--busy N]
#
# --tokens N: greedy tokens per run of the --big model (default 48); --tokens-bundled N: per run
# of the bundled model (default 256): a bundled token takes about a millisecond, so 64 of them
# make a run that one scheduling stall of a few milliseconds moves by tens of percent.
# Modes: loopback (127.0.0.1, loss injected by the transports: `inject:`), netns (the root in
# one network namespace, the workers in another, a veth pair between them, loss from kernel
# random drops on the INPUT of both: iptables statistic; needs root, skipped otherwise).
# --big adds a second model (e.g. `halo bench --save-big F`'s ~110M synthetic f32 model with a
# tokenizer from `halo_dllama_files random-tokenizer 32000 T` and a predictor from `halo
# calibrate`: the halo preset needs MODEL.pred beside it). --write FILE puts the table between
# FILE's lines `<!-- bench-sockets-defaults.sh: begin -->` and `... end -->`
# (tools/splice-doc.sh). --dllama BIN (distributed-llama v0.16.4's `dllama`, as
# tools/ground-truth.sh builds it) adds, in netns mode only, distributed-llama on the same
# model with its own 3 workers in the workers' namespace (f32 weights and sync buffer, one
# thread, --net-turbo 0, workers started per run: they serve one root each; --steps: the run's
# tokens + 20, room for the prompt, and --max-seq-len at least that) at 0% and 5% in every
# round, after HALO's runs; its time is its "Prediction" ms/tok. The model converted for it:
# DLLAMA_M and DLLAMA_T (build/dev/tools/halo_dllama_files model / tokenizer); for the
# bundled model by default ~/.cache/halo/models/stories260K.m and .t (tools/ground-truth.sh's).
# --quant adds a quantised model the same way: halo's q4_0 GGUF (`halo convert -t q4_0`, its
# predictor MODEL.pred from `halo calibrate -m MODEL.gguf`) against distributed-llama's Q40
# conversion of the same checkpoint (`halo_dllama_files model IN.bin OUT.m --type q40`), which
# runs with a q80 sync buffer as tools/ground-truth.sh's dllama-q40 does (issue 15: "quantized
# against its Q40"), and every halo configuration of it with `encoding: q8` (8-bit payloads,
# like for like; halo's default stays f32, exact against the single device). Per round the ratio dllama 5% / HALO 5% is taken; the table has its median (range) and the
# per-round values follow it, as do the loss-free parity ratios' (HALO 0% / strict TCP 0%,
# and with --dllama HALO 0% and strict TCP 0% over distributed-llama 0%) with the number of
# rounds below 1.0x. --root-threads N (default 1): the halo root's compute threads,
# as distributed-llama's root gets `--nthreads 1` and halo's workers one thread by default;
# 0 is halo's own default, one per core, which on one shared 2-core host makes the root's
# second thread compete with the three workers. ms/token is decode only for both systems
# (halo's summary line since commit f2da046; distributed-llama's "Prediction"). Every
# process and namespace it makes is removed on exit (trap); it talks only to 127.0.0.1 and
# the addresses inside its namespaces. --more-losses "L ...": HALO (and in netns with --dllama,
# distributed-llama) also at each loss L in every round, after the 5% runs; a second table
# gives per model and loss HALO L% / 0% and dllama L% / HALO L% (medians, ranges), the
# acceptance's "kernel drops at 0/1/2/5%: the same". --busy N (default 0): N shell loops
# (`while :; do :; done`) run beside the cluster from the first round to the end, a busy host
# whose scheduler deschedules the workers now and then (the missing share at 0% is what it
# shows: deadlines never drop work that is merely slow); the header says how many.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

. "$repo/tools/netns.sh"
halo=$repo/build/dev/app/halo
rounds=5
tokens=48
tokens_bundled=256
stories=3
modes="loopback"
write=""
root_threads=1
more_losses=""
busy=0
halo_enc="" # engine.encoding of every halo configuration, when set (cfile)
big_model="" big_tok="" big_dm="" big_dt=""
q_model="" q_tok="" q_dm="" q_dt=""
dllama=""
dl_bundled_m=${XDG_CACHE_HOME:-$HOME/.cache}/halo/models/stories260K.m
dl_bundled_t=${XDG_CACHE_HOME:-$HOME/.cache}/halo/models/stories260K.t
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?}; shift ;;
    --tokens) tokens=${2:?}; shift ;;
    --tokens-bundled) tokens_bundled=${2:?}; shift ;;
    --stories) stories=${2:?}; shift ;;
    --big)
        big_model=${2:?}; big_tok=${3:?}; shift 2
        if [ $# -ge 3 ] && [ "${2#--}" = "$2" ] && [ "${3#--}" = "$3" ]; then
            big_dm=$2; big_dt=$3; shift 2
        fi
        ;;
    --quant)
        q_model=${2:?}; q_tok=${3:?}; shift 2
        if [ $# -ge 3 ] && [ "${2#--}" = "$2" ] && [ "${3#--}" = "$3" ]; then
            q_dm=$2; q_dt=$3; shift 2
        fi
        ;;
    --dllama) dllama=${2:?}; shift ;;
    --dllama-bundled) dl_bundled_m=${2:?}; dl_bundled_t=${3:?}; shift 2 ;;
    --modes) modes=${2:?}; shift ;;
    --bin) halo=${2:?}; shift ;;
    --write) write=${2:?}; shift ;;
    --root-threads) root_threads=${2:?}; shift ;;
    --more-losses) more_losses=${2?}; shift ;;
    --busy) busy=${2:?}; shift ;;
    *) other_arg "$1" ;;
    esac
    shift
done
need_int --rounds "$rounds" 1 1000 "a round count from 1 to 1000"
need_int --tokens "$tokens" 1 1000000 "a positive token count"
need_int --stories "$stories" 1 100000 "a positive story count"
need_int --root-threads "$root_threads" 0 1024 "a thread count from 0 to 1024"
need_int --busy "$busy" 0 64 "a count of busy loops from 0 to 64"
[ -x "$halo" ] || { log "--bin: $halo: not an executable file (build it: make build)"; exit 2; }
[ -z "$dllama" ] || [ -x "$dllama" ] ||
    { log "--dllama: $dllama: not an executable file (tools/ground-truth.sh builds one)"; exit 2; }
for m in "$big_model" "$q_model"; do # the halo preset reads the predictor beside the model
    [ -n "$m" ] || continue
    opt=--big
    [ "$m" = "$q_model" ] && opt=--quant
    need_file "$opt" "$m" "the model"
    need_file "$opt" "${m%.*}.pred" "the halo preset's predictor beside it: halo calibrate -m $m -o ${m%.*}.pred"
done
for f in "$big_tok" "$big_dm" "$big_dt"; do [ -z "$f" ] || need_file --big "$f" "a tokenizer or distributed-llama file"; done
for f in "$q_tok" "$q_dm" "$q_dt"; do [ -z "$f" ] || need_file --quant "$f" "a tokenizer or distributed-llama file"; done
for m in $modes; do
    case "$m" in loopback | netns) ;; *) log "--modes: '$m' is not loopback or netns"; exit 2 ;; esac
done
# the bundled model has 512 positions: the prompt and distributed-llama's 20 more steps fit
need_int --tokens-bundled "$tokens_bundled" 1 480 "a token count from 1 to 480"
for l in $more_losses; do # a drop probability each, above 0 and below 1
    awk -v l="$l" 'BEGIN { exit !(l ~ /^[0-9]*\.?[0-9]+$/ && l > 0 && l < 1) }' ||
        { log "--more-losses: '$l' is not a loss between 0 and 1 (e.g. \"0.01 0.02\")"; exit 2; }
done
netns_names halo-bsd 10.216
made_ns=0
# workers are started inside $(...): their pids go to files, not to a variable (bench_tmp's
# exit trap stops them)
cleanup_more() {
    stop_pids "$tmp/busy"
    [ $made_ns = 0 ] || netns_remove "$NS_R" "$NS_W"
}
bench_tmp "$halo" halo-bsd
# --busy: the loops' pids in their own folder, out of reach of stop_workers' stop_pids, and
# disowned, so that its `wait` does not wait for them
mkdir "$tmp/busy"
for i in $(seq "$busy"); do
    sh -c 'while :; do :; done' &
    echo $! >"$tmp/busy/loop-$i.pid"
    disown $!
done

setup_netns() { netns_iptables_pair "$NS_R" halo-bsr "$IP_R" "$NS_W" halo-bsw "$IP_W"; }

kernel_loss() { netns_iptables_loss "$1" "$NS_R:halo-bsr" "$NS_W:halo-bsw"; }

# workers MODE MODEL TRANSPORT: starts three, prints their addresses comma-separated
workers() {
    local mode=$1 model=$2 transport=$3 host=127.0.0.1 ns=()
    [ "$mode" = netns ] && host=$IP_W
    [ "$mode" = netns ] && ns=(ip netns exec "$NS_W")
    # started directly in the background (not through `at`, a function: its $! was the
    # subshell's, and killing that left the worker running after the script ended)
    start_workers "$tmp" "w-$transport" "${ns[@]}" "$halo" worker --listen "$host:0" \
        --key "$tmp/k.key" --transport "$transport" -m "$model"
}

stop_workers() {
    stop_pids "$tmp"
    wait 2>/dev/null || true
}

# cfile MODE CONFIG LOSS ADDRS FILE: the cluster file of one run; every configuration's engine
# section also sets `encoding: $halo_enc` when halo_enc is set (the --quant model's runs)
cfile() {
    local mode=$1 cfg=$2 loss=$3 addrs=$4 f=$5 enc=""
    [ -n "$halo_enc" ] && enc="encoding: $halo_enc"
    printf 'key: %s\nworkers: [%s]\n' "$tmp/k.key" "$addrs" >"$f"
    [ "$mode" = loopback ] && printf 'inject: {loss: %s, seed: %d}\n' "$loss" "$RANDOM" >>"$f"
    case "$cfg" in
    strict) printf 'stall_ms: 60000\nengine: {baseline: dllama%s}\n' "${enc:+, $enc}" >>"$f" ;;
    sudp) printf 'stall_ms: 60000\nengine: {baseline: dllama, delivery: datagram%s}\n' "${enc:+, $enc}" >>"$f" ;;
    *) [ -z "$enc" ] || printf 'engine: {%s}\n' "$enc" >>"$f" ;;
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
            -n "$ntok" -t 0 --threads "$root_threads" --cluster "$f" >/dev/null 2>"$tmp/err"; then
            break
        fi
        { log "$mode $cfg at loss $loss failed (try $try):"; cat "$tmp/err"; } >&2
        [ "$try" = 2 ] && { echo "nan nan"; return; }
    done
    [ "$mode" = netns ] && kernel_loss 0
    local ms miss
    ms=$(gen_ms <"$tmp/err")
    miss=$(gen_missing <"$tmp/err")
    echo "$ms ${miss:-0}"
}

# one_dllama LOSS DLLAMA_M DLLAMA_T: distributed-llama (netns) with three fresh workers in
# the workers' namespace at kernel loss LOSS; prints its ms/token (nan when it failed)
dl_port=$((20000 + $$ % 10000))
one_dllama() {
    local loss=$1 dm=$2 dt=$3 out=$tmp/dl.out ms=nan
    local dl_seq=$((ntok + 20 > 256 ? ntok + 20 : 256)) # its KV cache: room for every step
    dllama_workers "$dllama" "$NS_W" "$IP_W" "$tmp"
    sleep 0.5
    kernel_loss "$loss"
    if timeout 900 ip netns exec "$NS_R" "$dllama" inference --model "$dm" --tokenizer "$dt" \
        --buffer-float-type "$dl_buffer" --nthreads 1 --prompt "Once upon a time" \
        --steps $((ntok + 20)) --temperature 0 --seed 1 --max-seq-len "$dl_seq" --net-turbo 0 \
        --workers "${dl_addrs[@]}" >"$out" 2>&1; then
        ms=$(dllama_ms <"$out")
    else
        { log "dllama at loss $loss failed:"; tail -5 "$out"; } >&2
    fi
    kernel_loss 0
    stop_pids "$tmp" dw
    wait 2>/dev/null || true
    echo "${ms:-nan}"
}

# ppl LOSS ADDRS: perplexity of the bundled model through the cluster (loopback)
ppl() {
    local f=$tmp/e.yaml
    printf 'key: %s\nworkers: [%s]\ninject: {loss: %s, seed: 7}\n' "$tmp/k.key" "$2" "$1" >"$f"
    "$halo" eval --max-stories "$stories" --json --cluster "$f" \
        "$repo/data/tinystories-valid-dev.txt" 2>/dev/null |
        sed -n 's/.*"perplexity": \([0-9.]*\).*/\1/p'
}

bench_model() { # MODE NAME MODEL TOK [DLLAMA_M DLLAMA_T [DLLAMA_BUFFER]]
    local mode=$1 name=$2 model=$3 tok=$4 dm=${5:-} dt=${6:-} r udp tcp dl=0
    dl_buffer=${7:-f32} # read by one_dllama: distributed-llama's sync buffer type
    ntok=$tokens # read by one and one_dllama
    [ "$name" = stories260K ] && ntok=$tokens_bundled
    [ "$mode" = netns ] && [ -n "$dllama" ] && [ -n "$dm" ] && dl=1
    udp=$(workers "$mode" "$model" udp)
    tcp=$(workers "$mode" "$model" tcp)
    : >"$tmp/rows"
    for r in $(seq "$rounds"); do
        log "$mode $name round $r of $rounds"
        echo "$r strict0 $(one "$mode" strict 0 "$model" "$tok" "$tcp")" >>"$tmp/rows"
        echo "$r sudp0 $(one "$mode" sudp 0 "$model" "$tok" "$udp")" >>"$tmp/rows"
        echo "$r halo0 $(one "$mode" halo 0 "$model" "$tok" "$udp")" >>"$tmp/rows"
        echo "$r halo5 $(one "$mode" halo 0.05 "$model" "$tok" "$udp")" >>"$tmp/rows"
        if [ $dl = 1 ]; then
            echo "$r dl0 $(one_dllama 0 "$dm" "$dt") 0" >>"$tmp/rows"
            echo "$r dl5 $(one_dllama 0.05 "$dm" "$dt") 0" >>"$tmp/rows"
        fi
        for l in $more_losses; do
            echo "$r halo$l $(one "$mode" halo "$l" "$model" "$tok" "$udp")" >>"$tmp/rows"
            [ $dl = 0 ] || echo "$r dl$l $(one_dllama "$l" "$dm" "$dt") 0" >>"$tmp/rows"
        done
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
    awk -v name="$name" -v mode="$mode" -v pp="$pp" -v dl=$dl -v per="$tmp/per-round" "$AWK_ROUNDS"'
        # a parity ratio x[1..R], per round and how many rounds it was below 1.0x (faster)
        function perround(what,    r, list, below) {
            list = ""; below = 0
            for (r = 1; r <= R; r++) { list = list sprintf(" %.2f", x[r]); below += x[r] < 1 }
            printf "%s, %s: %s per round:%s (below 1.0x in %d of %d)\n", mode, name, what, list,
                below, R >>per
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
            ratios("halo5", "halo0")
            q5 = median(x, R); lo5 = lo; hi5 = hi
            ratios("halo0", "strict0")
            perround("HALO 0% / strict TCP 0%")
            q0 = median(x, R); lo0 = lo; hi0 = hi
            ratios("sudp0", "strict0")
            qu = median(x, R)
            d0 = d5 = dq = h0 = s0 = "-"
            if (dl) {
                ratios("halo0", "dl0")
                perround("HALO 0% / dllama 0%")
                h0 = sprintf("**%.2fx** (%.2f-%.2f)", median(x, R), lo, hi)
                ratios("strict0", "dl0")
                perround("strict TCP 0% / dllama 0%")
                s0 = sprintf("**%.2fx** (%.2f-%.2f)", median(x, R), lo, hi)
                for (r = 1; r <= R; r++) x[r] = v[r, "dl0"]
                d0 = sprintf("%.3f", median(x, R))
                for (r = 1; r <= R; r++) x[r] = v[r, "dl5"]
                d5 = sprintf("%.3f", median(x, R))
                ratios("dl5", "halo5")
                list = ""
                for (r = 1; r <= R; r++) list = list sprintf(" %.1f", x[r])
                dq = sprintf("**%.1fx** (%.1f-%.1f)", median(x, R), lo, hi)
                printf "%s, %s: dllama 5%% / HALO 5%% per round:%s\n", mode, name, list >>per
            }
            printf "| %s | %s | %.3f | %.3f | %.3f | %.3f | **%.2fx** (%.2f-%.2f) | **%.2fx** (%.2f-%.2f) | %.2fx | %.2f%% (max %.2f%%) | %.2f%% | %s | %s | %s | %s | %s | %s |\n",
                mode, name, med["strict0"], med["sudp0"], med["halo0"], med["halo5"], q5, lo5, hi5,
                q0, lo0, hi0, qu, mis["halo0"], mx["halo0"], mis["halo5"], pp, d0, d5, dq, h0, s0
        }' "$tmp/rows"
    [ -z "$more_losses" ] || more_rows "$mode" "$name" $dl >>"$tmp/more"
}

# more_rows MODE NAME DL: the second table's rows of one model, from $tmp/rows
more_rows() {
    awk -v mode="$1" -v name="$2" -v dl="$3" -v losses="$more_losses" "$AWK_ROUNDS"'
        function med(key,    r) { for (r = 1; r <= R; r++) x[r] = v[r, key]; return median(x, R) }
        { v[$1, $2] = $3; m[$1, $2] = $4; if ($1 > R) R = $1 }
        END {
            n = split(losses " 0.05", L, " ")
            for (i = 1; i <= n; i++) {
                h = "halo" L[i]; d = (L[i] == "0.05") ? "dl5" : "dl" L[i]
                if (L[i] == "0.05") h = "halo5"
                for (r = 1; r <= R; r++) x[r] = m[r, h]
                mis = median(x, R)
                dms = dq = "-"
                if (dl) { dms = sprintf("%.3f", med(d)); dq = ratio(d, h) }
                printf "| %s | %s | %g%% | %.3f | %s | %.2f%% | %s | %s |\n", mode, name, 100 * L[i],
                    med(h), ratio(h, "halo0"), mis, dms, dq
            }
        }' "$tmp/rows"
}

out=$tmp/table.md
{
    echo "root + 3 workers, $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg) at the start;"
    [ "$busy" = 0 ] || echo "$busy busy loops (while :; do :; done) beside the cluster throughout (--busy);"
    echo "$rounds interleaved rounds of $tokens_bundled greedy tokens per run of the bundled model, $tokens of --big and --quant;"
    echo "medians over the rounds; $(date -u +%Y-%m-%d)."
    echo "HALO: no engine section (the halo preset). Ratios are taken per round, then the median"
    echo "(range over the rounds in brackets). ms/token: decode only. halo root: --threads $root_threads"
    echo "(0: one per core); workers and distributed-llama: one thread each; distributed-llama's"
    echo "sync buffer f32, q80 on the --quant model (its Q40 weights), where every halo"
    echo "configuration has encoding: q8 (its engine section holds only that key for HALO)."
    echo
    echo "| mode | model | strict TCP 0% ms/token | strict UDP 0% | HALO 0% | HALO 5% | HALO 5% / 0% | HALO 0% / strict TCP 0% | strict UDP / TCP 0% | missing 0% | missing 5% | perplexity 0% / 5% | dllama 0% | dllama 5% | dllama 5% / HALO 5% | HALO 0% / dllama 0% | strict TCP 0% / dllama 0% |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
} >"$out"
: >"$tmp/per-round"
: >"$tmp/more"
for mode in $modes; do
    case "$mode" in
    loopback) ;;
    netns) setup_netns || continue ;;
    *) exit 2 ;; # refused above
    esac
    dm="" dt=""
    [ -e "$dl_bundled_m" ] && [ -e "$dl_bundled_t" ] && dm=$dl_bundled_m dt=$dl_bundled_t
    bench_model "$mode" stories260K "$repo/models/stories260K.bin" "$repo/models/tok512.bin" \
        "$dm" "$dt" >>"$out"
    if [ -n "$big_model" ]; then
        bench_model "$mode" "$(basename "$big_model" .bin)" "$big_model" "$big_tok" "$big_dm" \
            "$big_dt" >>"$out"
    fi
    if [ -n "$q_model" ]; then
        halo_enc=q8 # halo's 8-bit payloads beside distributed-llama's q80 buffer
        bench_model "$mode" "$(basename "$q_model" .gguf)" "$q_model" "$q_tok" "$q_dm" "$q_dt" \
            q80 >>"$out"
        halo_enc=""
    fi
done
if [ -s "$tmp/more" ]; then
    {
        echo
        echo "Each loss, the same rounds (HALO and distributed-llama at 0% as above):"
        echo
        echo "| mode | model | loss | HALO ms/token | HALO / HALO 0% | missing | dllama ms/token | dllama / HALO |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|"
        cat "$tmp/more"
    } >>"$out"
fi
if [ -s "$tmp/per-round" ]; then
    echo >>"$out"
    sed 's/$/./' "$tmp/per-round" >>"$out"
fi
cat "$out"
[ -z "$write" ] || "$repo/tools/splice-doc.sh" "$write" bench-sockets-defaults.sh <"$out"
exit 0
