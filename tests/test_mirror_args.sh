#!/usr/bin/env bash
# tools/mirror-ground-truth.sh's inputs, checked before any fit runs: the simulated runs take
# as many tokens as the harness's tables say its runs did (per model, from the tables with
# rows of that model) and leave out of their time the tokens the harness dropped; tables that
# disagree and bad counts are refused with the files named.
# usage: test_mirror_args.sh SOURCE_DIR
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gt=$tmp/gt
mkdir "$gt"
printf 'system,model,loss,nodes,runs,failed,tokens,ms_mean,ms_p90,ms_run_min,ms_run_max,drop_rate,frames,dropped,same_text,missing_pct,self_ms,engine\n' >"$gt/ground-truth.csv"
printf 'dllama,T,0,1,1,0,45,187.6,222.5,187.6,187.6,,0,0,1/1,,186.9,x\n' >>"$gt/ground-truth.csv"
printf 'dllama,S,0,1,1,0,125,0.05,0.06,0.05,0.05,,0,0,1/1,,0.05,x\n' >>"$gt/ground-truth.csv"
: >"$gt/runs.csv"
: >"$gt/samples.csv"
table() { # FILE S_TOKENS T_TOKENS MODEL: a harness table of one row of MODEL
    printf 'BOS; S: %s tokens per run, T: %s; the first 2 intervals of each run dropped;\n\n' "$2" "$3" >"$1"
    printf '| model | system |\n|---|---|\n| %s | dllama |\n' "$4" >>"$1"
}
# run EXPECTED_STATUS ARGS...: stderr of the script (never past its input checks: no build)
run() {
    local want=$1 rc=0
    shift
    bash "$src/tools/mirror-ground-truth.sh" --build "$tmp/none" "$@" "$gt" >/dev/null 2>"$tmp/err" || rc=$?
    [ "$rc" = "$want" ] || { echo "exit $rc, expected $want:" >&2; cat "$tmp/err" >&2; exit 1; }
}
fail=0
expect() { grep -qF -- "$1" "$tmp/err" || { echo "stderr lacks '$1':" >&2; cat "$tmp/err" >&2; fail=1; }; }

# No table: the harness's defaults, said.
run 2
expect "no harness table of S cells says its token count; 128"
expect "simulated runs of 128 tokens on S, 16 on T"
# T 48 from a T table; an S-only table's T count (16) is not T's.
table "$gt/harness-t.md" 128 48 T
table "$gt/harness-s.md" 100 16 S
run 2
expect "simulated runs of 100 tokens on S, 48 on T"
# Two T tables that disagree: refused, both files named.
table "$gt/harness-t2.md" 128 24 T
run 2
expect "ran T with different token counts"
expect "harness-t2.md"
expect "harness-t.md"
# Given on the command line: no table read for that model.
run 2 --tokens-t 24
expect "simulated runs of 100 tokens on S, 24 on T"
run 2 --tokens-t 3
expect "--tokens-t: '3' is not an integer above 3"
run 2 --tokens-s x --tokens-t 24
expect "--tokens-s: 'x' is not an integer above 3"
# The tokens left out of each simulated run: the harness's warm-up intervals + 1 (its first
# token), from its tables; --skip over them; none that would leave no token.
run 2 --tokens-t 24
expect "the first 3 of each left out of its time"
sed 's/the first 2 intervals/the first 5 intervals/' "$gt/harness-s.md" >"$gt/harness-w.md"
run 2 --tokens-t 24
expect "dropped different warm-up intervals"
expect "harness-w.md"
run 2 --tokens-t 24 --skip 0
expect "the first 0 of each left out of its time"
run 2 --tokens-t 24 --skip x
expect "--skip: 'x' is not a whole number"
run 2 --tokens-t 24 --skip 24
expect "--skip 24 leaves no token of 24 (--tokens-t)"
rm "$gt/harness-w.md"
# What compute_cv is fitted on: deadline or missing, nothing else.
run 2 --tokens-t 24 --cv-on median
expect "--cv-on: 'median' is not deadline or missing"
# How the host's cores are given out: shared or wake, nothing else.
run 2 --tokens-t 24 --core-placement pinned
expect "--core-placement: 'pinned' is not shared or wake"
# The balance tick: a number of ms.
run 2 --tokens-t 24 --core-balance-ms 4ms
expect "--core-balance-ms: '4ms' is not a number of ms"
run 2 --tokens-t 24 --core-balance-ms -1
expect "--core-balance-ms: '-1' is not a number of ms"
run 2 --tokens-t 24 --core-balance-ms 2000
expect "--core-balance-ms: '2000' is not 0 or from 0.001 to 1000 ms"
# The waiting share of a message's host cost: a share from 0 to 1.
run 2 --tokens-t 24 --host-overlap 1.5
expect "--host-overlap: '1.5' is not a share from 0 to 1"
run 2 --tokens-t 24 --host-overlap -0.1
expect "--host-overlap: '-0.1' is not a share from 0 to 1"
# Bisection steps: 1 to 60.
run 2 --tokens-t 24 --steps 0
expect "--steps: '0' is not a step count from 1 to 60"
run 2 --tokens-t 24 --steps 61
expect "--steps: '61' is not a step count from 1 to 60"
# A TCP setting: KEY=VALUE, one word or number (the key itself is the simulator's to check).
run 2 --tokens-t 24 --tcp segment_gap_us
expect "--tcp: 'segment_gap_us' is not KEY=VALUE"
run 2 --tokens-t 24 --tcp 'early_ack_kb=64, tlp: false'
expect "--tcp: 'early_ack_kb=64, tlp: false' is not KEY=VALUE"
# distributed-llama's read order: arrival or rank.
run 2 --tokens-t 24 --dllama-reads fifo
expect "--dllama-reads: 'fifo' is not arrival or rank"
# No cache size in sysfs (some virtual machines): said, unless --cache-mb gives one.
run 2 --tokens-t 24
if ! ls /sys/devices/system/cpu/cpu0/cache/index*/size >/dev/null 2>&1; then
    expect "no cache size in sysfs"
fi
run 2 --tokens-t 24 --cache-mb 8
if grep -q "no cache size in sysfs" "$tmp/err"; then echo "--cache-mb 8 still says no cache size" >&2; fail=1; fi
exit $fail
