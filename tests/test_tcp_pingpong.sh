#!/usr/bin/env bash
# halo_tcp_pingpong on loopback (label net): every exchange completes with the size it
# announced, and `server --busy-us U` holds the client for at least U us after each of its
# replies (the server does not read the next request until U after its reply;
# docs/kernel-tcp.md, "A busy receiver"): 6 exchanges take at least 5 U in all. Only that
# lower bound is checked: it holds however loaded the machine is. A single exchange may
# take less than U (the wait also covers the client's own turnaround), and the run without
# --busy-us is not timed (an upper bound fails when the machine stalls).
# usage: test_tcp_pingpong.sh HALO_TCP_PINGPONG
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
run() { # PORT BUSY_US OUT: 6 exchanges of 4096 bytes, no pause; the client's wall time in
    # nanoseconds in $OUT.ns
    "$bin" server --listen "127.0.0.1:$1" --busy-us "$2" --accept-timeout-ms 10000 &
    pids+=($!)
    local t0 t1
    t0=$(date +%s%N)
    "$bin" client --connect "127.0.0.1:$1" --size 4096 --count 6 --interval-us 0 --out "$3"
    t1=$(date +%s%N)
    echo $((t1 - t0)) >"$3.ns"
    wait "${pids[-1]}"
}
port=$((20000 + $$ % 20000))
run "$port" 0 "$tmp/free.csv"
run $((port + 1)) 20000 "$tmp/busy.csv"
fail=0
for f in free busy; do
    [ "$(wc -l <"$tmp/$f.csv")" = 7 ] || { echo "$f: expected a header and 6 rows" >&2; fail=1; }
    awk -F, 'NR > 1 && ($1 != 4096 || $3 <= 0) { bad++ } END { exit bad > 0 }' "$tmp/$f.csv" ||
        { echo "$f: a row without its size or time" >&2; cat "$tmp/$f.csv" >&2; fail=1; }
done
# the server waited 20 ms after each of the first five replies before reading on
[ "$(cat "$tmp/busy.csv.ns")" -ge 100000000 ] ||
    { echo "busy: 6 exchanges in $(cat "$tmp/busy.csv.ns") ns, under 5 x 20 ms" >&2; fail=1; }
[ "$("$bin" server --listen 127.0.0.1:1 --busy-us x 2>&1 >/dev/null; echo $?)" != 0 ] || fail=1
exit $fail
