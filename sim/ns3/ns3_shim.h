/*
 * The ns-3 backend: the same simulated world as sim/sim.h (a star of devices through one
 * switch, per-direction links with bandwidth, latency, jitter, per-packet header bytes,
 * an optional queue limit and Bernoulli or Gilbert-Elliott loss; datagram or reliable
 * stream delivery; device compute time; timers; virtual time), run by ns-3 (libns3, 3.37)
 * instead of the in-tree engine, behind the same halo_transport interface. Its purpose is
 * cross-validation: the in-tree engine is fast; ns-3 is a second, independent implementation
 * (its TCP is a full implementation, not a model, but not Linux's: docs/ns3.md measures the
 * difference against kernel TCP).
 *
 * This header is pure C (tests/test_ns3_header.c compiles it as C11); the implementation is
 * one C++ file, sim/ns3/ns3_shim.cc, and every C++ exception stops at its boundary. When halo
 * is built without ns-3 (HALO_NS3=OFF, or AUTO without libns3-dev), a C stub implements this
 * header: halo_ns3_available() returns 0 and halo_ns3_new() fails with HALO_ERR_ARG.
 *
 * How the world maps onto ns-3 (docs/ns3.md):
 *  - nodes are ns-3 nodes with an IPv4 stack (static routing, no traffic control layer, so
 *    no hidden queue disc); the switch is one more node that forwards at the IP layer;
 *  - each device's pair of links is one point-to-point channel whose two directions keep
 *    their own data rate, latency and jitter (FIFO kept, as in the in-tree engine); every
 *    packet is padded so that its size on the wire equals the in-tree engine's (header_bytes
 *    beyond a UDP datagram's payload, 24 more for a TCP segment);
 *  - loss is an ns-3 error model on the receiving device of each direction, drawn per
 *    packet from fixed random streams (seed, run, link), so a (seed, run) pair is a pure
 *    function of the configuration and nested across loss levels;
 *  - datagram delivery: a message is ceil(bytes / (mtu - 28)) UDP datagrams, delivered when
 *    all arrive and lost if one is lost (the C side keeps the bytes; ns-3 carries sizes);
 *  - stream delivery: one ns-3 TCP connection per unordered node pair, established before
 *    time 0 (the handshake is not charged), with Linux-like settings (halo_ns3_settings,
 *    halo_ns3_tcp_timing). ns-3 3.37 has no tail loss probes, no RACK, no F-RTO and no
 *    quick-ACK, and its timestamp option is unusable here: its gap to kernel TCP is measured
 *    per message size and loss rate in docs/ns3.md. It is an independent TCP implementation,
 *    not a bound on the kernel.
 *
 * ns-3 keeps process-global state (the simulator, the node list): one world may exist at a
 * time in a process (a second halo_ns3_new fails with HALO_ERR_AGAIN); sequential worlds are
 * independent and deterministic. NS_LOG and NS_GLOBAL_VALUE must be unset: ns-3 aborts on
 * unknown names in them, so halo_ns3_new refuses to start when they are set.
 */
#ifndef HALO_SIM_NS3_SHIM_H
#define HALO_SIM_NS3_SHIM_H

#include "core/status.h"
#include "core/transport.h"
#include "sim/sim.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ns-3-only settings of the TCP stack and queues. The shared TCP timing (initial window,
 * minimum RTO, delayed-ACK timeout, duplicate-ACK threshold, initial RTO) comes from
 * halo_sim_config.tcp; halo_ns3_tcp_timing turns it into ns-3 attributes the way Linux uses
 * it (docs/ns3.md, "Configured like Linux"). */
typedef struct halo_ns3_settings {
    char congestion[32];    /* "cubic" (Linux's default), "newreno", "linux-reno" */
    char recovery[16];      /* "prr" (Linux), "classic" */
    int segment_bytes;      /* TCP SegmentSize; 0 = mtu - 52 (1448 on Ethernet) */
    uint64_t sndbuf_bytes;  /* per socket (1 MiB) */
    uint64_t rcvbuf_bytes;  /* per socket (1 MiB) */
    int delack_count;       /* segments per delayed ACK (2: Linux ACKs every second full segment) */
    int sack;               /* SACK option on (1) */
    int timestamps;         /* timestamp option (0: ns-3 3.37 defect, see ns3_common.c) */
    int rack_stand_in;      /* 1: ReTxThreshold 1 instead of tcp.dupack_threshold. ns-3 3.37
                               has no RACK; on a path without reordering (every path here)
                               Linux's RACK marks a hole lost once a later segment is SACKed,
                               which a duplicate-ACK threshold of 1 reproduces (without RACK's
                               reorder timer of about 2 ticks). docs/ns3.md measures both. */
    uint64_t tick_ns;       /* the kernel timer tick the RTO and delayed ACK are rounded to
                               (4 ms: HZ=250, this machine's and Debian's kernel) */
    uint64_t queue_packets; /* device DropTail limit when the link sets no
                               queue_bytes (100000: unbounded in practice) */
} halo_ns3_settings;

/* Linux-like settings (cubic, PRR, 1 MiB buffers, SACK, ACK every second segment, 4 ms tick,
 * the RACK stand-in; timestamps off, see docs/ns3.md). */
void halo_ns3_settings_linux(halo_ns3_settings *s);

/*
 * The ns-3 TCP timer attributes that reproduce Linux's timers for a shared TCP configuration
 * (every value in nanoseconds):
 *  - Linux computes RTO = srtt + max(4 mdev, rto_min) in jiffies, rounded up to the tick
 *    (200 ms becomes 204 ms at HZ=250 on a LAN); ns-3 computes max(srtt + max(G, 4 rttvar),
 *    MinRto). With G = rto_min (rounded up to ticks) and MinRto = G + one tick, ns-3 gives
 *    Linux's value whenever srtt is below one tick, and within one tick otherwise;
 *  - Linux (since 6.7) caps the delayed-ACK timer at rto_min - 1 tick (at least one tick), so
 *    an ACK the receiver holds back never outlasts the sender's RTO; without this cap, an
 *    rto_min below the 40 ms delayed ACK makes ns-3 time out on every lone segment and stay
 *    at a window of one segment (the collapse of issue 13);
 *  - the SYN timeout (ConnTimeout) is rto_init (Linux: 1 s).
 */
typedef struct halo_ns3_timing {
    uint64_t rto_min_ns;      /* rto_min rounded up to ticks (Linux's tcp_rto_min) */
    uint64_t min_rto_ns;      /* ns-3 MinRto: rto_min_ns + one tick */
    uint64_t granularity_ns;  /* ns-3 ClockGranularity: rto_min_ns */
    uint64_t delack_ns;       /* ns-3 DelAckTimeout: min(delack, max(rto_min, 2 ticks) - tick) */
    uint64_t conn_timeout_ns; /* ns-3 ConnTimeout: rto_init */
} halo_ns3_timing;

/* Fills *out from tcp and s (s->tick_ns > 0; tcp->rto_min_ns > 0). Pure. */
void halo_ns3_tcp_timing(const halo_tcp_config *tcp, const halo_ns3_settings *s,
                         halo_ns3_timing *out);

/* ns-3's ReTxThreshold: 1 with the RACK stand-in, else tcp->dupack_threshold. Pure. */
int halo_ns3_retx_threshold(const halo_tcp_config *tcp, const halo_ns3_settings *s);

/* 1 if this build has the ns-3 backend, 0 if halo_ns3_new can only fail. */
int halo_ns3_available(void);

/* The ns-3 version this backend was built with ("3.37"), or "none". Static string. */
const char *halo_ns3_version(void);

/*
 * Creates an ns-3 world (a transport) from the same configuration as halo_sim_new; `ns3`
 * may be NULL (Linux-like settings). Every field is validated before ns-3 sees it, so bad
 * input is an error, never an abort. Errors: HALO_ERR_ARG with a message naming the node or
 * link and the field (as halo_sim_new, and: jitter or latency beyond ns-3's range, a TCP
 * setting out of range, an unknown congestion control or recovery, NS_LOG or
 * NS_GLOBAL_VALUE set in the environment, halo built without ns-3), HALO_ERR_AGAIN (another
 * ns-3 world exists in this process), HALO_ERR_NOMEM, HALO_ERR_IO (ns-3 failed to connect
 * the TCP mesh).
 */
int halo_ns3_new(halo_transport **out, const halo_sim_config *cfg, const halo_ns3_settings *ns3,
                 halo_err *err);

/* Copies node's statistics (retransmits: TCP segments sent again; timeouts: entries into
 * TCP's loss state; probes: always 0, ns-3 3.37 has no tail loss probes). `t` must come
 * from halo_ns3_new and `node` be in range (else *out is zeroed). */
void halo_ns3_get_stats(halo_transport *t, int node, halo_sim_node_stats *out);

/* 1 if `t` was made by halo_ns3_new (and is alive), else 0; NULL gives 0. */
int halo_ns3_owns(const halo_transport *t);

/* ns-3 events processed so far in this world. */
uint64_t halo_ns3_events(halo_transport *t);

/*
 * Writes the settings a world of `cfg` would use (engine, ns-3 version, the shared TCP
 * parameters, every ns-3 TCP attribute the shim sets, what ns-3 lacks, queue) as one JSON
 * object into buf (at most cap bytes, NUL-terminated; about 1200 bytes). `ns3` may be NULL
 * (Linux-like settings). Returns the length written, or HALO_ERR_ARG when it does not fit.
 */
int halo_ns3_settings_json(const halo_sim_config *cfg, const halo_ns3_settings *ns3, char *buf,
                           size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* HALO_SIM_NS3_SHIM_H */
