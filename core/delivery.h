/*
 * How messages travel between devices: as datagrams (lost when any fragment is lost; the
 * relaxed policy's choice) or over one reliable ordered stream per pair of devices (TCP:
 * loss becomes delay; the strict baseline's choice), and the stream's TCP settings.
 *
 * These are settings, not an implementation: the simulator models them (sim/sim.h, and
 * sim/ns3/ maps them onto ns-3's TCP), a socket cluster picks UDP or TCP sockets by the
 * delivery and leaves TCP's timers to the kernel.
 */
#ifndef HALO_DELIVERY_H
#define HALO_DELIVERY_H

#include <stdint.h>

enum halo_delivery {
    HALO_DELIVERY_DATAGRAM = 0,
    HALO_DELIVERY_STREAM = 1,
};

/* When a receiving application reads (tcp.read_order). */
enum halo_tcp_read_order {
    HALO_TCP_READ_ARRIVAL = 0, /* as it arrives, rx_batch after a burst (a reader that polls) */
    HALO_TCP_READ_RANK = 1,    /* its peers in rank order, blocking: a peer's data waits while a
                                  lower-ranked peer's message is part way in, or expected and
                                  not begun (halo_transport_expect: the mesh collective's
                                  partial sums); distributed-llama's all-gather,
                                  NnNetwork::readMany over blocking sockets */
};

/* Congestion control (Linux: net.ipv4.tcp_congestion_control). */
enum halo_tcp_cc {
    HALO_TCP_CC_CUBIC = 0, /* Linux's default: window x0.7 on a loss, tcp_cubic.c's growth */
    HALO_TCP_CC_RENO = 1,  /* window halved on a loss, +1 segment per window acknowledged */
};

typedef struct halo_tcp_config {
    int init_cwnd;               /* segments (Linux: 10) */
    uint64_t rto_min_ns;         /* Linux: 200 ms */
    uint64_t rto_max_ns;         /* Linux: 120 s */
    uint64_t rto_init_ns;        /* before any RTT sample (RFC 6298: 1 s) */
    uint64_t delack_ns;          /* delayed-ACK timeout (Linux: 40 ms) */
    int tlp;                     /* tail loss probes on (Linux default) */
    int dupack_threshold;        /* fast retransmit after this many duplicate ACKs (3) */
    int quickack_segments;       /* segments ACKed at once in Linux's quickack mode: at the start,
                                    after a receive gap longer than the RTO, after a duplicate */
    int quickack;                /* ACK every data segment at once (an idealised receiver; off,
                                    segments are ACKed as Linux does: docs/kernel-tcp.md) */
    uint64_t tick_ns;            /* timer granularity (a jiffy: 4 ms at the kernel's HZ = 250):
                                    a TCP timer's delay is rounded up to ticks and it fires on
                                    the tick after that many, as Linux's timer wheel fires it;
                                    0 = exact */
    int cc;                      /* enum halo_tcp_cc */
    uint64_t rx_batch_ns;        /* the receiving application reads (and Linux acknowledges what it
                                    has read) once in-order segments have stopped arriving for this
                                    long: a burst is read and ACKed once. 0 = a read per segment.
                                    Not a kernel knob: the receiver's scheduling (docs/kernel-tcp.md) */
    uint64_t comp_sack_delay_ns; /* net.ipv4.tcp_comp_sack_delay_ns: after 3 immediate
                                    duplicate ACKs, SACKs wait min(this, srtt / 20) (1 ms) */
    uint64_t comp_sack_slack_ns; /* net.ipv4.tcp_comp_sack_slack_ns: the hrtimer's slack,
                                    which it uses up when nothing else wakes the CPU (100 us) */
    int comp_sack_nr;            /* net.ipv4.tcp_comp_sack_nr: at most this many SACKs are
                                    held back in a row (44); 0 = never */
    int slow_start_after_idle;   /* net.ipv4.tcp_slow_start_after_idle: a sender idle for more
                                    than an RTO restarts from the initial window (1) */
    uint64_t segment_gap_ns;     /* the sender's CPU time per full segment: the segments of one
                                    burst leave this far apart (scaled by their size), as each
                                    segment's transmit takes CPU in Linux, so RACK can tell them
                                    apart. 0 = a burst leaves at one instant (the default) */
    int read_order;              /* enum halo_tcp_read_order: when the receiving application reads
                                    (and so ACKs) each peer's data */
    int early_ack_kb;            /* over a connection's first this many KiB received, in-order
                                    data with more than one full segment unacknowledged is ACKed
                                    on arrival, before the application reads (Linux's
                                    __tcp_ack_snd_check while the receive window grows), which
                                    gives the sender a minimum RTT without the reader. 0 = never
                                    (the default) */
} halo_tcp_config;

/*
 * Linux-like defaults, as measured against this machine's kernel (docs/kernel-tcp.md):
 * initial window 10, RTO 200 ms .. 120 s (1 s before a sample), delayed ACK 40 ms, tail loss
 * probes, 3 duplicate ACKs, 16 quick ACKs, ACKs as Linux sends them (quickack off: a burst is
 * ACKed once it has been read, 20 us after its last segment), timers on 4 ms ticks (HZ = 250),
 * cubic, compressed SACKs (1 ms, 44), slow start after idle.
 */
void halo_tcp_config_linux(halo_tcp_config *c);

#endif /* HALO_DELIVERY_H */
