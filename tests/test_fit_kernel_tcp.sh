#!/usr/bin/env bash
# tools/fit-kernel-tcp.sh end to end: on a "kernel" summary that the simulated exchange itself
# produced with known host costs (send = recv 3 us, copy 500 ns/KiB, latency 2 us, wake-up
# jitter 4 us), the fit comes back within 10% of every mean and p90 it was given; with a cold
# wake-up and summaries measured with long pauses, it finds the cold wake-up too; and its bad
# inputs fail with a message and exit 2. Also halo_sim_pingpong --trace: the same samples with
# and without it, a trace-event file holding the lossy exchange's retransmissions, and the ns-3
# engine refused.
# usage: test_fit_kernel_tcp.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
pp=$build/tools/halo_sim_pingpong
command -v python3 >/dev/null || { echo "skipped: no python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
{
    echo "size,loss,seq,rtt_ns"
    for size in 256 16384; do
        "$pp" --size "$size" --loss 0 --count 2000 --seed 7 --host 3,3,500,4 --link 10,2
    done
} >"$tmp/raw.csv"
awk -f "$src/tools/tcp-summary.awk" "$tmp/raw.csv" >"$tmp/k.csv"
bash "$src/tools/fit-kernel-tcp.sh" --count 500 "$tmp/k.csv" "$build" >"$tmp/fit.md"
cat "$tmp/fit.md"
rows=$(grep -cE '^\| (256|16384) \|' "$tmp/fit.md" || true)
[ "$rows" = 2 ] || { echo "expected a row per loss-free size, got $rows" >&2; fail=1; }
# every error column within 10%
awk -F'|' '/^\| (256|16384) \|/ { for (i = 4; i <= 6; i += 2) { e = $i; sub(/.*\(/, "", e); sub(/%\).*/, "", e)
    if (e + 0 > 10 || e + 0 < -10) { print "error " e "% in: " $0; bad = 1 } } } END { exit bad }' "$tmp/fit.md" >&2 ||
    fail=1
grep -q '^tools/compare-kernel-tcp.sh --args "--host ' "$tmp/fit.md" || { echo "no --args line" >&2; fail=1; }
# bad inputs
expect_fail() { # WHAT PATTERN ARGS...
    local what=$1 pattern=$2 rc=0
    shift 2
    bash "$src/tools/fit-kernel-tcp.sh" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" = 2 ] && grep -q "$pattern" "$tmp/err" || { echo "$what: exit $rc, $(cat "$tmp/err")" >&2; fail=1; }
}
expect_fail "missing summary" "cannot read" "$tmp/none.csv" "$build"
expect_fail "bad count" "not a positive number" --count 0 "$tmp/k.csv" "$build"
expect_fail "bad --tcp" "not KEY=VALUE" --tcp segment_gap_us "$tmp/k.csv" "$build"
expect_fail "bad --latency-us" "not a number" --latency-us x "$tmp/k.csv" "$build"
expect_fail "unknown --tcp key" "halo_sim_pingpong failed" --tcp no_such_key=1 "$tmp/k.csv" "$build"
# --tcp settings reach every simulated exchange and the printed arguments; --latency-us is kept
bash "$src/tools/fit-kernel-tcp.sh" --count 200 --tcp segment_gap_us=2 --latency-us 0.3 "$tmp/k.csv" \
    "$build" >"$tmp/tfit.md"
grep -q 'latency_us 0.30 (kept)' "$tmp/tfit.md" || { echo "--latency-us not kept" >&2; fail=1; }
grep -q '^tools/compare-kernel-tcp.sh --tcp segment_gap_us=2 --args "--host .* --link 10,0.30"' \
    "$tmp/tfit.md" || { echo "no --tcp in the printed arguments" >&2; cat "$tmp/tfit.md" >&2; fail=1; }
grep -v ',0,' "$tmp/k.csv" >"$tmp/lossy.csv" || true
echo "256,0.05,10,1,1,1,1,0" >>"$tmp/lossy.csv"
expect_fail "no loss-free row" "no loss-free row" "$tmp/lossy.csv" "$build"
printf '256,0,10,abc,1,1,1,0\n' >"$tmp/junk.csv"
expect_fail "a malformed row" "junk.csv:1: not a summary row" "$tmp/junk.csv" "$build"
expect_fail "a bad --idle" "not U=SUMMARY" --idle x.csv "$tmp/k.csv" "$build"
expect_fail "an unreadable --idle" "cannot read" --idle "1000=$tmp/none.csv" "$tmp/k.csv" "$build"
expect_fail "a malformed --idle summary" "junk.csv:1: not a summary row" --idle "1000=$tmp/junk.csv" "$tmp/k.csv" "$build"
expect_fail "a bad --interval-us" "not a whole number" --interval-us 1e3 "$tmp/k.csv" "$build"

# With a cold wake-up (40 us, time constant 20 ms) and summaries of exchanges 10 and 100 ms
# apart, the fit finds it: every row within 10%, the cold wake-up within 25% of 40 us (small
# counts: the sanitizer build runs this too).
host=3,3,500,4,40,20
"$pp" --size 256 --loss 0 --count 1000 --seed 7 --host "$host" --link 10,2 |
    awk -f "$src/tools/tcp-summary.awk" >"$tmp/ck.csv"
for pause in 10000 100000; do
    "$pp" --size 256 --loss 0 --count 200 --seed 7 --interval-us "$pause" --host "$host" --link 10,2 |
        awk -f "$src/tools/tcp-summary.awk" >"$tmp/idle-$pause.csv"
done
bash "$src/tools/fit-kernel-tcp.sh" --count 300 --idle "10000=$tmp/idle-10000.csv" \
    --idle "100000=$tmp/idle-100000.csv" "$tmp/ck.csv" "$build" >"$tmp/cfit.md"
cat "$tmp/cfit.md"
rows=$(grep -cE '^\| (256|16384) \| [0-9]+ \|' "$tmp/cfit.md" || true)
[ "$rows" = 3 ] || { echo "expected 3 rows (256 B at 3 pauses), got $rows" >&2; fail=1; }
awk -F'|' '/^\| (256|16384) \| [0-9]+ \|/ { for (i = 5; i <= 7; i += 2) { e = $i; sub(/.*\(/, "", e); sub(/%\).*/, "", e)
    if (e + 0 > 10 || e + 0 < -10) { print "error " e "% in: " $0; bad = 1 } } } END { exit bad }' "$tmp/cfit.md" >&2 ||
    fail=1
cw=$(sed -n 's/.*cold_wake_us \([0-9.]*\),.*/\1/p' "$tmp/cfit.md")
awk -v c="${cw:-0}" 'BEGIN { exit !(c > 30 && c < 50) }' || { echo "cold_wake_us ${cw:-none}, expected 40 +- 25%" >&2; fail=1; }
# halo_sim_pingpong --trace
"$pp" --size 4352 --loss 0.02 --count 300 --seed 3 >"$tmp/plain.csv"
"$pp" --size 4352 --loss 0.02 --count 300 --seed 3 --trace "$tmp/t.json" >"$tmp/traced.csv"
cmp -s "$tmp/plain.csv" "$tmp/traced.csv" || { echo "--trace changed the samples" >&2; fail=1; }
python3 - "$tmp/t.json" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
ev = d["traceEvents"] if isinstance(d, dict) else d
names = {e.get("name") for e in ev}
missing = {"send", "recv", "segment lost", "retransmit"} - names
if missing:
    sys.exit("trace without %s" % sorted(missing))
PY
rc=0
"$pp" --size 256 --loss 0 --count 5 --engine ns3 --trace "$tmp/n.json" >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q "in-tree engine only" "$tmp/err" ||
    { echo "--engine ns3 --trace: exit $rc, $(cat "$tmp/err")" >&2; fail=1; }
exit $fail
