#!/usr/bin/env bash
# tools/compare-kernel-tcp.sh end to end (label ns3): on a two-cell kernel summary it prints one
# table row per cell with each engine's error, one column group per engine (ns-3, then the
# in-tree engine), and the counters table when given the kernel's counters; with the kernel's
# intervals (tools/tcp-summary.awk's columns 9-11) a verdict per value and a count per engine.
# usage: test_compare_kernel_tcp.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'size,loss,n,mean_ms,p50_ms,p90_ms,p99_ms,over100\n256,0.05,1000,20.5246,0.0357,0.0985,249.7900,0.0880\n4352,0,1000,0.0753,0.0539,0.0832,0.4405,0.0000\n' >"$tmp/k.csv"
printf 'size,loss,pkts_a,drops_a,pkts_b,drops_b,TcpOutSegs,TcpRetransSegs,TcpExtTCPTimeouts,TcpExtTCPLossProbes,TcpExtTCPLossProbeRecovery,TcpExtTCPFastRetrans,TcpExtTCPSpuriousRTOs,TcpExtDelayedACKs\n256,0.05,1200,60,1146,48,2182,164,14,150,82,0,0,0\n' >"$tmp/c.csv"
bash "$src/tools/compare-kernel-tcp.sh" --quick --engines "ns3 sim" --counters "$tmp/c.csv" \
    "$tmp/k.csv" "$build" >"$tmp/out.md"
cat "$tmp/out.md"
fail=0
grep -q '^| size B | loss | kernel mean ms | ns-3 mean ms (error) | in-tree mean ms (error) | kernel p90 ms |' "$tmp/out.md" || { echo "header: no ns-3 and in-tree column groups" >&2; fail=1; }
# 256 B at 5%: kernel mean 20.52; both engines pay about one 204 ms timer per lost message
grep -Eq '^\| 256 \| 0.05 \| 20.52 \| [0-9.]+ \([+-][0-9]+%\) \| [0-9.]+ \([+-][0-9]+%\) \|' "$tmp/out.md" || { echo "row 256/0.05 missing or malformed" >&2; fail=1; }
grep -Eq '^\| 4352 \| 0 \| 0.075 \| 0.038 \(-49%\) \| [0-9.]+ \([+-][0-9]+%\) \|' "$tmp/out.md" || { echo "row 4352/0: ns-3 loss-free time is not 0.038 ms" >&2; fail=1; }
grep -Eq '^\| 256 \| 0.05 \| 108 / 164 / 14 / 150 \| [0-9]+ / [0-9]+ / [0-9]+ / 0 \|' "$tmp/out.md" || { echo "counters row missing or malformed" >&2; fail=1; }
# tools/tcp-summary.awk: samples of 1..10 ms give mean 5.5, p90 9, the mean's 95% half-width
# 1.96 s / sqrt(10) (s = 3.0277) and the p90's interval of ranks 7..10
for i in 1 2 3 4 5 6 7 8 9 10; do echo "512,0,$i,${i}000000"; done >"$tmp/raw.csv"
got=$(awk -f "$src/tools/tcp-summary.awk" "$tmp/raw.csv")
[ "$got" = "512,0,10,5.5000,5.0000,9.0000,10.0000,0.0000,1.8766,7.0000,10.0000" ] ||
    { echo "tcp-summary: got $got" >&2; fail=1; }
# verdicts: 4352 B loss-free with a narrow interval, which ns-3's 0.038 ms is far outside of
printf 'size,loss,n,mean_ms,p50_ms,p90_ms,p99_ms,over100,mean_hw_ms,p90_lo_ms,p90_hi_ms\n4352,0,1000,0.0753,0.0539,0.0832,0.4405,0.0000,0.0010,0.0800,0.0860\n' >"$tmp/k11.csv"
bash "$src/tools/compare-kernel-tcp.sh" --quick --engines "ns3" "$tmp/k11.csv" "$build" >"$tmp/out11.md"
cat "$tmp/out11.md"
grep -Eq '^\| 4352 \| 0 \| 0.075 ± 0.001 \| 0.038 \(-49%; \*\*outside\*\*\) \| 0.083 \[0.080-0.086\] \| 0.038 \(-54%; \*\*outside\*\*\) \|' "$tmp/out11.md" ||
    { echo "row 4352/0 with intervals: no outside verdicts" >&2; fail=1; }
grep -q '^Verdicts: ns-3 mean: 0 within, 1 outside, 0 undecided of 1; ns-3 p90: 0 within, 1 outside, 0 undecided of 1\.$' "$tmp/out11.md" ||
    { echo "no verdict count" >&2; fail=1; }
exit $fail
