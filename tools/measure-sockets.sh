#!/usr/bin/env bash
# Strict-over-TCP against HALO-over-UDP on a real socket cluster (root + 3 `halo worker`
# processes on this machine), under packet loss on the worker links, then the same scenario
# in the simulator. Prints markdown tables (docs/net.md quotes one run).
#
#   tools/measure-sockets.sh [options]
#
#   --modes "..."   inproc and/or netns (default: both; netns is skipped with a message
#                   when namespaces or iptables are not permitted)
#   --losses "..."  drop probabilities on every worker link (default: 0 0.01 0.02 0.05)
#   --tokens N      tokens generated per run (default 64; --quick: 16)
#   --stories K     stories of data/tinystories-valid-dev.txt scored for perplexity
#                   (default 3; --quick: 1)
#   --quick         the small sizes above
#   --bin PATH      the halo binary (default: build/dev/app/halo)
#
# Modes:
#   inproc  workers and root on 127.0.0.1; loss from the transports' own seeded layer (seed
#           1): a UDP frame is lost, a TCP frame is held 200 ms with everything after it on
#           its connection (a retransmission timeout), in both directions of every worker link.
#   netns   root in one network namespace, the three workers in another, joined by a veth
#           pair; loss from kernel random drops (iptables statistic) on the INPUT of both
#           namespaces, so both directions of every worker link lose packets. Real kernel TCP
#           recovery (RTO, TLP, fast retransmit). Kernel drops cannot be seeded.
# Settings (both modes): prompt "Once upon a time", greedy; strict = `sync: strict` over
# TCP, equal split; HALO = `sync: relaxed` over UDP with the importance predictor (tau 0.9,
# critical FFN groups placed on the root, every device holding a critical group awaited),
# fixed 2 ms deadline. f32 payloads.
# Perplexity: `halo eval --cluster` over the first K stories, for HALO and for relaxed sync
# without the predictor (the same deadline, nothing critical); strict is scored at 0% only
# (strict waits for every contribution, so its numerics do not depend on loss: the loopback
# identity test checks it token for token).
# Simulator: scenarios/sockets-loopback.yaml with its per-link latency calibrated so that
# strict at 0% matches the inproc measurement (bisection over latency_us); every other
# cell is a prediction.
# Every process and namespace this script makes is removed on exit (trap). Needs nothing
# but the built binary for inproc; root, `ip netns` and iptables for netns.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

. "$repo/tools/netns.sh"
modes="inproc netns"
losses="0 0.01 0.02 0.05"
tokens=""
stories=""
quick=0
halo=$repo/build/dev/app/halo
while [ $# -gt 0 ]; do
    case "$1" in
    --modes) modes=${2:?}; shift ;;
    --losses) losses=${2:?}; shift ;;
    --tokens) tokens=${2:?}; shift ;;
    --stories) stories=${2:?}; shift ;;
    --quick) quick=1 ;;
    --bin) halo=${2:?}; shift ;;
    *) other_arg "$1" ;;
    esac
    shift
done
if [ $quick = 1 ]; then
    tokens=${tokens:-16}
    stories=${stories:-1}
else
    tokens=${tokens:-64}
    stories=${stories:-3}
fi
export HALO_MODEL_DIR=$repo/models
data=$repo/data/tinystories-valid-dev.txt
prompt="Once upon a time"

netns_names halo-sk 10.214
made_ns=0
cleanup_more() { [ $made_ns = 0 ] || netns_remove "$NS_R" "$NS_W"; }
bench_tmp "$halo" halo-sockets
trap 'exit 130' INT
trap 'exit 143' TERM

# workers MODE TRANSPORT: three workers (in mode netns inside $NS_W; ip netns exec execs, so
# each pid file holds the worker itself); their addresses go to $tmp/MODE-TRANSPORT.addrs
workers() {
    local host=127.0.0.1 pre=()
    [ "$1" = netns ] && host=$IP_W && pre=(ip netns exec "$NS_W")
    start_workers "$tmp" "$1-$2" "${pre[@]}" "$halo" worker --listen "$host:0" \
        --key "$tmp/k.key" --transport "$2" >"$tmp/$1-$2.addrs"
}

# cluster MODE TRANSPORT LOSS [IMPORTANCE]: writes the cluster file, prints its path
cluster() {
    local mode=$1 transport=$2 loss=$3 imp=${4:-predictor} f=$tmp/$1-$2-$3-${4:-p}.yaml
    {
        echo "key: k.key"
        echo "workers: [$(cat "$tmp/$mode-$transport.addrs")]"
        [ "$transport" = tcp ] && echo "stall_ms: 60000"
        [ "$mode" = inproc ] && echo "inject: {loss: $loss, seed: 1}"
        if [ "$transport" = udp ]; then
            echo "engine: {delivery: datagram, sync: relaxed, deadline_ms: 2, importance: $imp, tau: 0.9}"
        else
            echo "engine: {baseline: dllama}"
        fi
    } >"$f"
    echo "$f"
}

set_kernel_loss() { netns_iptables_loss "$1" "$NS_R:halo-skr" "$NS_W:halo-skw"; }

setup_netns() { netns_iptables_pair "$NS_R" halo-skr "$IP_R" "$NS_W" halo-skw "$IP_W"; }

# gen MODE TRANSPORT LOSS: prints "ms_per_token missing_percent"
gen() {
    local f
    f=$(cluster "$1" "$2" "$3")
    netns_in_mode "$1" root "$halo" generate -t 0 -n "$tokens" -p "$prompt" --cluster "$f" \
        >"$tmp/gen.out" 2>"$tmp/gen.err" || { cat "$tmp/gen.err" >&2; exit 1; }
    local ms miss
    ms=$(gen_ms <"$tmp/gen.err")
    miss=$(gen_missing <"$tmp/gen.err")
    echo "$ms $miss"
}

# ppl MODE TRANSPORT LOSS [IMPORTANCE]: prints "perplexity missing_percent"
ppl() {
    local f
    f=$(cluster "$1" "$2" "$3" "${4:-predictor}")
    netns_in_mode "$1" root "$halo" eval --cluster "$f" --max-stories "$stories" --json "$data" \
        >"$tmp/eval.out" 2>"$tmp/eval.err" || { cat "$tmp/eval.err" >&2; exit 1; }
    awk -F'[:,]' '{ for (i = 1; i < NF; i++) {
            if ($i ~ /"perplexity"/) p = $(i + 1)
            if ($i ~ /"contributions"/) c = $(i + 1)
            if ($i ~ /"missing"/) m = $(i + 1) }
        printf "%.4f %.2f\n", p, (c > 0 ? 100 * m / c : 0) }' "$tmp/eval.out"
}

single=$("$halo" generate -t 0 -n "$tokens" -p "$prompt" 2>&1 >/dev/null | gen_ms)
single_ppl=$("$halo" eval --max-stories "$stories" --json "$data" |
    sed -n 's/.*"perplexity": \([0-9.]*\).*/\1/p')

declare -A M
ran_modes=""
for mode in $modes; do
    if [ "$mode" = netns ] && ! setup_netns; then
        continue
    fi
    [ "$mode" = inproc ] || [ "$mode" = netns ] || { log "unknown mode $mode"; exit 2; }
    ran_modes="$ran_modes $mode"
    workers "$mode" tcp
    workers "$mode" udp
    for loss in $losses; do
        [ "$mode" = netns ] && set_kernel_loss "$loss"
        log "$mode loss $loss: strict over TCP"
        M[$mode,$loss,tcp]=$(gen "$mode" tcp "$loss")
        log "$mode loss $loss: HALO over UDP"
        M[$mode,$loss,udp]=$(gen "$mode" udp "$loss")
        log "$mode loss $loss: perplexity"
        M[$mode,$loss,udp_ppl]=$(ppl "$mode" udp "$loss")
        log "$mode loss $loss: perplexity, relaxed without the predictor"
        M[$mode,$loss,rel_ppl]=$(ppl "$mode" udp "$loss" none)
        if awk -v p="$loss" 'BEGIN { exit !(p == 0) }'; then
            M[$mode,tcp_ppl]=$(ppl "$mode" tcp "$loss")
        fi
    done
    [ "$mode" = netns ] && set_kernel_loss 0
    stop_pids "$tmp" "$mode"
done

echo "## Socket cluster: root + 3 workers on this machine"
echo
echo "$(nproc) cores, $(uname -r); prompt \"$prompt\", $tokens tokens greedy; perplexity over"
echo "the first $stories stories of data/tinystories-valid-dev.txt."
echo "Single device: $single ms/token, perplexity $single_ppl."
echo
echo "| mode | loss | strict TCP ms/token | HALO UDP ms/token | speedup | strict ppl | HALO ppl | HALO missing (gen / eval) | relaxed, no predictor: ppl (missing) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for mode in $ran_modes; do
    for loss in $losses; do
        read -r t_ms _ <<<"${M[$mode,$loss,tcp]}"
        read -r u_ms u_miss <<<"${M[$mode,$loss,udp]}"
        read -r u_ppl u_emiss <<<"${M[$mode,$loss,udp_ppl]}"
        read -r t_ppl _ <<<"${M[$mode,tcp_ppl]}"
        read -r r_ppl r_miss <<<"${M[$mode,$loss,rel_ppl]}"
        awk -v m="$mode" -v l="$loss" -v t="$t_ms" -v u="$u_ms" -v tp="$t_ppl" -v up="$u_ppl" \
            -v um="$u_miss" -v em="$u_emiss" -v rp="$r_ppl" -v rm="$r_miss" 'BEGIN {
            printf "| %s | %g%% | %.3f | %.3f | %.2fx | %s | %.4f | %s%% / %s%% | %.4f (%s%%) |\n",
                m, 100 * l, t, u, (u > 0 ? t / u : 0), (l == 0 ? sprintf("%.4f", tp) : "as 0%"),
                up, um, em, rp, rm }'
    done
done

# ==== The simulator on the same scenario ====
scen=$tmp/sockets-loopback.yaml
write_scenario() { # write_scenario LATENCY_US
    sed "s/latency_us: 30,/latency_us: $1,/; s/^  tokens: 16/  tokens: $tokens/;
         s|\.\./models/|$repo/models/|" "$repo/scenarios/sockets-loopback.yaml" >"$scen"
}
sim_ms() { # sim_ms POINT: mean ms/token of one point
    "$halo" sim "$scen" --point "$1" --json | sed -n 's/.*"mean_ms": \([0-9.]*\).*/\1/p' |
        head -n 1
}
# points: baseline x delivery x loss, loss fastest: strict = dllama/stream = point i, HALO =
# halo/datagram = point 12 + i, where i indexes the scenario's loss axis 0 0.01 0.02 0.05.
idx_of() { case "$1" in 0) echo 0 ;; 0.01) echo 1 ;; 0.02) echo 2 ;; 0.05) echo 3 ;; *) echo -1 ;; esac; }
first_mode=${ran_modes# }
first_mode=${first_mode%% *}
target=$(echo "${M[$first_mode,0,tcp]:-}" | awk '{ print $1 }')
if [ -z "$target" ]; then
    echo
    echo "(no 0% strict measurement: simulator comparison skipped)"
    exit 0
fi
lo=1
hi=5000
for _ in $(seq 16); do
    mid=$(awk -v a=$lo -v b=$hi 'BEGIN { printf "%.2f", (a + b) / 2 }')
    write_scenario "$mid"
    got=$(sim_ms 0)
    if awk -v g="$got" -v t="$target" 'BEGIN { exit !(g < t) }'; then lo=$mid; else hi=$mid; fi
done
write_scenario "$lo"
echo
echo "## The simulator on the same scenario"
echo
echo "scenarios/sockets-loopback.yaml, per-link latency calibrated to $lo us so that strict at"
echo "0% matches the $first_mode measurement ($target ms/token); every other cell is predicted."
echo
echo "Error = (simulated - measured) / measured."
echo
echo "| loss | strict measured inproc / netns | strict simulated | error inproc / netns | HALO measured inproc / netns | HALO simulated | error inproc / netns |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for loss in $losses; do
    i=$(idx_of "$loss")
    [ "$i" -ge 0 ] || continue
    s_strict=$(sim_ms "$i")
    s_halo=$(sim_ms $((12 + i)))
    row_t="" row_u="" err_t="" err_u=""
    for mode in inproc netns; do
        t=$(echo "${M[$mode,$loss,tcp]:--}" | awk '{ print $1 }')
        u=$(echo "${M[$mode,$loss,udp]:--}" | awk '{ print $1 }')
        et=$(awk -v m="$t" -v s="$s_strict" 'BEGIN { if (m == "-") print "-";
                                                     else printf "%+.0f%%", 100 * (s - m) / m }')
        eu=$(awk -v m="$u" -v s="$s_halo" 'BEGIN { if (m == "-") print "-";
                                                   else printf "%+.0f%%", 100 * (s - m) / m }')
        row_t="$row_t${row_t:+ / }$t"
        row_u="$row_u${row_u:+ / }$u"
        err_t="$err_t${err_t:+ / }$et"
        err_u="$err_u${err_u:+ / }$eu"
    done
    awk -v l="$loss" -v rt="$row_t" -v st="$s_strict" -v et="$err_t" -v ru="$row_u" \
        -v su="$s_halo" -v eu="$err_u" \
        'BEGIN { printf "| %g%% | %s | %.3f | %s | %s | %.3f | %s |\n", 100 * l, rt, st, et, ru, su, eu }'
done
