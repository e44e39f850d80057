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

typedef struct halo_tcp_config {
    int init_cwnd;         /* segments (Linux: 10) */
    uint64_t rto_min_ns;   /* Linux: 200 ms */
    uint64_t rto_max_ns;   /* Linux: 120 s */
    uint64_t rto_init_ns;  /* before any RTT sample (RFC 6298: 1 s) */
    uint64_t delack_ns;    /* delayed-ACK timeout (Linux: 40 ms) */
    int tlp;               /* tail loss probes on (Linux default) */
    int dupack_threshold;  /* fast retransmit after this many duplicate ACKs (3) */
    int quickack_segments; /* segments ACKed at once at the start (Linux quickack) */
    int quickack;          /* ACK every data segment at once (TCP_QUICKACK, as an application
                              that sets it on every read does; distributed-llama does) */
    uint64_t tick_ns;      /* timer granularity: TCP timers expire on multiples of it (a
                              jiffy: 4 ms at the kernel's HZ = 250); 0 = exact */
} halo_tcp_config;

/*
 * Linux-like defaults, as measured against this machine's kernel (docs/kernel-tcp.md):
 * initial window 10, RTO 200 ms .. 120 s (1 s before a sample), delayed ACK 40 ms, tail loss
 * probes, 3 duplicate ACKs, 16 quick ACKs at the start, ACKs at once (a request/response
 * application reads at once, and Linux ACKs what the application reads: the delayed ACK
 * rarely fires there), timers on 4 ms ticks (HZ = 250).
 */
void halo_tcp_config_linux(halo_tcp_config *c);

#endif /* HALO_DELIVERY_H */
