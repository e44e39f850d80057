#!/usr/bin/env bash
# tools/compare-cluster-tcp.sh: the kernel's recovery per token from a ground-truth folder's
# tcp.csv and its nodes' counters (timeouts 52 over 32 lossy tokens: 1.62; D-SACKs and undos
# from the nstat files), the simulated side from the mirror beside them, and --tcp reaching the
# simulator; bad inputs refused with the file or key named, exit 2.
# usage: test_compare_cluster_tcp.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gt=$tmp/gt
mkdir -p "$gt/tcp"
{
    echo "system,model,loss,nodes,runs,failed,tokens,ms_mean,ms_p90"
    echo "dllama,T,0.05,2,2,0,20,596.3,1000"
} >"$gt/ground-truth.csv"
{
    echo "system,model,loss,nodes,run,lossy_tokens,retrans_segs,timeouts,probes"
    echo "dllama,T,0.05,2,1,10,400,17,56"
    echo "dllama,T,0.05,2,2,22,410,35,60"
} >"$gt/tcp.csv"
for r in 1 2; do
    for n in 0 1; do
        printf '#kernel\nTcpExtTCPDSACKRecv %d 0.0\nTcpExtTCPDSACKUndo %d 0.0\n' $((r + n)) "$n" \
            >"$gt/tcp/dllama-T-0.05-2-$r.nstat.$n.txt"
    done
done
cp "$src/sim/validation/ground-truth-2026-12-05-tcp/mirror-dllama-T-2-0.05.yaml" "$gt/"
sed -i 's/^runs: .*/runs: 2/' "$gt/mirror-dllama-T-2-0.05.yaml"
fail=0
tool() { bash "$src/tools/compare-cluster-tcp.sh" --build "$build" "$@" >"$tmp/out" 2>"$tmp/err"; }
tool "$gt" || { echo "failed:" >&2; cat "$tmp/err" >&2; exit 1; }
# kernel: timeouts 52 / 32 tokens, probes 116 / 32, D-SACKs (1+2+2+3) / 32, undone 2 / 32
# column N of the cell's row (1 = the cell's name)
col() { awk -F' *[|] *' -v n="$1" '$2 == "dllama T 2 nodes 5%" { print $(n + 1) }' "$tmp/out"; }
[ -n "$(col 1)" ] || { echo "no row:" >&2; cat "$tmp/out" >&2; exit 1; }
kernel="$(col 2) $(col 4) $(col 6) $(col 8) $(col 10)"
[ "$kernel" = "596.3 1.62 3.62 0.25 0.06" ] || { echo "kernel columns: $kernel" >&2; fail=1; }
awk -v a="$(col 3)" -v t="$(col 5)" -v d="$(col 9)" 'BEGIN { exit !(a > 100 && t > 0 && d >= 0) }' ||
    { echo "simulated columns: $(col 3) $(col 5) $(col 9)" >&2; fail=1; }
# --tcp reaches the simulator: a refused value names the key
rc=0
tool --tcp segment_gap_us=-1 "$gt" || rc=$?
if [ "$rc" != 1 ] || ! grep -q "engine.tcp.segment_gap_us" "$tmp/err"; then
    echo "--tcp segment_gap_us=-1: exit $rc" >&2
    cat "$tmp/err" >&2
    fail=1
fi
tool --tcp segment_gap_us=2 "$gt"
grep -q "with engine.tcp {segment_gap_us: 2}" "$tmp/out" || { echo "--tcp not named" >&2; fail=1; }
# bad inputs
expect2() { # PATTERN ARGS...
    local pattern=$1 rc=0
    shift
    tool "$@" || rc=$?
    if [ "$rc" != 2 ] || ! grep -qF -- "$pattern" "$tmp/err"; then
        echo "exit $rc, wanted 2 and '$pattern':" >&2
        cat "$tmp/err" >&2
        fail=1
    fi
}
expect2 "--tcp: 'gap' is not KEY=VALUE" --tcp gap "$gt"
expect2 "$tmp/none/tcp.csv: cannot read it" "$tmp/none"
expect2 "usage:"
exit $fail
