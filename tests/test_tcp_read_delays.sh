#!/usr/bin/env bash
# tools/tcp-read-delays.awk on a hand-made `perf script` listing: four segments on two sockets
# of one reader, each counted from its arrival (tcp_probe) to the next read of its socket, per
# flow and in bands; what the reader was doing at each arrival (asleep, woken, on a core; a
# read of another socket first); retransmissions by how long the receiver had held data
# unread (one of an unknown flow unmapped); a failed read, events before `from` and arrivals
# and retransmissions after `to` ignored.
# usage: test_tcp_read_delays.sh SOURCE_DIR
set -euo pipefail
src=$1
ev() { printf '%16s %6s [000] %s: %s: %s\n' dllama "$1" "$2" "$3" "$4"; }
probe() { # time skaddr local peer
    ev 300 "$1" tcp:tcp_probe "family=AF_INET src=$3 dest=$4 mark=0 data_len=1448 snd_nxt=0x1 snd_una=0x1 snd_cwnd=10 ssthresh=2147483647 snd_wnd=64512 srtt=22 rcv_wnd=65160 sock_cookie=1 skbaddr=0xffff0001 skaddr=$2"
}
rd() { ev 200 "$1" sock:sock_recv_length "sk address = $2, family = 0x2 protocol = 0x6, length = $3, error = 0, flags = 0x0"; }
switch() { ev "$1" "$2" sched:sched_switch "prev_comm=dllama prev_pid=$1 prev_prio=120 prev_state=$3 ==> next_comm=dllama next_pid=$4 next_prio=120"; }
rtx() { ev 300 "$1" tcp:tcp_retransmit_skb "skbaddr=0xffff0002 skaddr=0xffff9 family=AF_INET sport=$3 dport=$5 saddr=$2 daddr=$4 saddrv6=::ffff:$2 daddrv6=::ffff:$4 state=0x1 err=0"; }
b=10.0.0.2:9999
got=$({
    probe 5.000000 0xaaaa $b 10.0.0.1:40000
    rd 10.000000 0xaaaa 100
    switch 200 10.000100 S 300
    probe 10.001000 0xaaaa $b 10.0.0.1:40000
    ev 0 10.001100 sched:sched_wakeup "comm=dllama pid=200 prio=120 target_cpu=000"
    probe 10.002000 0xaaaa $b 10.0.0.1:40000
    switch 300 10.003000 R 200
    rd 10.003200 0xaaaa -11
    rd 10.003500 0xaaaa 2896
    rd 10.004000 0xbbbb 100
    probe 10.005000 0xbbbb $b 10.0.0.3:40001
    rd 10.006000 0xaaaa 50
    rd 10.011000 0xbbbb 1448
    probe 10.020000 0xbbbb $b 10.0.0.3:40001
    rtx 10.025000 10.0.0.3 40001 10.0.0.2 9999
    rtx 10.026000 10.0.0.9 40009 10.0.0.2 9999
    rd 10.030000 0xbbbb 1448
    rtx 10.031000 10.0.0.1 40000 10.0.0.2 9999
    probe 10.040000 0xbbbb $b 10.0.0.3:40001
    rtx 10.041000 10.0.0.3 40001 10.0.0.2 9999
    rd 10.042000 0xbbbb 1448
} | awk -v from=10 -v to=10.035 -f "$src/tools/tcp-read-delays.awk")
want="flow 10.0.0.2<-10.0.0.1 segs 2 mean 2.000 ms >=2ms 50.0% >=5ms 0.0%
flow 10.0.0.2<-10.0.0.3 segs 2 mean 8.000 ms >=2ms 100.0% >=5ms 100.0%
all segs 4 mean 5.000 ms <0.2ms 0.0% 0.2-1ms 0.0% 1-2ms 25.0% 2-5ms 25.0% 5-20ms 50.0% >=20ms 0.0%
state oncpu order none segs 1 (25.0%) mean 10.000 ms >=2ms 100.0%
state oncpu order other-reads-first segs 1 (25.0%) mean 6.000 ms >=2ms 100.0%
state sleeping order none segs 1 (25.0%) mean 2.500 ms >=2ms 100.0%
state woken order none segs 1 (25.0%) mean 1.500 ms >=2ms 0.0%
retransmissions 3 read-all 1 unread<2ms 0 2-4ms 0 4-8ms 1 >=8ms 0 unmapped 1"
[ "$got" = "$want" ] || { echo "got:" >&2; echo "$got" >&2; echo "want:" >&2; echo "$want" >&2; exit 1; }
