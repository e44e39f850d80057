#!/usr/bin/env bash
# The top-up rule of tools/ground-truth.sh (tools/gt-unstable.awk) on hand-made runs.csv
# files: a lossy cell gets another run while its standard error is above --target-se of its
# cost of loss or, on TCP, while its runs hold fewer than --min-events costly events (cost of
# loss x tokens / --event-ms); halo-udp is judged by the standard error alone; a loss-free
# cell while its standard error is above --target-se of the smallest cost of loss that rests
# on it; bad values of the two options are refused before anything runs.
# usage: test_gt_topup.sh SOURCE_DIR
set -uo pipefail
src=$1
# shellcheck source=tests/lib.sh
. "$src/tests/lib.sh"
scratch_dir gt-topup
runs=$tmp/runs.csv
{
    echo "system,model,loss,nodes,run,tokens,ms_mean,frames,dropped,missing_pct,self_ms,wall_s,status"
    for sys in dllama halo-udp; do
        echo "$sys,S,0,2,1,125,0.39,0,0,,0.39,1,ok"
        echo "$sys,S,0,2,2,125,0.39,0,0,,0.39,1,ok"
        # three runs of about one timeout each that agree: cost 1.79 ms x 375 tokens = 671 ms
        echo "$sys,S,0.01,2,1,125,1.96,0,0,,1.96,1,ok"
        echo "$sys,S,0.01,2,2,125,2.33,0,0,,2.33,1,ok"
        echo "$sys,S,0.01,2,3,125,2.25,0,0,,2.25,1,ok"
    done
    # many events, a tight spread: 29.8 ms x 375 / 200 = 56 events
    echo "dllama,S,0.05,2,1,125,30.0,0,0,,30.0,1,ok"
    echo "dllama,S,0.05,2,2,125,30.5,0,0,,30.5,1,ok"
    echo "dllama,S,0.05,2,3,125,29.8,0,0,,29.8,1,ok"
    # a wide spread: SE 2.3 against a cost of about 4.6
    echo "dllama,S,0.02,2,1,125,1,0,0,,1,1,ok"
    echo "dllama,S,0.02,2,2,125,5,0,0,,5,1,ok"
    echo "dllama,S,0.02,2,3,125,9,0,0,,9,1,ok"
    # loss-free T cells: SE 5.8 ms, 5% of the mean, against a 1% cost of 19 (needs runs); SE
    # 0.6 against 80 (stable); a cell with no lossy cell yet, judged against its own mean
    for r in 1 2 3; do
        echo "dllama,T,0,2,$r,12,$((110 + (r - 1) * 10)),0,0,,0,1,ok"
        echo "dllama,T,0.01,2,$r,12,$((137 + r)),0,0,,0,1,ok"
        echo "halo-strict,T,0,2,$r,13,$((120 + r)),0,0,,0,1,ok"
        echo "halo-strict,T,0.01,2,$r,13,$((200 + r)),0,0,,0,1,ok"
        echo "halo-udp,T,0,4,$r,13,$((100 + r * 20)),0,0,,0,1,ok"
    done
    # one counted run (the other failed)
    echo "dllama,S,0.01,4,1,125,20,0,0,,20,1,ok"
    echo "dllama,S,0.01,4,2,0,,0,0,,,1,failed"
} >"$runs"

# needs SYSTEM LOSS NODES MIN_EVENTS [MODEL]: the rule asks for another run
needs() {
    awk -F, -v s="$1" -v m="${5:-S}" -v l="$2" -v n="$3" -v t=10 -v e="$4" -v u=200 \
        -f "$src/tools/gt-unstable.awk" "$runs"
}
stable() { ! needs "$@"; }

check "3 agreeing runs of ~1 timeout each: another run (3.4 of 20 events)" needs dllama 0.01 2 20
check "the same without the event rule (--min-events 0): stable" stable dllama 0.01 2 0
check "the same on halo-udp (no timeouts): stable" stable halo-udp 0.01 2 20
check "56 events, a tight spread: stable" stable dllama 0.05 2 20
check "56 events but --min-events 60: another run" needs dllama 0.05 2 60
check "a wide spread: another run, events or not" needs dllama 0.02 2 0
check "one counted run: another run" needs dllama 0.01 4 0
check "loss-free, SE 5.8 (5% of its mean) against a 1% cost of 19: another run" needs dllama 0 2 0 T
check "loss-free, SE 0.6 against a cost of 80: stable" stable halo-strict 0 2 0 T
check "loss-free without a lossy cell, SE 11.5 against its mean of 140: stable" stable halo-udp 0 4 0 T
check "loss-free, a spread of 0: stable" stable dllama 0 2 0

expect_script 2 "--min-events: 'x' is not a whole number" "$src/tools/ground-truth.sh" --min-events x
expect_script 2 "--event-ms: '1.2.3' is not a number" "$src/tools/ground-truth.sh" --event-ms 1.2.3
expect_script 2 "--root-spin-us: '-1' is not a whole number" "$src/tools/ground-truth.sh" --root-spin-us -1
expect_script 2 "--root-spin-us: 20000 is above 10000" "$src/tools/ground-truth.sh" --root-spin-us 20000
finish
