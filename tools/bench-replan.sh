#!/usr/bin/env bash
# Runtime scheduling against a fixed split when one link turns lossy mid-run (issue 15):
# root + 3 `halo worker` processes on 127.0.0.1, worker 2 reached through a lossy UDP relay
# (tests/udp_lossy.c) that drops LOSS of the datagrams both ways once AFTER datagrams have
# gone to the worker. Two cluster files, both the halo preset (no other engine key):
#   fixed      engine.placement equal (the preset's split over sockets);
#   scheduled  engine.placement scheduled (probes, measured links, re-plans every
#              --replan-tokens tokens at most);
#   once       engine.placement scheduled planned once at join (replan_tokens 1000000): what
#              the probes and the first round trips alone give, without re-plans.
# Each round runs each once (the order rotating), so load on the shared machine falls on all
# alike; it prints each run's ms/token (the root's generation line) and re-plans, then the
# medians and the medians of the per-round ratios scheduled / fixed and once / fixed.
#
#   tools/bench-replan.sh [--rounds N] [--tokens N] [--loss P] [--after N] [--replan-tokens N]
#                         [--model M.bin --tokenizer T.bin] [--bin PATH] [--lossy PATH]
#
# Every process it starts is killed on exit (trap); it talks only to 127.0.0.1.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

halo=$repo/build/dev/app/halo
lossy=$repo/build/dev/tests/udp_lossy
rounds=3 tokens=48 loss=0.05 after=600 replan=16 model="" tok=""
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?}; shift ;;
    --tokens) tokens=${2:?}; shift ;;
    --loss) loss=${2:?}; shift ;;
    --after) after=${2:?}; shift ;;
    --replan-tokens) replan=${2:?}; shift ;;
    --model) model=${2:?}; shift ;;
    --tokenizer) tok=${2:?}; shift ;;
    --bin) halo=${2:?}; shift ;;
    --lossy) lossy=${2:?}; shift ;;
    *) other_arg "$1" ;;
    esac
    shift
done
export HALO_MODEL_DIR=$repo/models
bench_tmp "$halo" halo-replan
margs=() wargs=()
[ -n "$model" ] && margs=(-m "$model") && wargs=(-m "$model")
[ -n "$tok" ] && margs+=(-z "$tok")
addrs=$(start_workers "$tmp" w "$halo" worker --listen 127.0.0.1:0 --key "$tmp/k.key" \
    --transport udp "${wargs[@]}")
IFS=, read -ra w <<<"$addrs"
# run CONFIG ROUND: one generation through a fresh relay; prints "ms/token re-plans"
run() {
    local cfg=$1 r=$2 port=""
    "$lossy" 0 "${w[1]##*:}" "$loss" "$after" 600 "$r" >"$tmp/relay.out" 2>"$tmp/relay.err" &
    local rp=$!
    echo "$rp" >"$tmp/relay.pid"
    for _ in $(seq 100); do
        port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$tmp/relay.out")
        [ -n "$port" ] && break
        sleep 0.1
    done
    {
        echo "key: k.key"
        echo "workers: [${w[0]}, 127.0.0.1:$port, ${w[2]}]"
        [ "$cfg" = scheduled ] && echo "replan_tokens: $replan"
        [ "$cfg" = once ] && echo "replan_tokens: 1000000"
        echo "engine:"
        [ "$cfg" = fixed ] && echo "  placement: equal" || echo "  placement: scheduled"
    } >"$tmp/c.yaml"
    timeout 900 "$halo" generate "${margs[@]}" -t 0 -n "$tokens" -p "Once upon a time" \
        --cluster "$tmp/c.yaml" >/dev/null 2>"$tmp/$cfg-$r.err" || true
    kill "$rp" 2>/dev/null || true
    wait "$rp" 2>/dev/null || true
    rm -f "$tmp/relay.pid"
    local ms n
    ms=$(gen_ms <"$tmp/$cfg-$r.err")
    n=$(grep -c "re-plan at token" "$tmp/$cfg-$r.err" || true)
    grep "re-plan at token\|scheduled split" "$tmp/$cfg-$r.err" | sed "s/^/#   $cfg round $r: /" >&2 || true
    [ -n "$ms" ] || tail -5 "$tmp/$cfg-$r.err" | sed "s/^/#   $cfg round $r failed: /" >&2
    echo "${ms:-nan} $n $(cat "$tmp/relay.err")"
}
echo "# $(date -u +%FT%TZ) $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); model ${model:-stories260K}," \
    "$tokens tokens, loss $loss on worker 2's link after $after datagrams, replan_tokens $replan"
echo "round config ms_per_token replans relay"
for r in $(seq "$rounds"); do
    order="fixed scheduled once"
    [ $((r % 3)) -eq 2 ] && order="scheduled once fixed"
    [ $((r % 3)) -eq 0 ] && order="once fixed scheduled"
    for cfg in $order; do
        echo "$r $cfg $(run "$cfg" "$r")"
    done
done | tee "$tmp/rows"
awk "$AWK_ROUNDS"'
    { ms[$2, $1] = $3; if ($2 == "fixed") f[++nf] = $3; else if ($2 == "scheduled") s[++ns] = $3; else o[++no] = $3 }
    END {
        for (r = 1; (("fixed", r) in ms); r++) { q[r] = ms["scheduled", r] / ms["fixed", r]; p[r] = ms["once", r] / ms["fixed", r] }
        printf "median ms/token: fixed %.3f, scheduled %.3f, once %.3f\n", median(f, nf), median(s, ns), median(o, no)
        printf "scheduled / fixed per round: median %.2fx (", median(q, r - 1)
        for (i = 1; i < r; i++) printf "%s%.2f", (i > 1 ? " " : ""), ms["scheduled", i] / ms["fixed", i]
        printf ")\nonce / fixed per round: median %.2fx (", median(p, r - 1)
        for (i = 1; i < r; i++) printf "%s%.2f", (i > 1 ? " " : ""), ms["once", i] / ms["fixed", i]
        printf ")\n"
    }' "$tmp/rows"
