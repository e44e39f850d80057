#!/usr/bin/env bash
# tools/mirror-ground-truth.sh's host memory bandwidth (host_mem_bw_gbps) from the harness's
# memshare.csv: a family's own slowdown two at once R gives 2 mem_bw_gbps / R, a family
# without runs there takes the host bandwidth another family's gave, distributed-llama's Q40
# family is fitted as bound by arithmetic (dllama's bandwidth, its own gflops) unless its cell
# is faster than its bytes at that bandwidth, --mem-share off and a
# table without the file give none, and a malformed file is refused with its file:line.
# Also --tcp and --dllama-reads: the settings named in the report, a key the simulator
# refuses refused before any fit.
# usage: test_mirror_memshare.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gt=$tmp/gt
mkdir "$gt"
{
    echo "system,model,loss,nodes,runs,failed,tokens,ms_mean,ms_p90,ms_run_min,ms_run_max,drop_rate,frames,dropped,same_text,missing_pct,self_ms,engine"
    echo "dllama,T,0,1,1,0,45,160,170,160,160,,0,0,1/1,,160,x"
    echo "dllama-q40,T,0,1,1,0,45,80,90,80,80,,0,0,1/1,,80,x"
} >"$gt/ground-truth.csv"
: >"$gt/runs.csv"
: >"$gt/samples.csv"
fail=0
# fit_table ARGS...: the fitted profiles (--fit-only), stderr in $tmp/err; 5 bisection steps
# a figure (every check below is of what follows from a fit, not of the fit's digits)
fit_table() {
    bash "$src/tools/mirror-ground-truth.sh" --build "$build" --cache-mb 0 --tokens-s 5 \
        --tokens-t 5 --skip 1 --steps 5 --fit-only "$@" "$gt" >"$tmp/out" 2>"$tmp/err"
}
# column FAMILY N: the fitted table's column N (| separated, 1 = first cell) of FAMILY's row
column() { awk -F'|' -v f="$1" -v n="$2" '$2 == " " f " " { v = $(n + 1); gsub(/ /, "", v); print v }' "$tmp/out"; }
check() { # WHAT CONDITION (awk, on b = mem_bw_gbps, h = host_mem_bw_gbps, q = q40's)
    awk -v b="$(column dllama 4)" -v h="$(column dllama 9)" -v q="$(column dllama-q40 9)" \
        "BEGIN { exit !($2) }" || { echo "$1: dllama bw $(column dllama 4), host $(column dllama 9), q40 host $(column dllama-q40 9)" >&2; cat "$tmp/err" >&2; fail=1; }
}
# Without the file: none. (Without --tcp the report says the TCP settings are the defaults.)
fit_table
check "no memshare.csv" 'h == "-" && q == "-"'
grep -q "TCP settings none: the defaults, distributed-llama's nodes reading their peers in rank order" "$tmp/out" ||
    { echo "the Not fitted line lacks 'TCP settings none' or the read order (rank by default)" >&2; fail=1; }
# dllama two at once 1.25x: 2 bw / 1.25; q40 without runs of its own: the same host figure.
{
    echo "system,model,round,alone_ms,pair_a_ms,pair_b_ms"
    echo "dllama,T,1,160,200,200"
    echo "dllama,T,2,160,190,210"
    echo "halo,T,1,150,,180"
} >"$gt/memshare.csv"
fit_table
check "dllama x1.25" 'b > 0 && h / b > 1.599 && h / b < 1.601 && q == h'
grep -q "dllama-q40: no runs of its own in memshare.csv: host_mem_bw_gbps" "$tmp/err" ||
    { echo "no fallback line for dllama-q40" >&2; fail=1; }
grep -q "dllama x1.25" "$tmp/out" || { echo "the Not fitted line lacks the slowdown" >&2; cat "$tmp/out" >&2; fail=1; }
# Q40 is bound by arithmetic: dllama's bandwidth, gflops fitted on its own T cell (dllama's
# stays 1000); with runs of its own (x1.05), its host figure is 2 bw / 1.05.
awk -v b="$(column dllama 4)" -v qb="$(column dllama-q40 4)" -v g="$(column dllama 10)" \
    -v qg="$(column dllama-q40 10)" 'BEGIN { exit !(qb == b && g == 1000 && qg > 1 && qg < 1000) }' ||
    { echo "q40: bw $(column dllama-q40 4) (dllama's $(column dllama 4)), gflops $(column dllama-q40 10) (dllama's $(column dllama 10))" >&2; fail=1; }
echo "dllama-q40,T,1,80,84,84" >>"$gt/memshare.csv"
fit_table
awk -v qb="$(column dllama-q40 4)" -v q="$(column dllama-q40 9)" 'BEGIN { exit !(q / qb > 1.904 && q / qb < 1.906) }' ||
    { echo "q40 x1.05: host $(column dllama-q40 9), bw $(column dllama-q40 4)" >&2; fail=1; }
# A Q40 cell faster than its bytes at dllama's bandwidth: its own bandwidth, gflops 1000.
sed -i 's/^dllama-q40,T,0,1,1,0,45,80,90,80,80,,0,0,1\/1,,80,x$/dllama-q40,T,0,1,1,0,45,5,5,5,5,,0,0,1\/1,,5,x/' "$gt/ground-truth.csv"
fit_table
awk -v b="$(column dllama 4)" -v qb="$(column dllama-q40 4)" -v qg="$(column dllama-q40 10)" \
    'BEGIN { exit !(qb > b && qg == 1000) }' ||
    { echo "fast q40: bw $(column dllama-q40 4), gflops $(column dllama-q40 10)" >&2; fail=1; }
grep -q "dllama-q40: its T cell is not slower than its bytes at dllama's bandwidth" "$tmp/err" ||
    { echo "no line for the fast q40 cell" >&2; fail=1; }
fit_table --mem-share off
check "--mem-share off" 'h == "-"'
# Bad inputs: exit 2, named.
expect_fail() { # PATTERN ARGS...
    local pattern=$1 rc=0
    shift
    fit_table "$@" || rc=$?
    [ "$rc" = 2 ] && grep -qF -- "$pattern" "$tmp/err" || { echo "exit $rc, wanted 2 and '$pattern':" >&2; cat "$tmp/err" >&2; fail=1; }
}
expect_fail "--mem-share: 'on' is not auto or off" --mem-share on
cp "$gt/memshare.csv" "$tmp/good.csv"
echo "dllama,T,3,160,x,200" >>"$gt/memshare.csv"
expect_fail "memshare.csv:6: \"x\" is not a time in ms"
cp "$tmp/good.csv" "$gt/memshare.csv"
echo "dllama,T,3,160" >>"$gt/memshare.csv"
expect_fail "memshare.csv:6: 6 fields expected, 4 found"
sed '1s/.*/system,round/' "$tmp/good.csv" >"$gt/memshare.csv"
expect_fail "memshare.csv:1: not the header"
cp "$tmp/good.csv" "$gt/memshare.csv"
# TCP settings: in the report; refused by the simulator before any fit, its reason kept.
fit_table --tcp segment_gap_us=2 --tcp early_ack_kb=64 --dllama-reads arrival
grep -q "TCP settings segment_gap_us: 2, early_ack_kb: 64 (engine.tcp), distributed-llama's nodes reading their peers as the data arrives" "$tmp/out" ||
    { echo "the Not fitted line lacks the TCP settings or --dllama-reads arrival" >&2; cat "$tmp/out" >&2; fail=1; }
expect_fail "--tcp: the simulator refuses {bogus_key: 1}: engine.tcp.bogus_key: unknown key" --tcp bogus_key=1
expect_fail "engine.tcp.segment_gap_us: -3 is not in" --tcp segment_gap_us=-3
[ ! -s "$tmp/out" ] || { echo "a refused --tcp still printed a fit" >&2; fail=1; }
exit $fail
