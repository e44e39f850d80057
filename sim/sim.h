/*
 * The discrete-event simulator: a world of simulated devices and links behind the core's
 * transport interface. Time is virtual (integer nanoseconds); events are ordered by
 * (time, insertion sequence); every random draw comes from a stream derived from
 * (seed, run, link or node, purpose). A simulation is therefore a pure function of its
 * configuration, seed and run: the same inputs give byte-identical results in any process.
 *
 * Topology: a star through one switch. Node i has an uplink (node -> switch) and a downlink
 * (switch -> node); a packet from a to b is serialised onto uplink[a], crosses it, is
 * stored and forwarded onto downlink[b] (sharing that port's queue with everything else
 * headed to b: incast), and crosses it. Each directed link has bandwidth, propagation
 * latency, jitter, MTU, per-packet header overhead, an optional queue limit and a loss
 * model (Bernoulli or Gilbert-Elliott), drawn independently per link and packet.
 *
 * Delivery semantics:
 *  - datagram: a message is cut into ceil(bytes / (mtu - 28)) fragments; it is delivered
 *    when the last fragment arrives, and lost if any fragment is lost;
 *  - stream: one ordered, reliable byte stream per ordered node pair (a TCP model with
 *    Linux-like timing: RTO = srtt + max(4 rttvar, 200 ms) with exponential backoff, tail
 *    loss probes, fast retransmit on three duplicate ACKs, delayed ACKs of 40 ms, slow
 *    start and congestion avoidance); loss becomes delay, and a message waits for every
 *    earlier byte of its stream (head-of-line blocking).
 *
 * Devices: each node has a profile; a charged cost takes
 *     ops * op_overhead + max(flops / flops_per_s, bytes / mem_bw)
 * (a roofline), during which the node is busy: its later sends leave later and
 * now_ns(node) reads its own clock, never behind the world's. Host costs of messages: a
 * send keeps the sender busy send_ns (+ copying) before the message leaves, and a message
 * that arrives reaches the application recv_ns (+ copying) after the node is free to take
 * it, with the node busy meanwhile.
 */
#ifndef HALO_SIM_H
#define HALO_SIM_H

#include "core/delivery.h"
#include "core/transport.h"

#include <stdint.h>

enum halo_loss_model {
    HALO_LOSS_NONE = 0,
    HALO_LOSS_BERNOULLI = 1, /* each packet lost with probability p */
    HALO_LOSS_GILBERT = 2,   /* two-state Markov chain per packet (Gilbert-Elliott) */
};

typedef struct halo_loss_spec {
    int model;         /* enum halo_loss_model */
    double p;          /* Bernoulli loss probability, [0, 1) */
    double p_good_bad; /* Gilbert-Elliott per packet: P(good -> bad) after each packet */
    double p_bad_good; /* Gilbert-Elliott per packet: P(bad -> good) after each packet */
    double loss_good;  /* Gilbert-Elliott: loss probability in the good state */
    double loss_bad;   /* Gilbert-Elliott: loss probability in the bad state */
    /* Gilbert-Elliott in time (when mean_bad_ns > 0; the per-packet probabilities are then
       unused): the state is a continuous-time Markov chain with exponential sojourns of
       these means, looked at when a packet is sent, so an idle link (a retransmission
       timeout) recovers as a real burst ends. */
    uint64_t mean_good_ns, mean_bad_ns;
} halo_loss_spec;

/* Mean loss rate of a loss spec (stationary rate for Gilbert-Elliott). */
double halo_loss_mean(const halo_loss_spec *l);

/*
 * Gilbert-Elliott from a mean loss rate (with l->loss_good and l->loss_bad set, mean in
 * [loss_good, loss_bad)) and a mean burst: in time (burst_ns > 0, the mean length of a bad
 * period) or per packet (burst_packets > 0, the mean number of packets sent in a bad
 * period). Fills the other fields of l. Returns 0, or -1 when the mean is out of range.
 */
int halo_loss_gilbert_from_mean(halo_loss_spec *l, double mean, uint64_t burst_ns,
                                double burst_packets);

typedef struct halo_link_spec {
    double bandwidth_bps; /* bits per second, > 0 */
    uint64_t latency_ns;  /* one-way propagation delay */
    uint64_t jitter_ns;   /* extra delay per packet, uniform in [0, jitter_ns]; FIFO kept */
    int mtu_bytes;        /* largest IP packet, 576..65535 */
    int header_bytes;     /* per-packet bytes on the wire beyond a UDP datagram's data: link
                             framing + IPv4 + UDP (66 on Ethernet: 38 + 20 + 8). A TCP
                             segment carries 24 more (TCP header with timestamps, 32 bytes,
                             instead of UDP's 8), so its MSS is mtu - 52. */
    uint64_t queue_bytes; /* drop-tail queue limit, 0 = unbounded */
    halo_loss_spec loss;
} halo_link_spec;

/* halo_device_profile.core_placement */
enum {
    HALO_CORES_SHARED = 0,
    HALO_CORES_WAKE = 1
};

typedef struct halo_device_profile {
    double flops_per_s;      /* sustained floating-point rate, > 0 */
    double mem_bw_bps;       /* sustained memory bandwidth in bytes per second, > 0 */
    uint64_t mem_bytes;      /* memory available for weights and caches */
    double storage_bw_bps;   /* sequential read bandwidth of storage, bytes per second (0: reads
                                cost no time; halo_cost.load_bytes and prefetch_bytes) */
    uint64_t op_overhead_ns; /* fixed cost of each kernel invocation (halo_cost.ops) */
    double strided_bw_bps;   /* bandwidth for halo_cost.strided_bytes, bytes per second
                                (0: mem_bw_bps, like every other byte) */
    double compute_cv;       /* coefficient of variation of each compute segment's time: a
                                log-normal factor of mean 1 drawn per segment from the
                                stream (seed, run, node, 3); 0 = deterministic times */
    /* Host costs of the network stack on this device, charged to its CPU (it is busy): a
       message sent costs send_ns, one received recv_ns (wake-up, system call) before the
       application sees it; both add copy_ns_per_kb per KiB of message. 0 = free. */
    uint64_t send_ns, recv_ns;
    double copy_ns_per_kb;
    /* Devices on one machine (several processes of a cluster on one host): devices with the
       same host > 0 share its `cores` cores. A compute segment or host cost that starts while k
       other devices of the host are busy takes max(1, (k + 1) / cores) times longer. 0 = a device
       with a CPU of its own. */
    int host, cores;
    /* The share of each host cost (send_ns, recv_ns, the copy) that is waiting rather than CPU
       work, in [0, 1]: the wake-up of a blocked process, which the kernel overlaps with other
       processes' work. On a shared host that share comes first, takes no core (other devices
       do not count the device as busy during it) and is not stretched by sharing; the rest is
       charged as CPU work as above. A device's own time is the same (it waits either way).
       0 = every host cost is CPU work (the default); no effect without a shared host. */
    double host_overlap;
    /* The wake-up of a waiting receiver varies (the exit from an idle state, the
       hypervisor's scheduling of a virtual CPU): a message that arrives while its device is
       idle (not busy computing or in a host cost) reaches the application after an extra
       wait drawn from an exponential distribution of mean recv_jitter_ns, from the stream
       (seed, run, node, 4). Waiting, not CPU work: it takes no core of a shared host. 0 = a
       fixed wake-up (the default). */
    uint64_t recv_jitter_ns;
    /* A wake-up after a long sleep costs more (an idle virtual CPU's exit from halt, caches
       gone cold): a message that finds its device idle since `idle` ns waits a further
       cold_wake_ns * (1 - exp(-(idle / cold_tau_ns)^4)) before the application sees it: next
       to nothing after half of cold_tau_ns (6%), half after 0.91 cold_tau_ns, nearly all
       after 1.5 (the kernel's exchanges here: 1 ms apart warm, 3 ms half cold, 10 ms cold, a
       threshold that 1 - exp(-idle / tau) and 1 - exp(-(idle / tau)^2) could not follow,
       docs/kernel-tcp.md). Waiting, not CPU work, like recv_jitter_ns. 0 = a wake-up that
       does not depend on the sleep (the default); both or neither. */
    uint64_t cold_wake_ns, cold_tau_ns;
    /* Memory bandwidth shared by the devices of one host (host > 0), bytes per second: a
       compute segment that starts while k other devices of the host are computing reads its
       weights at min(its own bandwidth, host_mem_bw_bps / m), m = k + 1 but at most `cores`
       (the devices that run at once; the rest wait for a core, above), for its memory bytes
       and its strided bytes alike (fixed at the start, as the cores' share). Not for weights
       in the cache (weights_cached). Measured apart from any judged cell: two single-device
       runs at once, each R times slower than alone, give host_mem_bw = 2 mem_bw / R. 0 = each
       device has its own memory bandwidth (the default). */
    double host_mem_bw_bps;
    /* How the host's cores are given out (with host_mem_bw_bps, sim/hostshare.h):
       HALO_CORES_SHARED (the default) one pool shared evenly by every computing device;
       HALO_CORES_WAKE each device on one core at a time, chosen when its segment starts as
       Linux places a task it wakes (the core it last ran on if idle, else the first idle
       one, else its last core), sharing only that core: four processes on two cores can sit
       three to one (distributed-llama Q40 T on 4 nodes here: 60 ms/token unpinned, 50 pinned
       two and two, docs/ground-truth.md). */
    int core_placement;
    /* With HALO_CORES_WAKE: the period of the host's balance tick (sim/hostshare.h): at every
       multiple of it, while a core idles and another runs two or more devices, one of those
       moves to the idle core, as Linux's balancing pulls a waiting task at its scheduler tick
       (CONFIG_HZ 250 here: 4 ms). 0 = never (the default): an imbalance stays until a segment
       ends. */
    uint64_t core_balance_ns;
    /* A cache that holds a small model's weights (issue 13: the bundled stories260K, 1 MB,
       ran 1.4x faster on one device here than its bytes at memory bandwidth allow). When the
       model's weight bytes per token fit in cache_bytes, every byte a compute segment reads
       (strided or not) goes at cache_bw_bps instead. The whole model, not a node's share, is
       what must fit: a rule that errs toward memory for models near the cache size. 0 = no
       cache model (the default). weights_cached is set by whoever knows the model
       (sim/simrun.c); halo_device_time_ns only reads it. */
    uint64_t cache_bytes;
    double cache_bw_bps;
    int weights_cached;
} halo_device_profile;

/* 1 when a device with profile p holds a model of bytes_per_token weight bytes per token in
   its cache (cache_bytes > 0, cache_bw_bps > 0 and the bytes fit). */
int halo_device_caches(const halo_device_profile *p, uint64_t bytes_per_token);

/* The bandwidth a device with profile p reads weights at: cache_bw_bps when
   p->weights_cached, else mem_bw_bps. */
double halo_device_weight_bw(const halo_device_profile *p);

/*
 * Host cost of one message of `len` bytes on a device with profile `p`: `per_message_ns`
 * (send_ns or recv_ns: the system call and wake-up of one message, however many packets or
 * datagrams carry it) plus one copy at copy_ns_per_kb.
 */
uint64_t halo_device_host_ns(const halo_device_profile *p, uint64_t per_message_ns, size_t len);

/* The extra wake-up of a device with profile `p` that has been idle `idle_ns`:
   cold_wake_ns * (1 - exp(-(idle_ns / cold_tau_ns)^4)), 0 without a cold wake-up. */
uint64_t halo_device_cold_wake_ns(const halo_device_profile *p, uint64_t idle_ns);

/* Time a device with profile `p` takes for `cost` (at cache_bw_bps when p->weights_cached). */
uint64_t halo_device_time_ns(const halo_device_profile *p, const halo_cost *cost);

/* A simulated device's clocks: busy computing until, and its storage channel (one, reading
   in the order asked). Zero-initialised at the start. */
typedef struct halo_device_clock {
    uint64_t busy_until_ns;
    uint64_t storage_free_ns;   /* the channel is reading until then */
    uint64_t prefetch_ready_ns; /* the last read-ahead completes then */
} halo_device_clock;

struct halo_sim_node_stats;

/*
 * Charges `cost` to a device whose clock reads now_ns (>= its busy_until_ns): waits for the
 * last read-ahead if cost->uses_prefetch, reads cost->load_bytes, then computes, and starts
 * reading cost->prefetch_bytes in the background as the compute starts (storage at
 * p->storage_bw_bps; 0 = reads cost no time). Updates the clock and st's compute and
 * storage fields. Both network engines (sim/sim.c, sim/ns3/) charge through it.
 */
void halo_device_charge(halo_device_clock *c, const halo_device_profile *p, uint64_t now_ns,
                        const halo_cost *cost, struct halo_sim_node_stats *st);

typedef struct halo_sim_config {
    int n_nodes;                        /* >= 1 */
    const halo_device_profile *devices; /* (n_nodes) */
    const halo_link_spec *uplink;       /* (n_nodes): node -> switch */
    const halo_link_spec *downlink;     /* (n_nodes): switch -> node */
    int delivery;                       /* enum halo_delivery */
    halo_tcp_config tcp;                /* stream delivery settings */
    int parity;                         /* datagram delivery: after every application message
                                           its parity fragments (a copy of a single one; P
                                           and, for 2..64, Q): the message arrives when as
                                           many fragments as it has data ones have
                                           (engine.parity; the in-tree engine only) */
    uint64_t heartbeat_ns;              /* node 0 pings every other node this often, 0 = never */
    uint64_t seed, run;                 /* random streams */
    long trace_max_events;              /* > 0: keep a trace of at most this many events
                                           (halo_sim_trace_write; the in-tree engine only) */
    const char *pcap_prefix;            /* ns-3 only: pcap files PREFIX-D.pcap (device D) of
                                           every device (borrowed until the world is made) */
} halo_sim_config;

/*
 * Creates a simulated world (a transport). Errors: HALO_ERR_ARG with a message naming the
 * node or link and the field (bandwidth <= 0, loss >= 1, MTU out of range, ...),
 * HALO_ERR_NOMEM.
 */
int halo_sim_new(halo_transport **out, const halo_sim_config *cfg, halo_err *err);

/*
 * Writes the trace of a world made with cfg->trace_max_events > 0 to `path` as trace-event
 * JSON (sim/trace.h: per device its compute, sends, receives, packets lost, retransmissions,
 * timeouts, probes, and the root's waits at syncs and deadlines); node_names (may be NULL)
 * name the devices. Errors: HALO_ERR_ARG (the world keeps no trace), HALO_ERR_IO.
 */
int halo_sim_trace_write(halo_transport *t, const char *path, const char *const *node_names,
                         halo_err *err);

typedef struct halo_sim_node_stats halo_sim_node_stats;

struct halo_sim_node_stats {
    uint64_t compute_ns;                           /* time busy computing */
    uint64_t msgs_sent, msgs_delivered, msgs_lost; /* messages from this node */
    uint64_t packets_sent, packets_lost;           /* on this node's uplink */
    uint64_t bytes_on_wire;                        /* uplink bytes, headers included */
    uint64_t retransmits;                          /* stream: segments sent again from this node */
    uint64_t timeouts;                             /* stream: RTO expiries */
    uint64_t probes;                               /* stream: tail loss probes */
    uint64_t dsacks;       /* stream: ACKs this node's senders received that report a duplicate
                              segment (D-SACK: a retransmission that was not needed); in-tree only */
    uint64_t read_segs;    /* stream: in-order segments whose ACK waited for the application's
                              read (in-tree only) */
    uint64_t read_wait_ns; /* stream: their total wait from arrival to the read */
    /* storage (halo_cost.load_bytes / prefetch_bytes; core/memplan.h) */
    uint64_t storage_bytes;    /* bytes read */
    uint64_t storage_read_ns;  /* time the storage channel spent reading */
    uint64_t storage_stall_ns; /* time compute waited for storage; the rest of the reading
                                  was hidden behind compute, communication and waiting */
    uint64_t host_ns;          /* time busy sending and receiving messages (host costs) */
    uint64_t queue_drops;      /* of packets_lost, those a full drop-tail queue dropped (on
                                  this node's uplink or on the downlink to their destination);
                                  the rest the links' loss models lost */
};

/* Copies node's statistics. `t` must be a simulator. */
void halo_sim_get_stats(halo_transport *t, int node, halo_sim_node_stats *out);

/*
 * A test hook: the index-th packet (0: the next one) that node puts on its uplink from now on
 * is lost, besides what the link's loss model loses; its random draws are made as usual, so
 * the rest of the run keeps its loss pattern. At most HALO_SIM_MAX_DROPS pending per node;
 * HALO_ERR_ARG beyond. `t` must be a simulator.
 */
#define HALO_SIM_MAX_DROPS 8
int halo_sim_drop_packet(halo_transport *t, int node, uint64_t index);

/* Events processed so far (for the simulator's own speed measurements). */
uint64_t halo_sim_events(halo_transport *t);

#endif /* HALO_SIM_H */
