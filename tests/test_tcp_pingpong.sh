#!/usr/bin/env bash
# halo_tcp_pingpong on loopback (label net): every exchange completes with the size it
# announced, and `server --busy-us U` holds the client for at least U us after each of its
# replies (the server does not read the next request until U after its reply;
# docs/kernel-tcp.md, "A busy receiver"): 6 exchanges take at least 5 U in all. Only that
# lower bound is checked: it holds however loaded the machine is. A single exchange may
# take less than U (the wait also covers the client's own turnaround), and the run without
# --busy-us is not timed (an upper bound fails when the machine stalls). The client's
# --long-every N --long-us L pauses L before recorded exchanges 0 (after a warm-up), N, 2N:
# with one warm-up exchange and 7 recorded, three such pauses, at least 3 L in all.
# usage: test_tcp_pingpong.sh HALO_TCP_PINGPONG
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
run() { # PORT BUSY_US OUT [CLIENT OPTIONS]: 6 exchanges of 4096 bytes, no pause; the
    # client's wall time in nanoseconds in $OUT.ns
    "$bin" server --listen "127.0.0.1:$1" --busy-us "$2" --accept-timeout-ms 10000 &
    pids+=($!)
    local t0 t1
    t0=$(date +%s%N)
    "$bin" client --connect "127.0.0.1:$1" --size 4096 --count 6 --interval-us 0 --out "$3" "${@:4}"
    t1=$(date +%s%N)
    echo $((t1 - t0)) >"$3.ns"
    wait "${pids[-1]}"
}
port=$((20000 + $$ % 20000))
run "$port" 0 "$tmp/free.csv"
run $((port + 1)) 20000 "$tmp/busy.csv"
run $((port + 2)) 0 "$tmp/long.csv" --count 7 --warmup 1 --long-every 3 --long-us 30000
fail=0
[ "$(wc -l <"$tmp/long.csv")" = 8 ] || { echo "long: expected a header and 7 rows" >&2; fail=1; }
[ "$(cat "$tmp/long.csv.ns")" -ge 90000000 ] ||
    { echo "long: 3 pauses of 30 ms in $(cat "$tmp/long.csv.ns") ns" >&2; fail=1; }
for f in free busy; do
    [ "$(wc -l <"$tmp/$f.csv")" = 7 ] || { echo "$f: expected a header and 6 rows" >&2; fail=1; }
    awk -F, 'NR > 1 && ($1 != 4096 || $3 <= 0) { bad++ } END { exit bad > 0 }' "$tmp/$f.csv" ||
        { echo "$f: a row without its size or time" >&2; cat "$tmp/$f.csv" >&2; fail=1; }
done
# the server waited 20 ms after each of the first five replies before reading on
[ "$(cat "$tmp/busy.csv.ns")" -ge 100000000 ] ||
    { echo "busy: 6 exchanges in $(cat "$tmp/busy.csv.ns") ns, under 5 x 20 ms" >&2; fail=1; }
[ "$("$bin" server --listen 127.0.0.1:1 --busy-us x 2>&1 >/dev/null; echo $?)" != 0 ] || fail=1
for bad in "--long-every 3" "--long-us 100" "--long-every 0 --long-us 100"; do
    # shellcheck disable=SC2086
    [ "$("$bin" client --connect 127.0.0.1:1 --size 64 --count 1 $bad >/dev/null 2>&1; echo $?)" = 2 ] ||
        { echo "client $bad: not refused as a usage error" >&2; fail=1; }
done
exit $fail
