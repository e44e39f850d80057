#!/usr/bin/env bash
# tools/tcp-dsack-bands.awk on a hand-made capture listing: a D-SACK (a SACK block below the
# cumulative ACK) banded by the time from its segment's first send to its retransmission
# (10 ms: 2-50 ms; 300 ms: 150 ms or more), one whose block starts inside a segment
# unmatched, a SACK above the ACK not counted, and an original that arrives below the highest
# sequence seen counted as reordered.
# usage: test_tcp_dsack_bands.sh SOURCE_DIR
set -euo pipefail
src=$1
a=10.0.0.1.40000
b=10.0.0.2.9999
data() { echo "$1 IP $a > $b: Flags [.], seq $2, ack 1, win 500, length 1448"; }
ack() { echo "$1 IP $b > $a: Flags [.], ack $2, win 500, options [nop,nop,TS val 1 ecr 2,nop,nop,sack 1 {$3}], length 0"; }
got=$({
    data 1.000000 1000:2448
    data 1.000001 2448:3896
    ack 1.000100 1000 2448:3896
    data 1.010000 1000:2448
    ack 1.011000 3896 1000:2448
    data 1.020000 3896:5344
    data 1.020100 6792:8240
    data 1.020200 5344:6792
    data 1.300000 3896:5344
    ack 1.301000 8240 3896:5344
    ack 1.302000 8240 4000:5344
} | sort -k1,1n | awk -f "$src/tools/tcp-dsack-bands.awk")
want="data 7 reordered 1 dsacks 3 bands <2ms 0 2-50ms 1 50-150ms 0 >=150ms 1 unmatched 1"
[ "$got" = "$want" ] || { echo "got:  $got" >&2; echo "want: $want" >&2; exit 1; }
