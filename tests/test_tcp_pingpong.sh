#!/usr/bin/env bash
# halo_tcp_pingpong on loopback (label net): an exchange completes with the size it announced,
# and `server --busy-us U` holds every exchange after the first for at least U us (the server
# does not read the next request until U after its reply; docs/kernel-tcp.md, "A busy
# receiver"), while without it the same exchanges take far less.
# usage: test_tcp_pingpong.sh HALO_TCP_PINGPONG
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
run() { # PORT BUSY_US OUT: 6 exchanges of 4096 bytes, no pause
    "$bin" server --listen "127.0.0.1:$1" --busy-us "$2" --accept-timeout-ms 10000 &
    pids+=($!)
    "$bin" client --connect "127.0.0.1:$1" --size 4096 --count 6 --interval-us 0 --out "$3"
    wait "${pids[-1]}"
}
port=$((20000 + $$ % 20000))
run "$port" 0 "$tmp/free.csv"
run $((port + 1)) 20000 "$tmp/busy.csv"
fail=0
[ "$(wc -l <"$tmp/busy.csv")" = 7 ] || { echo "busy: expected a header and 6 rows" >&2; fail=1; }
# every exchange after the first waits for the server's 20 ms
awk -F, 'NR > 2 && $3 < 20000000 { bad++ } END { exit bad > 0 }' "$tmp/busy.csv" ||
    { echo "busy: an exchange took less than --busy-us" >&2; cat "$tmp/busy.csv" >&2; fail=1; }
# without it the median is well below (loopback: tens of microseconds)
awk -F, 'NR > 1 { v[++n] = $3 } END { m = 0; for (i = 1; i <= n; i++) m += v[i] < 10000000; exit m < 4 }' \
    "$tmp/free.csv" || { echo "free: most exchanges took 10 ms or more" >&2; cat "$tmp/free.csv" >&2; fail=1; }
[ "$("$bin" server --listen 127.0.0.1:1 --busy-us x 2>&1 >/dev/null; echo $?)" != 0 ] || fail=1
exit $fail
