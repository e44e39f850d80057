#!/usr/bin/env bash
# One traced run of the kernel TCP ping-pong (tools/tcp_pingpong.c) under random loss: what
# tools/measure-kernel-tcp.sh measures, plus every packet and every drop, for reading what
# the kernel did exchange by exchange (docs/kernel-tcp.md, "Pauses between exchanges").
#
#   sudo tools/trace-kernel-tcp.sh [options] SIZE LOSS COUNT OUT_PREFIX
#
#   --interval-us U  the client's pause after each exchange (default 1000)
#   --busy-us U      the server does not read for U us after each reply (default 0): the
#                    client's next request then arrives while the server "computes"
#   --bin PATH       halo_tcp_pingpong (default build/dev/tools/halo_tcp_pingpong)
#
# Setup as tools/measure-kernel-tcp.sh: two namespaces joined by a veth pair (TSO, GSO and
# GRO off, so one segment per packet), an nftables random-drop rule on the input hook of both
# namespaces, cubic per socket, 20 warm-up exchanges. Each drop is also logged to NFLOG group
# 7, so that the drops are known packet by packet.
# Writes OUT_PREFIX plus: .rtt.csv (size,seq,rtt_ns of every recorded exchange),
# .a.pcap (every packet on the client's veth: both directions, dropped ones included),
# .da.pcap / .db.pcap (the packets dropped at the client / the server, NFLOG),
# .nstat.a.txt / .nstat.b.txt (each namespace's TCP counters over the run),
# .ss.txt (`ss -ti` of both ends every 0.5 s), .info.txt (TCP_INFO of both ends at the end).
# Prints the mean, and the retransmissions of each end banded by the time since the previous
# transmission of the same sequence (under 2 ms: RACK and fast retransmits; 2-50 ms: loss
# probes; 150 ms and more: retransmission timeouts, and probes sent with one segment out).
# Needs root, ip, nft, ethtool, tcpdump; exits 77 with "skipped: ..." without them.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

. "$repo/tools/netns.sh"
usage() {
    script_help >&2
    exit 2
}
iv=1000
busy=0
bin=$repo/build/dev/tools/halo_tcp_pingpong
while [ $# -gt 0 ]; do
    case "$1" in
    --interval-us) iv=${2:?}; shift ;;
    --busy-us) busy=${2:?}; shift ;;
    --bin) bin=${2:?}; shift ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) break ;;
    esac
    shift
done
[ $# -eq 4 ] || usage
size=$1 loss=$2 count=$3 out=$4
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root" >&2; exit 77; }
for t in ip nft ethtool tcpdump nstat ss; do
    command -v $t >/dev/null 2>&1 || { echo "skipped: $t not found" >&2; exit 77; }
done
[ -x "$bin" ] || { echo "trace-kernel-tcp: no $bin (make build)" >&2; exit 1; }

A=halo-trace-a-$$
B=halo-trace-b-$$
sub=$(($$ % 200 + 20))
IPA=10.214.$sub.1
IPB=10.214.$sub.2
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    netns_remove "$A" "$B"
}
trap cleanup EXIT
ip netns add "$A"
ip netns add "$B"
netns_veth "$A" va "$IPA" "$B" vb "$IPB" 1
thr=$(awk -v p="$loss" 'BEGIN { printf "%d", p * 1000000 + 0.5 }')
for nd in "$A:va" "$B:vb"; do
    ns=${nd%%:*} dev=${nd#*:}
    ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec "$ns" nft -f - <<EOF
table inet halo_trace {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "$dev" counter
    iifname "$dev" numgen random mod 1000000 < $thr counter log group 7 drop
  }
}
EOF
done
# -s 0: NFLOG records are longer than the packet; a short snap length loses most of them
ip netns exec "$A" tcpdump -i va -nn -s 128 -w "$out.a.pcap" 2>/dev/null &
pids+=($!)
ip netns exec "$A" tcpdump -i nflog:7 -nn -s 0 -B 8192 -w "$out.da.pcap" 2>/dev/null &
pids+=($!)
ip netns exec "$B" tcpdump -i nflog:7 -nn -s 0 -B 8192 -w "$out.db.pcap" 2>/dev/null &
pids+=($!)
sleep 1
# nstat keeps its history in one file per user, not per namespace: one file each
NSTAT_HISTORY=$out.hist.a ip netns exec "$A" nstat -n
NSTAT_HISTORY=$out.hist.b ip netns exec "$B" nstat -n
ip netns exec "$B" "$bin" server --listen "$IPB:5001" --cc cubic --busy-us "$busy" --tcp-info \
    2>"$out.info-server.txt" &
pids+=($!)
sleep 0.3
(
    while :; do
        sleep 0.5
        ip netns exec "$A" ss -tinH dst "$IPB"
        ip netns exec "$B" ss -tinH src "$IPB"
    done >>"$out.ss.txt" 2>/dev/null
) &
pids+=($!)
ip netns exec "$A" "$bin" client --connect "$IPB:5001" --size "$size" --count "$count" \
    --warmup 20 --interval-us "$iv" --cc cubic --out "$out.rtt.csv" --tcp-info 2>"$out.info.txt"
NSTAT_HISTORY=$out.hist.a ip netns exec "$A" nstat >"$out.nstat.a.txt"
NSTAT_HISTORY=$out.hist.b ip netns exec "$B" nstat >"$out.nstat.b.txt"
rm -f "$out.hist.a" "$out.hist.b"
sleep 0.5
cleanup # the captures end here, before they are read
trap - EXIT
cat "$out.info-server.txt" >>"$out.info.txt"
rm -f "$out.info-server.txt"
awk -F, 'NR > 1 { n++; s += $3 } END { printf "exchanges %d, mean %.2f ms\n", n, s / n / 1e6 }' \
    "$out.rtt.csv"
tcpdump -nn -tt -S -r "$out.a.pcap" 2>/dev/null | awk -v client="$IPA" '
    / seq [0-9]+:[0-9]+/ {
        side = index($3, client ".") == 1 ? "client" : "server"
        match($0, / seq [0-9]+:/); seq = substr($0, RSTART + 5, RLENGTH - 6)
        k = side " " seq
        if (k in last) {
            g = ($1 - last[k]) * 1000
            n[side, g < 2 ? 0 : g < 50 ? 1 : g < 150 ? 2 : 3]++
        }
        last[k] = $1
    }
    END {
        for (s = 0; s < 2; s++) {
            side = s ? "server" : "client"
            printf "%s retransmissions: <2 ms %d, 2-50 ms %d, 50-150 ms %d, >=150 ms %d\n",
                side, n[side, 0], n[side, 1], n[side, 2], n[side, 3]
        }
    }'
