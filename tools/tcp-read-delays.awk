# How long TCP data waits for the receiving application's read, from a kernel trace: reads
# `perf script -F comm,pid,cpu,time,event,trace` lines of a `perf record -a -e tcp:tcp_probe
# -e sock:sock_recv_length` run (optionally also -e tcp:tcp_retransmit_skb -e
# sched:sched_switch -e sched:sched_wakeup). Linux ACKs data that it has not yet handed to the
# application only when the window's right edge would advance (__tcp_ack_snd_check) or on the
# delayed-ACK timer; otherwise the ACK leaves at the read (tcp_cleanup_rbuf), so this wait is
# how late such ACKs are. A segment is counted from its tcp_probe with data_len > 0 (the
# receiving socket's skaddr) to the next successful read on that socket ("sk address").
# Prints, with from=SECONDS skipping everything before that trace time (a run's set-up) and
# to=SECONDS ignoring arrivals and retransmissions after it (reads still count):
#   flow DST<-SRC segs N mean M ms >=2ms P% >=5ms Q%      (one line per receiving flow)
#   all segs N mean M ms <0.2ms A% 0.2-1ms B% 1-2ms C% 2-5ms D% 5-20ms E% >=20ms F%
# with sched events, what the reading process was doing when each segment arrived:
#   state S order O segs N (P%) mean M ms >=2ms Q%
#   (S: oncpu, runnable (preempted, waiting for a core), sleeping, woken (not yet running);
#    O: other-reads-first when it read other sockets before this one, else none)
# with retransmissions, how long the receiver had held data unread when each left:
#   retransmissions N read-all A unread<2ms B 2-4ms C 4-8ms D >=8ms E unmapped U
#   (data held out of order after a loss counts as unread too)
# usage: perf script ... | awk -v from=SECONDS [-v to=SECONDS] -f tools/tcp-read-delays.awk
# (tools/measure-read-delays.sh runs it over a ground-truth run's decode window)
function field(name, len, v) {
    if (!match($0, name "[0-9a-fx.:]+"))
        return ""
    return substr($0, RSTART + len, RLENGTH - len)
}
$4 + 0 < from + 0 { next }
{ late = to != "" && $4 + 0 > to + 0 }
$5 == "sched:sched_switch:" {
    prev = field("prev_pid=", 9)
    state[prev] = $0 ~ /prev_state=R/ ? "runnable" : "sleeping"
    state[field("next_pid=", 9)] = "oncpu"
    sched = 1
    next
}
$5 == "sched:sched_wakeup:" {
    p = field(" pid=", 5)
    if (state[p] == "sleeping")
        state[p] = "woken"
    next
}
$5 == "tcp:tcp_probe:" && $0 ~ / data_len=[1-9]/ {
    if (late)
        next
    k = field("skaddr=", 7)
    a = field("src=", 4)
    b = field("dest=", 5)
    local[k] = a
    peer[k] = b
    sock[a "|" b] = k
    n[k]++
    at[k, n[k]] = $4 + 0
    if (!(k in head))
        head[k] = 1
    if (k in owner) {
        st[k, n[k]] = (owner[k] in state) ? state[owner[k]] : "unknown"
        others[k, n[k]] = reads[owner[k]]
    }
    if (unread[k] == "")
        unread[k] = $4 + 0
    next
}
$5 == "sock:sock_recv_length:" {
    if ($0 ~ /length = -/)
        next
    k = field("sk address = ", 13)
    owner[k] = $2
    reads[$2]++
    unread[k] = ""
    if (!(k in head))
        next
    split(local[k], la, ":")
    split(peer[k], pa, ":")
    f = la[1] "<-" pa[1]
    while (head[k] <= n[k]) {
        i = head[k]++
        d = ($4 + 0 - at[k, i]) * 1000
        segs++
        sum += d
        fsegs[f]++
        fsum[f] += d
        if (d >= 2)
            f2[f]++
        if (d >= 5)
            f5[f]++
        band[d < 0.2 ? 1 : d < 1 ? 2 : d < 2 ? 3 : d < 5 ? 4 : d < 20 ? 5 : 6]++
        if ((k, i) in st) {
            c = "state " st[k, i] " order " (reads[$2] - 1 > others[k, i] ? "other-reads-first" : "none")
            csegs[c]++
            csum[c] += d
            if (d >= 2)
                c2[c]++
        }
    }
    next
}
$5 == "tcp:tcp_retransmit_skb:" {
    if (late)
        next
    f = field(" daddr=", 7) ":" field("dport=", 6) "|" field(" saddr=", 7) ":" field("sport=", 6)
    rtx++
    if (!(f in sock)) {
        rtx_unmapped++
        next
    }
    k = sock[f]
    if (unread[k] == "") {
        rb[0]++
        next
    }
    d = ($4 + 0 - unread[k]) * 1000
    rb[d < 2 ? 1 : d < 4 ? 2 : d < 8 ? 3 : 4]++
}
END {
    for (f in fsegs)
        printf "flow %s segs %d mean %.3f ms >=2ms %.1f%% >=5ms %.1f%%\n", f, fsegs[f],
            fsum[f] / fsegs[f], 100 * f2[f] / fsegs[f], 100 * f5[f] / fsegs[f] | "sort"
    close("sort")
    if (segs > 0)
        printf "all segs %d mean %.3f ms <0.2ms %.1f%% 0.2-1ms %.1f%% 1-2ms %.1f%% 2-5ms %.1f%% 5-20ms %.1f%% >=20ms %.1f%%\n",
            segs, sum / segs, 100 * band[1] / segs, 100 * band[2] / segs, 100 * band[3] / segs,
            100 * band[4] / segs, 100 * band[5] / segs, 100 * band[6] / segs
    else
        print "all segs 0"
    if (sched)
        for (c in csegs)
            printf "%s segs %d (%.1f%%) mean %.3f ms >=2ms %.1f%%\n", c, csegs[c],
                100 * csegs[c] / segs, csum[c] / csegs[c], 100 * c2[c] / csegs[c] | "sort"
    close("sort")
    if (rtx)
        printf "retransmissions %d read-all %d unread<2ms %d 2-4ms %d 4-8ms %d >=8ms %d unmapped %d\n",
            rtx, rb[0], rb[1], rb[2], rb[3], rb[4], rtx_unmapped
}
