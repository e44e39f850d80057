/*
 * The discrete-event simulator behind the transport interface. Sections: links (queueing,
 * serialisation, loss), packets and their two hops, datagram delivery, the TCP model,
 * devices and timers, the run loop, setup.
 *
 * Everything is driven by one event queue ordered by (time, insertion sequence). Random
 * draws come from per-link streams (seed, run, link, purpose), so adding a node or a link
 * does not reshuffle the loss pattern of the others.
 */
#include "sim/sim.h"

#include "core/evq.h"
#include "core/rng.h"
#include "core/wire.h"
#include "sim/cubic.h"
#include "sim/hostshare.h"
#include "sim/trace.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    EV_TIMER = 1, /* a user timer: fn(ptr2) */
    EV_SEND,      /* an application send whose node was busy: enqueue now */
    EV_SWITCH,    /* a packet crossed its uplink: forward onto the downlink */
    EV_ARRIVE,    /* a packet crossed its downlink: hand it to the receiving node */
    EV_TCP_TIMER, /* a connection timer (u64 = which) */
    EV_HEARTBEAT, /* node 0 pings every other node */
};

/*
 * What a message is: the application's, or a heartbeat of the transport itself (a socket
 * cluster's root pings each worker every heartbeat_ms over the same connection, and the
 * worker answers at once; net/transport.c). Heartbeats cost what any message costs on the
 * wire and in host time but are never handed to the application, and are not counted in
 * the message statistics.
 */
enum {
    MSG_APP = 0,
    MSG_PING = 1,
    MSG_PONG = 2,
    HEARTBEAT_BYTES = 48, /* a frame with no payload: header and tag (net/frame.h) */
};

/* Heartbeats stop once the application has done nothing for this long (simulated time),
 * so that a stuck run still ends with "nothing pending" instead of pinging forever. */
#define HEARTBEAT_IDLE_NS 600000000000ull

enum {
    UDP_IP_HEADER = 28,
    TCP_EXTRA_HEADER = 24,
    TCP_IP_HEADER = 52
};

/* Linux's TCP_TIMEOUT_MIN_US: the least the loss probe (several segments out) and the RACK
   reorder timer add to their timeout, before the conversion to jiffies (since Linux 6.6; it
   was 2 jiffies, 8 ms at HZ = 250) */
#define TCP_TIMEOUT_MIN_NS 2000000ull

enum {
    TCP_TIMER_XMIT = 0, /* the sender's RTO, loss probe or RACK reorder timer (one of them) */
    TCP_TIMER_DELACK,   /* the receiver's delayed ACK */
    TCP_TIMER_READ,     /* the receiving application reads: ACK what it read (exact time) */
    TCP_TIMER_SACK,     /* a compressed SACK leaves (an hrtimer in Linux: exact time) */
    TCP_N_TIMERS
};

/* A sender's congestion state (Linux's icsk_ca_state; CWR is folded into OPEN). */
enum {
    CA_OPEN = 0,     /* nothing SACKed or lost outstanding: loss probes allowed */
    CA_DISORDER = 1, /* SACKs seen, no loss marked yet */
    CA_RECOVERY = 2, /* fast recovery (RACK marked a loss), window by PRR */
    CA_LOSS = 3,     /* after a retransmission timeout: slow start from one segment */
};

/* ==== Links ==== */

typedef struct link {
    halo_link_spec spec;
    uint64_t free_at_ns;      /* the transmitter is busy until then */
    uint64_t last_arrival_ns; /* arrivals stay in order despite jitter */
    int ge_bad;               /* Gilbert-Elliott state */
    uint64_t ge_at_ns;        /* Gilbert-Elliott in time: when the state was last looked at */
    halo_rng rng;
    uint64_t packets, lost, bytes;
    uint64_t drop[HALO_SIM_MAX_DROPS]; /* packets to lose, by ordinal (halo_sim_drop_packet) */
    int n_drop;
} link;

/* Advances a time-based Gilbert-Elliott state to time t (one draw). */
static void ge_advance(link *l, uint64_t t) {
    const halo_loss_spec *s = &l->spec.loss;
    double dt = (double)(t > l->ge_at_ns ? t - l->ge_at_ns : 0);
    l->ge_at_ns = t;
    double a = 1.0 / (double)s->mean_good_ns, b = 1.0 / (double)s->mean_bad_ns;
    double pi_bad = a / (a + b), decay = exp(-(a + b) * dt);
    /* P(bad at t | state then): the chain relaxes to pi_bad at rate a + b */
    double p_bad = l->ge_bad ? pi_bad + (1.0 - pi_bad) * decay : pi_bad * (1.0 - decay);
    l->ge_bad = halo_rng_f64(&l->rng) < p_bad;
}

/* Draws whether the next packet on `l`, sent at time t, is lost (before queueing). */
static int draw_loss(link *l, uint64_t t) {
    const halo_loss_spec *s = &l->spec.loss;
    switch (s->model) {
    case HALO_LOSS_BERNOULLI:
        return s->p > 0 && halo_rng_f64(&l->rng) < s->p;
    case HALO_LOSS_GILBERT: {
        if (s->mean_bad_ns > 0) {
            ge_advance(l, t);
            double p = l->ge_bad ? s->loss_bad : s->loss_good;
            return p > 0 && halo_rng_f64(&l->rng) < p;
        }
        double p = l->ge_bad ? s->loss_bad : s->loss_good;
        int lost = p > 0 && halo_rng_f64(&l->rng) < p;
        double flip = l->ge_bad ? s->p_bad_good : s->p_good_bad;
        if (flip > 0 && halo_rng_f64(&l->rng) < flip)
            l->ge_bad = !l->ge_bad;
        return lost;
    }
    default:
        return 0;
    }
}

double halo_loss_mean(const halo_loss_spec *s) {
    switch (s->model) {
    case HALO_LOSS_BERNOULLI:
        return s->p;
    case HALO_LOSS_GILBERT: {
        double bad;
        if (s->mean_bad_ns > 0) {
            bad = (double)s->mean_bad_ns / (double)(s->mean_bad_ns + s->mean_good_ns);
        } else {
            double den = s->p_good_bad + s->p_bad_good;
            bad = den > 0 ? s->p_good_bad / den : 0.0;
        }
        return bad * s->loss_bad + (1.0 - bad) * s->loss_good;
    }
    default:
        return 0.0;
    }
}

int halo_loss_gilbert_from_mean(halo_loss_spec *l, double mean, uint64_t burst_ns,
                                double burst_packets) {
    if (!(l->loss_bad > l->loss_good) || !(mean >= l->loss_good) || !(mean < l->loss_bad))
        return -1;
    double pi_bad = (mean - l->loss_good) / (l->loss_bad - l->loss_good);
    l->model = HALO_LOSS_GILBERT;
    if (burst_ns > 0) {
        l->mean_bad_ns = burst_ns;
        double good = pi_bad > 0 ? (double)burst_ns * (1.0 - pi_bad) / pi_bad : 1e30;
        l->mean_good_ns = good < 9e18 ? (uint64_t)llround(good) : UINT64_MAX / 2;
        l->p_good_bad = l->p_bad_good = 0;
        return 0;
    }
    if (!(burst_packets >= 1))
        return -1;
    l->mean_good_ns = l->mean_bad_ns = 0;
    l->p_bad_good = 1.0 / burst_packets;
    l->p_good_bad = pi_bad < 1 ? l->p_bad_good * pi_bad / (1.0 - pi_bad) : 1.0;
    return l->p_good_bad <= 1.0 ? 0 : -1;
}

/* link_transmit's result for a packet that a full queue dropped (UINT64_MAX: lost on the
   wire). */
#define QUEUE_DROPPED (UINT64_MAX - 1)

/* A duration the model computes in double ns, rounded up (ceil) or to nearest, saturated at
   DURATION_MAX_NS (146 years) instead of overflowing: llround and the cast are undefined past
   2^63, and a wrapped duration would be a nonsense time. The scenario's ranges keep durations
   far below it; the clamp only guards the arithmetic (sums of a few stay below 2^64). */
#define DURATION_MAX_NS (1ull << 62)

static uint64_t duration_ns(double ns, int up) {
    if (!(ns > 0))
        return 0;
    if (ns >= (double)DURATION_MAX_NS)
        return DURATION_MAX_NS;
    return (uint64_t)(up ? ceil(ns) : llround(ns));
}

/*
 * Puts a packet of `wire_bytes` onto `l` at time `t`. Returns its arrival time at the far
 * end, UINT64_MAX when it is lost on the wire, or QUEUE_DROPPED when a full queue drops it.
 */
static uint64_t link_transmit(link *l, uint64_t t, uint64_t wire_bytes) {
    l->packets++;
    l->bytes += wire_bytes;
    uint64_t start = l->free_at_ns > t ? l->free_at_ns : t;
    if (l->spec.queue_bytes) {
        double backlog = (double)(start - t) * l->spec.bandwidth_bps / 8e9;
        if (backlog + (double)wire_bytes > (double)l->spec.queue_bytes) {
            l->lost++;
            return QUEUE_DROPPED;
        }
    }
    uint64_t ser = duration_ns((double)wire_bytes * 8e9 / l->spec.bandwidth_bps, 1);
    l->free_at_ns = start + ser;
    int dropped = 0;
    for (int i = 0; i < l->n_drop; i++)
        if (l->drop[i] == l->packets) {
            l->drop[i] = l->drop[--l->n_drop];
            dropped = 1;
            break;
        }
    if (draw_loss(l, start) || dropped) {
        l->lost++;
        return UINT64_MAX;
    }
    uint64_t jitter = 0;
    if (l->spec.jitter_ns)
        jitter = halo_rng_u64(&l->rng) % (l->spec.jitter_ns + 1);
    uint64_t arrive = l->free_at_ns + l->spec.latency_ns + jitter;
    if (arrive < l->last_arrival_ns)
        arrive = l->last_arrival_ns;
    l->last_arrival_ns = arrive;
    return arrive;
}

/* Messages of 2..this many fragments get a second parity datagram (net/frame.h's
   HALO_NET_Q_MAX_FRAGMENTS; sim does not include net/). */
#define HALO_NET_Q_MAX_FRAGMENTS_SIM 64

/* ==== Structures ==== */

typedef struct dgram {
    int src, dst;
    int msg;       /* MSG_APP, MSG_PING or MSG_PONG */
    int remaining; /* fragments not yet arrived or lost */
    int lost;
    int arrived; /* fragments arrived */
    int need;    /* fragments that make the message: all of them, or all but one with a
                    parity fragment (any n of the n data fragments and the parity) */
    int delivered;
    size_t len;
    unsigned char *data;
} dgram;

typedef struct segment {
    uint64_t seq, end; /* stream byte range */
    uint64_t sent_ns;  /* last transmission */
    int retransmitted; /* sent more than once (Karn: no RTT sample) */
    int sacked;        /* the receiver holds it out of order */
    int lost;          /* marked lost, waiting to be sent again */
} segment;

typedef struct smsg {
    int msg;          /* MSG_APP, MSG_PING or MSG_PONG */
    uint64_t end_seq; /* stream offset just past the message */
    size_t len;
    unsigned char *data;
} smsg;

typedef struct range {
    uint64_t start, end;
} range;

typedef struct conn conn;

typedef struct packet {
    int kind; /* 0 datagram fragment, 1 TCP segment (data and/or ACK) */
    int src, dst;
    uint64_t wire_bytes;
    dgram *dg;       /* fragment's message */
    conn *data_conn; /* TCP: connection src->dst the data belongs to (NULL: pure ACK) */
    uint64_t seq, end;
    conn *ack_conn; /* TCP: connection dst->src this packet acknowledges (NULL: none) */
    uint64_t ack;   /* cumulative ACK */
    range sack[4];  /* receiver's out-of-order blocks (first = most recent) */
    int n_sack;
    int dsack; /* the ACK reports a duplicate segment (D-SACK) */
    struct packet *next_free;
} packet;

struct conn {
    int src, dst; /* data flows src -> dst */
    /* sender */
    uint64_t write_seq, snd_una, snd_nxt;
    smsg *msgs; /* queued messages in order, ring of cap_msgs */
    int head_msg, n_msgs, cap_msgs;
    segment *segs; /* in flight, ordered by seq, ring */
    int head_seg, n_segs, cap_segs;
    double cwnd, ssthresh;             /* segments */
    halo_cubic cubic;                  /* cubic's growth state (tcp.cc cubic) */
    uint32_t cwnd_cnt;                 /* cubic: segments acknowledged toward the next +1 */
    int ca_state;                      /* CA_OPEN .. CA_LOSS */
    uint64_t high_seq;                 /* a recovery or loss episode ends when snd_una reaches it */
    double prior_cwnd, prior_ssthresh; /* before the episode (undo) */
    int undo_retrans;           /* retransmissions of the episode not reported duplicate (D-SACK) */
    int prr_delivered, prr_out; /* proportional rate reduction (RFC 6937) in recovery */
    int cwnd_limited;           /* the window held data back in the current window */
    int max_out;                /* most segments out in the current window */
    uint64_t cwnd_usage_seq;    /* the current window ends when snd_una passes it */
    uint64_t tlp_high_seq;      /* a loss probe is out until snd_una reaches it (0: none) */
    int tlp_retrans;            /* that probe was a retransmission */
    uint64_t last_send_ns;      /* last data sent (slow start after idle) */
    uint64_t srtt_ns, rttvar_ns, min_rtt_ns;
    int have_rtt;
    int backoff;
    uint64_t rack_xmit_ns; /* send time of the most recently sent delivered segment */
    uint64_t rack_end;     /* its end sequence (orders segments sent at the same instant) */
    uint64_t rack_rtt_ns;  /* RTT of the last delivered segment (RACK's rack.rtt) */
    int xmit_kind;         /* what TCP_TIMER_XMIT is: XMIT_RTO, XMIT_TLP or XMIT_REO */
    uint64_t timer_id[TCP_N_TIMERS];
    int timer_on[TCP_N_TIMERS];
    /* receiver (state for the data arriving from src) */
    uint64_t rcv_nxt;
    uint64_t rcv_wup; /* rcv_nxt when the last ACK left */
    range *ooo;       /* out-of-order ranges, sorted, disjoint */
    int n_ooo, cap_ooo;
    uint64_t sack_recent; /* start of the latest out-of-order arrival (first SACK block) */
    int quickack;         /* segments still to ACK at once (quickack mode) */
    int pingpong;         /* interactive (Linux's pingpong mode): the answer carries the ACK */
    int pushed;           /* short segments arrived since the last ACK (ICSK_ACK_PUSHED, 2) */
    int ack_pending;      /* a delayed ACK is armed */
    int dsack;            /* a duplicate arrived: the next ACK reports it */
    uint64_t dup_rcv_nxt; /* the rcv_nxt that dup_acks counts for */
    int dup_acks;         /* duplicate ACKs sent at once for it */
    int compressed;       /* SACKs held back since the last ACK */
    uint64_t last_rcv_ns; /* last data arrival */
    int rcvd_any;
    uint64_t unread_n;      /* in-order segments whose ACK waits for the application's read */
    uint64_t unread_sum_ns; /* the sum of their arrival times (read_wait_ns) */
    uint64_t delivered_end; /* end of the last message delivered (the head message's start) */
    int read_blocked;       /* tcp.read_order rank: unread data waits for a lower-ranked peer */
    int awaited;            /* tcp.read_order rank: dst waits for this link's next message
                               (halo_transport_expect), not yet delivered */
};

typedef struct node {
    halo_device_profile dev;
    halo_device_clock clock;
    halo_recv_fn recv;
    void *recv_ctx;
    halo_sim_node_stats stats;
    halo_rng rng;        /* compute_cv draws (purpose 3) */
    halo_rng jitter_rng; /* recv_jitter_ns draws (purpose 4) */
    /* The latest waiting part of a host cost (host_overlap): the device takes no core of its
       host in [wait_from_ns, wait_until_ns); contiguous waits are merged. */
    uint64_t wait_from_ns, wait_until_ns;
    /* Its compute segments that have not ended by share_base_ns, in order, as its host's
       memory bandwidth and cores are planned to be shared (host_mem_bw_bps, sim/hostshare.h) */
    halo_share_seg *segs;
    int nseg, capseg;
    uint64_t share_base_ns;
    int last_core; /* core_placement wake: the core its last segment ran on (at first its rank
                      among its host's devices mod cores) */
} node;

typedef struct sim {
    halo_transport base;
    int n;
    node *nodes;
    link *up, *down;
    conn **conns; /* (n, n), created on first use */
    int delivery;
    int parity; /* datagram delivery: a parity fragment after every message of 2+ */
    halo_tcp_config tcp;
    uint64_t heartbeat_ns;
    uint64_t last_app_ns; /* the application's last send, charge or timer */
    halo_evq *q;
    uint64_t now_ns;
    int delivering; /* the node whose receive callback runs, or -1 */
    uint64_t events;
    packet *free_packets;
    int failed;           /* an allocation failed inside an event: run() reports it */
    halo_trace *trace;    /* NULL unless halo_sim_config.trace_max_events > 0 (issue 17) */
    halo_share_seg *plan; /* a host's segments while they are planned (share_host) */
    uint64_t *plan_old;   /* their ends before the plan */
    int capplan;
    struct share_shift *shifts; /* per node, while share_host moves them */
    uint64_t *rx_lost;          /* (n, n) [dst * n + src]: datagrams lost from src to dst */
} sim;

static sim *as_sim(halo_transport *t) {
    return (sim *)t;
}

static void push(sim *s, const halo_event *ev, uint64_t *id) {
    if (halo_evq_push(s->q, ev, id, NULL) != HALO_OK)
        s->failed = 1;
}

/* ==== Packets and hops ==== */

static packet *packet_get(sim *s) {
    packet *p = s->free_packets;
    if (p) {
        s->free_packets = p->next_free;
        memset(p, 0, sizeof *p);
        return p;
    }
    p = calloc(1, sizeof *p);
    if (!p)
        s->failed = 1;
    return p;
}

static void packet_put(sim *s, packet *p) {
    p->next_free = s->free_packets;
    s->free_packets = p;
}

static void dgram_fragment_done(sim *s, dgram *d, int lost);

/* Puts a packet on link l at time t: an event of `kind` when it reaches the far end, or,
 * when the link drops it, counted as lost by its source and recycled. */
static void hop(sim *s, packet *p, link *l, uint64_t t, int kind) {
    uint64_t at = link_transmit(l, t, p->wire_bytes);
    if (at >= QUEUE_DROPPED) {
        s->nodes[p->src].stats.packets_lost++;
        s->nodes[p->src].stats.queue_drops += at == QUEUE_DROPPED;
        if (s->trace)
            halo_trace_add(s->trace, p->src, HALO_TRACE_NET,
                           at == QUEUE_DROPPED
                               ? "queue drop"
                               : (p->kind == 0 ? "datagram lost"
                                               : (p->data_conn ? "segment lost" : "ack lost")),
                           t, t, 1, p->dst, p->data_conn ? (int64_t)p->seq : -1);
        if (p->kind == 0)
            dgram_fragment_done(s, p->dg, 1);
        packet_put(s, p);
        return;
    }
    halo_event ev = {.time_ns = at, .kind = kind, .ptr = p};
    push(s, &ev, NULL);
}

/* Sends a packet from its source at time t: onto the source's uplink. */
static void launch(sim *s, packet *p, uint64_t t) {
    node *src = &s->nodes[p->src];
    src->stats.packets_sent++;
    src->stats.bytes_on_wire += p->wire_bytes;
    hop(s, p, &s->up[p->src], t, EV_SWITCH);
}

static void at_switch(sim *s, packet *p) {
    hop(s, p, &s->down[p->dst], s->now_ns, EV_ARRIVE);
}

/* How many other devices of node i's host are busy (computing or in a system call, not
   waiting in the overlapped part of a host cost) at t. */
static int host_busy(const sim *s, int i, uint64_t t) {
    int k = 0;
    for (int j = 0; j < s->n; j++) {
        const node *o = &s->nodes[j];
        k += j != i && o->dev.host == s->nodes[i].dev.host && o->clock.busy_until_ns > t &&
             !(t >= o->wait_from_ns && t < o->wait_until_ns);
    }
    return k;
}

/*
 * What a piece of CPU work of dt ns starting at t on node i costs beyond dt because its
 * host's cores are shared: with k other devices of the host busy at t, it runs at
 * cores / (k + 1) of full speed when that is below 1 (fixed at the start: a fair-share
 * approximation). Compute and host costs (system calls, wake-ups, copies) both count.
 */
static uint64_t host_share_extra(const sim *s, int i, uint64_t t, uint64_t dt) {
    const node *n = &s->nodes[i];
    if (n->dev.host <= 0 || n->dev.cores <= 0 || dt == 0)
        return 0;
    double share = (double)(host_busy(s, i, t) + 1) / (double)n->dev.cores;
    return share > 1.0 ? duration_ns((double)dt * (share - 1.0), 0) : 0;
}

/*
 * Charges node i a host cost of `cost` ns starting at `start` (not before its busy end):
 * the waiting share (host_overlap, plus extra_wait ns of waiting that is not part of the
 * cost's CPU work) first, taking no core, then the CPU share, stretched when the host's
 * cores are shared. Sets busy_until_ns and adds to host_ns.
 */
static void charge_host(sim *s, int i, uint64_t start, uint64_t cost, uint64_t extra_wait) {
    node *n = &s->nodes[i];
    uint64_t wait = n->dev.host > 0 && n->dev.host_overlap > 0
                        ? (uint64_t)llround((double)cost * n->dev.host_overlap)
                        : 0;
    uint64_t cpu = cost - wait;
    wait += extra_wait;
    if (wait) {
        if (start > n->wait_until_ns)
            n->wait_from_ns = start;
        n->wait_until_ns = start + wait;
    }
    cpu += host_share_extra(s, i, start + wait, cpu);
    n->clock.busy_until_ns = start + wait + cpu;
    n->stats.host_ns += wait + cpu;
}

/* ==== Datagram delivery ==== */

/* A draw of an exponential distribution of mean `mean_ns`, in whole ns. */
static uint64_t exponential_ns(halo_rng *rng, uint64_t mean_ns) {
    return duration_ns(-(double)mean_ns * log(1.0 - halo_rng_f64(rng)), 0);
}

uint64_t halo_device_cold_wake_ns(const halo_device_profile *p, uint64_t idle_ns) {
    if (!p->cold_wake_ns || !p->cold_tau_ns)
        return 0;
    double x = (double)idle_ns / (double)p->cold_tau_ns;
    return duration_ns((double)p->cold_wake_ns * -expm1(-(x * x) * (x * x)), 0);
}

uint64_t halo_device_host_ns(const halo_device_profile *p, uint64_t per_message_ns, size_t len) {
    return per_message_ns + duration_ns(p->copy_ns_per_kb * (double)len / 1024.0, 0);
}

static void control_send(sim *s, int src, int dst, int msg);

/* The receiving node takes the message when it is free, after its receive cost; a ping is
   answered, a pong dropped. */
static void deliver(sim *s, int src, int dst, const unsigned char *data, size_t len, int msg) {
    node *n = &s->nodes[dst];
    if (msg == MSG_APP)
        s->nodes[src].stats.msgs_delivered++;
    /* the copy is of the message's size on the wire: an elided payload (a shape model's
       message, core/wire.h) stands for all of its bytes */
    uint64_t cost = halo_device_host_ns(&n->dev, n->dev.recv_ns,
                                        msg == MSG_APP ? halo_wire_charged_size(data, len) : len);
    /* a receiver that was waiting is woken, after a varying delay (recv_jitter_ns) and one
       that grows with how long it slept (cold_wake_ns); a busy one finds the message when it
       next asks */
    uint64_t wake = 0;
    if (n->clock.busy_until_ns <= s->now_ns) {
        if (n->dev.recv_jitter_ns)
            wake = exponential_ns(&n->jitter_rng, n->dev.recv_jitter_ns);
        wake += halo_device_cold_wake_ns(&n->dev, s->now_ns - n->clock.busy_until_ns);
    }
    if (cost || wake) {
        uint64_t start = n->clock.busy_until_ns > s->now_ns ? n->clock.busy_until_ns : s->now_ns;
        charge_host(s, dst, start, cost, wake);
        if (s->trace && msg == MSG_APP)
            halo_trace_add(s->trace, dst, HALO_TRACE_RECV, "recv", start, n->clock.busy_until_ns, 0,
                           src, (int64_t)len);
    } else if (s->trace && msg == MSG_APP) {
        halo_trace_add(s->trace, dst, HALO_TRACE_RECV, "recv", s->now_ns, s->now_ns, 1, src,
                       (int64_t)len);
    }
    if (msg == MSG_PING)
        control_send(s, dst, src, MSG_PONG);
    else if (msg == MSG_APP && n->recv) {
        s->delivering = dst;
        n->recv(n->recv_ctx, src, data, len);
        s->delivering = -1;
    }
}

/* A message is delivered when `need` of its fragments have arrived (all of them without
   parity: at the last one), and is lost if that never happens. */
static void dgram_fragment_done(sim *s, dgram *d, int lost) {
    d->lost |= lost;
    if (lost)
        s->rx_lost[(size_t)d->dst * (size_t)s->n + (size_t)d->src]++;
    if (!lost && ++d->arrived == d->need) {
        d->delivered = 1;
        deliver(s, d->src, d->dst, d->data, d->len, d->msg);
    }
    if (--d->remaining > 0)
        return;
    if (!d->delivered) {
        if (d->msg == MSG_APP)
            s->nodes[d->src].stats.msgs_lost++;
        if (s->trace && d->msg == MSG_APP)
            halo_trace_add(s->trace, d->src, HALO_TRACE_NET, "message lost", s->now_ns, s->now_ns,
                           1, d->dst, (int64_t)d->len);
    }
    free(d->data);
    free(d);
}

/* The bytes a message occupies on the wire before packet headers. */
static uint64_t message_bytes(const unsigned char *data, size_t len, int msg) {
    return msg == MSG_APP ? halo_wire_charged_size(data, len) : HEARTBEAT_BYTES;
}

/* Datagrams a message of `charged` bytes from src takes (one per MTU; at least one). */
static int fragments(const sim *s, int src, uint64_t charged) {
    uint64_t frag = (uint64_t)(s->up[src].spec.mtu_bytes - UDP_IP_HEADER);
    return charged == 0 ? 1 : (int)((charged + frag - 1) / frag);
}

static void dgram_send(sim *s, int src, int dst, unsigned char *data, size_t len, int msg,
                       uint64_t t) {
    const link *up = &s->up[src];
    uint64_t charged = message_bytes(data, len, msg);
    uint64_t frag = (uint64_t)(up->spec.mtu_bytes - UDP_IP_HEADER);
    int n_frag = fragments(s, src, charged);
    /* parity (net/transport.h): P, the XOR of the fragments, sent after them (of a single
       fragment a copy of it, as long as the message), then Q for 2..64 fragments; the
       message arrives when any n_frag of them have */
    int n_par = s->parity && msg == MSG_APP && charged > 0
                    ? (n_frag >= 2 && n_frag <= HALO_NET_Q_MAX_FRAGMENTS_SIM ? 2 : 1)
                    : 0;
    int n_sent = n_frag + n_par;
    dgram *d = calloc(1, sizeof *d);
    if (!d) {
        free(data);
        s->failed = 1;
        return;
    }
    *d = (dgram){.src = src,
                 .dst = dst,
                 .msg = msg,
                 .remaining = n_sent,
                 .need = n_frag,
                 .len = len,
                 .data = data};
    for (int i = 0; i < n_sent; i++) {
        packet *p = packet_get(s);
        if (!p) {
            dgram_fragment_done(s, d, 1);
            continue;
        }
        uint64_t last = charged - frag * (uint64_t)(n_frag - 1); /* the last fragment's */
        uint64_t bytes = i + 1 < n_frag ? frag : i >= n_frag && n_frag >= 2 ? frag : last;
        *p = (packet){.kind = 0,
                      .src = src,
                      .dst = dst,
                      .wire_bytes = bytes + (uint64_t)up->spec.header_bytes,
                      .dg = d};
        launch(s, p, t);
    }
}

/* ==== TCP model ==== */

/*
 * One connection per ordered node pair, with the mechanisms of Linux 6.x that decide what a
 * loss costs, each checked against a kernel trace (docs/kernel-tcp.md names the functions):
 *
 * Receiver. In-order data is ACKed when the application has read it (tcp_cleanup_rbuf): if
 * more than one full segment is unacknowledged, or a short (pushed) segment arrived outside
 * pingpong mode (two inside it); otherwise the delayed-ACK timer sends it. The application
 * reads a burst at once, rx_batch after its last segment, so a burst is ACKed once (with
 * tcp.read_order rank, not while a lower-ranked peer's message is part way in). A hole
 * filled, a duplicate, or quickack mode (at the start, after a receive gap longer than the
 * RTO, after a duplicate; not in pingpong mode) ACK at once. Out-of-order data is SACKed at
 * once for the first three duplicate ACKs of a hole, then the SACKs are compressed
 * (tcp_comp_sack_*). Pingpong mode: the receiver answered within the delayed-ACK time.
 *
 * Sender. Segments are sent while fewer than cwnd are in flight (neither SACKed nor marked
 * lost), lost ones first. RACK marks losses (reordering window min_rtt / 4, 0 in recovery or
 * once three segments are SACKed); a loss starts fast recovery with the window set by
 * proportional rate reduction, so retransmissions wait for ACKs. One timer per connection
 * (Linux's icsk_pending) is the tail loss probe (open state only, one probe at a time), the
 * RACK reorder timer or the RTO; a timeout marks every unSACKed segment lost and restarts
 * from one segment. cwnd shrinks to 0.7 (cubic) or 0.5 (Reno) on a loss and, above
 * ssthresh, grows as Linux's tcp_cubic.c grows it (sim/cubic.h: the curve in jiffies since the
 * last reduction, the TCP-friendly estimate, the rate recomputed at most once per HZ / 32
 * while the window stands, which freezes a window reduced every few tens of ms: the cluster
 * cells of docs/ground-truth.md) or by one segment per window acknowledged (Reno). One RTT sample
 * per ACK, from its oldest newly acknowledged segment (Karn: none if a retransmission is among
 * them; then SACK, then the timestamp of the first). An episode whose retransmissions all
 * turn out duplicate (D-SACK) is undone. A sender idle for more than an RTO restarts from
 * the initial window (tcp_slow_start_after_idle).
 */

enum {
    XMIT_RTO = 0, /* what the connection's one transmit timer is */
    XMIT_TLP = 1,
    XMIT_REO = 2,
};

static conn *get_conn(sim *s, int src, int dst) {
    size_t idx = (size_t)src * (size_t)s->n + (size_t)dst;
    if (s->conns[idx])
        return s->conns[idx];
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        s->failed = 1;
        return NULL;
    }
    c->src = src;
    c->dst = dst;
    c->cwnd = s->tcp.init_cwnd;
    c->ssthresh = 1e9;
    c->undo_retrans = -1;
    c->quickack = s->tcp.quickack_segments;
    s->conns[idx] = c;
    return c;
}

static void conn_free(conn *c) {
    if (!c)
        return;
    for (int i = 0; i < c->n_msgs; i++)
        free(c->msgs[(c->head_msg + i) % c->cap_msgs].data);
    free(c->msgs);
    free(c->segs);
    free(c->ooo);
    free(c);
}

static uint64_t mss_of(const sim *s, const conn *c) {
    return (uint64_t)(s->up[c->src].spec.mtu_bytes - TCP_IP_HEADER);
}

static uint64_t rto_of(const sim *s, const conn *c) {
    uint64_t rto = s->tcp.rto_init_ns;
    if (c->have_rtt) {
        uint64_t var = 4 * c->rttvar_ns;
        rto = c->srtt_ns + (var > s->tcp.rto_min_ns ? var : s->tcp.rto_min_ns);
    }
    for (int i = 0; i < c->backoff && rto < s->tcp.rto_max_ns; i++)
        rto *= 2;
    return rto < s->tcp.rto_max_ns ? rto : s->tcp.rto_max_ns;
}

static void timer_stop(sim *s, conn *c, int which) {
    if (c->timer_on[which]) {
        (void)halo_evq_cancel(s->q, c->timer_id[which]);
        c->timer_on[which] = 0;
    }
}

/*
 * When a kernel timer armed now for delay_ns fires. Linux converts the delay to jiffies,
 * rounding up (usecs_to_jiffies), and the timer wheel rounds the expiry up by one more jiffy
 * so that a timer armed in mid-tick never fires early (calc_index): the timer fires on the
 * tick ceil(delay / tick) + 1 ticks after the current one, between ceil(delay / tick) and
 * ceil(delay / tick) + 1 ticks from now. A 200.05 ms RTO fires 204-208 ms after it was
 * armed at HZ = 250, as the kernel's timeouts do (docs/kernel-tcp.md). tick 0: exactly.
 */
static uint64_t kernel_timer_at(const sim *s, uint64_t delay_ns) {
    uint64_t tick = s->tcp.tick_ns;
    if (!tick)
        return s->now_ns + delay_ns;
    return (s->now_ns / tick + (delay_ns + tick - 1) / tick + 1) * tick;
}

/* Starts (or moves) timer `which` to fire at `at` exactly. */
static void timer_start_exact(sim *s, conn *c, int which, uint64_t at) {
    timer_stop(s, c, which);
    halo_event ev = {.time_ns = at, .kind = EV_TCP_TIMER, .ptr = c, .u64 = (uint64_t)which};
    push(s, &ev, &c->timer_id[which]);
    c->timer_on[which] = 1;
}

/* A kernel (jiffy) timer armed now for delay_ns (kernel_timer_at). */
static void timer_start(sim *s, conn *c, int which, uint64_t delay_ns) {
    timer_start_exact(s, c, which, kernel_timer_at(s, delay_ns));
}

/* Sets the connection's transmit timer (Linux's icsk_pending: one of RTO, TLP, reorder) to
   fire delay_ns from now, as a kernel timer. */
static void xmit_timer(sim *s, conn *c, int kind, uint64_t delay_ns) {
    c->xmit_kind = kind;
    timer_start(s, c, TCP_TIMER_XMIT, delay_ns);
}

static segment *seg_at(conn *c, int i) {
    return &c->segs[(c->head_seg + i) % c->cap_segs];
}

/* The connection from src to dst, NULL before its first message. */
static conn *conn_at(const sim *s, int src, int dst) {
    return s->conns[(size_t)src * (size_t)s->n + (size_t)dst];
}

/* The connection carrying data the other way: its receiver side lives at c->src. */
static conn *reverse_conn(sim *s, const conn *c) {
    return conn_at(s, c->dst, c->src);
}

/* Segments in the network as the sender counts them: neither SACKed nor marked lost (Linux's
   tcp_packets_in_flight). */
static int in_flight(conn *c) {
    int n = 0;
    for (int i = 0; i < c->n_segs; i++) {
        const segment *g = seg_at(c, i);
        n += !g->sacked && !g->lost;
    }
    return n;
}

static int cwnd_segs(const conn *c) {
    int w = (int)c->cwnd;
    return w < 1 ? 1 : w;
}

/* The kernel's jiffies now (the tick count plus one, so that 0 can mean "none" as in
   tcp_cubic.c) and its HZ; without a tick, 1 ms jiffies. */
static uint64_t tick_of(const sim *s) {
    return s->tcp.tick_ns ? s->tcp.tick_ns : 1000000;
}

static uint64_t jiffies_at(const sim *s, uint64_t t_ns) {
    return t_ns / tick_of(s) + 1;
}

static uint32_t hz_of(const sim *s) {
    return (uint32_t)(1000000000ull / tick_of(s));
}

/* ssthresh after a loss (the congestion control's ssthresh(), a reduction): cubic's
   max(cwnd * 717 / 1024, 2), which also ends its epoch (sim/cubic.h), Reno's
   max(cwnd / 2, 2). The window's growth credit restarts (tcp_init_cwnd_reduction). */
static double loss_ssthresh(const sim *s, conn *c) {
    c->cwnd_cnt = 0;
    if (s->tcp.cc == HALO_TCP_CC_CUBIC)
        return halo_cubic_ssthresh(&c->cubic, (uint32_t)floor(c->cwnd));
    double t = floor(floor(c->cwnd) * 0.5);
    return t > 2 ? t : 2;
}

/* Linux's tcp_current_ssthresh outside recovery: at least 3/4 of the window. */
static double current_ssthresh(const conn *c) {
    double w = floor(c->cwnd), t = floor(w / 2) + floor(w / 4);
    return c->ca_state >= CA_RECOVERY || c->ssthresh > t ? c->ssthresh : t;
}

static int grow(void **buf, int *cap, size_t elem, int need, int head, int count) {
    if (need <= *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    unsigned char *nb = malloc((size_t)ncap * elem);
    if (!nb)
        return -1;
    for (int i = 0; i < count; i++) /* unwrap the ring */
        memcpy(nb + (size_t)i * elem, (unsigned char *)*buf + (size_t)((head + i) % *cap) * elem,
               elem);
    free(*buf);
    *buf = nb;
    *cap = ncap;
    return 1;
}

/* ---- receiver ---- */

/* Receiver side of `rc` (data dst <- src) fills the ACK fields of a packet. Every ACK that
   leaves, alone or on data, settles what was pending (tcp_event_ack_sent). SACK blocks: the
   one holding the latest out-of-order arrival first, then the others, three at most (the
   room beside the timestamp option). */
static void fill_ack(sim *s, packet *p, conn *rc) {
    p->ack_conn = rc;
    p->ack = rc->rcv_nxt;
    p->n_sack = 0;
    for (int i = 0; i < rc->n_ooo && p->n_sack < 3; i++)
        if (rc->ooo[i].start <= rc->sack_recent && rc->sack_recent < rc->ooo[i].end)
            p->sack[p->n_sack++] = rc->ooo[i];
    for (int i = 0; i < rc->n_ooo && p->n_sack < 3; i++)
        if (!(rc->ooo[i].start <= rc->sack_recent && rc->sack_recent < rc->ooo[i].end))
            p->sack[p->n_sack++] = rc->ooo[i];
    p->dsack = rc->dsack;
    rc->dsack = 0;
    if (rc->quickack > 0 && rc->rcv_nxt != rc->rcv_wup) /* tcp_dec_quickack_mode */
        rc->quickack--;
    rc->rcv_wup = rc->rcv_nxt;
    rc->pushed = 0;
    rc->compressed = 0;
    rc->ack_pending = 0;
    timer_stop(s, rc, TCP_TIMER_DELACK);
    timer_stop(s, rc, TCP_TIMER_SACK);
}

/* A fresh TCP packet from src to dst carrying payload_bytes (its size on the wire adds the
 * src uplink's headers and TCP's), or NULL when out of memory. */
static packet *tcp_packet(sim *s, int src, int dst, uint64_t payload_bytes) {
    packet *p = packet_get(s);
    if (!p)
        return NULL;
    const link *up = &s->up[src];
    *p = (packet){.kind = 1,
                  .src = src,
                  .dst = dst,
                  .wire_bytes = payload_bytes + (uint64_t)up->spec.header_bytes + TCP_EXTRA_HEADER};
    return p;
}

static void send_pure_ack(sim *s, conn *rc) {
    packet *p = tcp_packet(s, rc->dst, rc->src, 0);
    if (!p)
        return;
    fill_ack(s, p, rc);
    launch(s, p, s->now_ns);
}

/* Connection c (into its dst) has part of a message arrived: bytes of its head message or
   out-of-order data. */
static int partial(const conn *c) {
    return c && (c->n_ooo > 0 || (c->n_msgs > 0 && c->rcv_nxt > c->delivered_end));
}

/* tcp.read_order rank: a blocking reader that has come to connection c stays on it while its
   message is part way in, or while the reader expects one that has not arrived
   (halo_transport_expect). */
static int holds_reader(const conn *c) {
    return c && (c->awaited || partial(c));
}

/* tcp.read_order rank: dst's application reads its peers in rank order, blocking, so c's data
   waits (unread, unACKed) while a lower-ranked peer holds the reader. A peer whose message
   has not begun to arrive holds it only when the reader said it expects one (the mesh
   collective does; other messages are read as they come). */
static int read_blocked_by_lower(const sim *s, const conn *c) {
    for (int i = 0; i < c->src; i++)
        if (i != c->dst && holds_reader(conn_at(s, i, c->dst)))
            return 1;
    return 0;
}

/* Linux's tcp_cleanup_rbuf once the application has read: ACK if more than one full segment
   is unacknowledged, or a short segment was read outside pingpong mode (two within it). */
static void after_read(sim *s, conn *c) {
    node *rn = &s->nodes[c->dst];
    rn->stats.read_segs += c->unread_n;
    rn->stats.read_wait_ns += c->unread_n * s->now_ns - c->unread_sum_ns;
    c->unread_n = 0;
    c->unread_sum_ns = 0;
    if (c->rcv_nxt == c->rcv_wup)
        return;
    if (c->rcv_nxt - c->rcv_wup > mss_of(s, c) || c->pushed >= 2 || (c->pushed && !c->pingpong))
        send_pure_ack(s, c);
}

/* The application reads c's unread data: rx_batch from now (a burst is read once), or now. */
static void read_soon(sim *s, conn *c) {
    if (s->tcp.rx_batch_ns)
        timer_start_exact(s, c, TCP_TIMER_READ, s->now_ns + s->tcp.rx_batch_ns);
    else
        after_read(s, c);
}

/* Out of order: the first three duplicate ACKs of a hole leave at once, later SACKs wait
   min(comp_sack_delay, srtt / 20) plus the timer's slack (Linux's __tcp_ack_snd_check,
   tcp_comp_sack_*), so the rest of a burst is SACKed once. */
static void sack_out_of_order(sim *s, conn *c) {
    if (c->dup_rcv_nxt != c->rcv_nxt) {
        c->dup_rcv_nxt = c->rcv_nxt;
        c->dup_acks = 0;
    }
    if (c->compressed >= s->tcp.comp_sack_nr || c->dup_acks < 3) {
        c->dup_acks += c->dup_acks < 3;
        send_pure_ack(s, c);
        return;
    }
    c->compressed++;
    if (c->timer_on[TCP_TIMER_SACK])
        return;
    const conn *rc = reverse_conn(s, c);
    uint64_t delay = s->tcp.comp_sack_delay_ns;
    if (rc && rc->have_rtt && rc->srtt_ns / 20 < delay)
        delay = rc->srtt_ns / 20;
    timer_start_exact(s, c, TCP_TIMER_SACK, s->now_ns + delay + s->tcp.comp_sack_slack_ns);
}

/* Receiver: delivers every message whose last byte has arrived in order. */
static void deliver_in_order(sim *s, conn *c) {
    while (c->n_msgs > 0) {
        smsg *m = &c->msgs[c->head_msg];
        if (m->end_seq > c->rcv_nxt)
            break;
        c->head_msg = (c->head_msg + 1) % c->cap_msgs;
        c->n_msgs--;
        c->delivered_end = m->end_seq;
        if (m->msg == MSG_APP)
            c->awaited = 0; /* before deliver(): the receiver may expect the next one */
        deliver(s, c->src, c->dst, m->data, m->len, m->msg);
        free(m->data);
    }
    if (s->tcp.read_order != HALO_TCP_READ_RANK || holds_reader(c))
        return;
    for (int j = c->src + 1; j < s->n; j++) { /* the peers read after c's may now be read */
        conn *o = conn_at(s, j, c->dst);
        if (j == c->dst || !o || !o->read_blocked || read_blocked_by_lower(s, o))
            continue;
        o->read_blocked = 0;
        read_soon(s, o);
    }
}

/* Adds [seq, end) to the out-of-order ranges. Returns -1 when out of memory. */
static int ooo_insert(conn *c, uint64_t seq, uint64_t end) {
    if (grow((void **)&c->ooo, &c->cap_ooo, sizeof *c->ooo, c->n_ooo + 1, 0, c->n_ooo) < 0)
        return -1;
    int i = 0;
    while (i < c->n_ooo && c->ooo[i].end < seq)
        i++;
    if (i < c->n_ooo && c->ooo[i].start <= end) { /* merge with neighbours */
        if (seq < c->ooo[i].start)
            c->ooo[i].start = seq;
        if (end > c->ooo[i].end)
            c->ooo[i].end = end;
        while (i + 1 < c->n_ooo && c->ooo[i + 1].start <= c->ooo[i].end) {
            if (c->ooo[i + 1].end > c->ooo[i].end)
                c->ooo[i].end = c->ooo[i + 1].end;
            memmove(c->ooo + i + 1, c->ooo + i + 2, (size_t)(c->n_ooo - i - 2) * sizeof *c->ooo);
            c->n_ooo--;
        }
    } else {
        memmove(c->ooo + i + 1, c->ooo + i, (size_t)(c->n_ooo - i) * sizeof *c->ooo);
        c->ooo[i] = (range){seq, end};
        c->n_ooo++;
    }
    return 0;
}

/* Receiver: a data segment [seq, end) of connection c arrived. */
static void receive_data(sim *s, conn *c, uint64_t seq, uint64_t end) {
    if (end <= c->rcv_nxt) { /* a duplicate: D-SACK at once, and quickack mode */
        c->dsack = 1;
        c->quickack = s->tcp.quickack_segments;
        c->pingpong = 0;
        send_pure_ack(s, c);
        return;
    }
    int had_ooo = c->n_ooo > 0;
    if (seq > c->rcv_nxt) {
        if (ooo_insert(c, seq, end) < 0) {
            s->failed = 1;
            return;
        }
        c->sack_recent = seq;
        sack_out_of_order(s, c);
        return;
    }
    /* in order: absorb the out-of-order ranges now contiguous */
    c->rcv_nxt = end;
    int k = 0;
    while (k < c->n_ooo && c->ooo[k].start <= c->rcv_nxt) {
        if (c->ooo[k].end > c->rcv_nxt)
            c->rcv_nxt = c->ooo[k].end;
        k++;
    }
    if (k > 0) {
        memmove(c->ooo, c->ooo + k, (size_t)(c->n_ooo - k) * sizeof *c->ooo);
        c->n_ooo -= k;
    }
    /* tcp_event_data_recv: a gap longer than the RTO restarts quickack mode */
    const conn *rc = reverse_conn(s, c);
    uint64_t rto = rc ? rto_of(s, rc) : s->tcp.rto_init_ns;
    if (c->rcvd_any && s->now_ns - c->last_rcv_ns > rto)
        c->quickack = s->tcp.quickack_segments;
    c->rcvd_any = 1;
    c->last_rcv_ns = s->now_ns;
    c->pushed += end - seq < mss_of(s, c);
    if (had_ooo || s->tcp.quickack || (c->quickack > 0 && !c->pingpong)) {
        send_pure_ack(s, c); /* a hole (partly) filled, or quickack mode */
    } else if (c->rcv_nxt < (uint64_t)s->tcp.early_ack_kb * 1024 &&
               c->rcv_nxt - c->rcv_wup > mss_of(s, c)) {
        send_pure_ack(s, c); /* tcp.early_ack_kb: __tcp_ack_snd_check while the window grows */
    } else {
        if (!c->ack_pending) {
            c->ack_pending = 1;
            timer_start(s, c, TCP_TIMER_DELACK, s->tcp.delack_ns);
        }
        c->unread_n++;
        c->unread_sum_ns += s->now_ns;
        if (s->tcp.read_order == HALO_TCP_READ_RANK && read_blocked_by_lower(s, c))
            c->read_blocked = 1;
        else
            read_soon(s, c);
    }
    deliver_in_order(s, c);
}

/* ---- sender ---- */

static void transmit_segment(sim *s, conn *c, segment *g, int retransmission) {
    packet *p = tcp_packet(s, c->src, c->dst, g->end - g->seq);
    if (!p)
        return;
    p->data_conn = c;
    p->seq = g->seq;
    p->end = g->end;
    conn *rc = reverse_conn(s, c);
    if (rc) {
        /* tcp_event_data_sent: data sent within the delayed-ACK time of the last arrival
           makes the receiver interactive (pingpong) */
        if (rc->rcvd_any && s->now_ns - rc->last_rcv_ns < s->tcp.delack_ns)
            rc->pingpong = 1;
        fill_ack(s, p, rc); /* piggyback the ACK for data flowing back to us */
    }
    /* CA_EVENT_TX_START: data leaves with nothing in flight (this segment not counted) */
    if (s->tcp.cc == HALO_TCP_CC_CUBIC && c->last_send_ns > 0 &&
        in_flight(c) - (!g->sacked && !g->lost) == 0)
        halo_cubic_tx_start(&c->cubic, jiffies_at(s, s->now_ns), jiffies_at(s, c->last_send_ns));
    /* tcp.segment_gap: a segment that follows others of the same burst leaves after the CPU
       time of its transmit, scaled by its size (an 8-byte tail right after the segment before);
       a spacing of the send times only, not charged to the device's core */
    uint64_t at = s->now_ns;
    if (s->tcp.segment_gap_ns && c->last_send_ns >= s->now_ns && c->last_send_ns > 0)
        at = c->last_send_ns + s->tcp.segment_gap_ns * (g->end - g->seq) / mss_of(s, c);
    g->sent_ns = at;
    if (retransmission) {
        g->retransmitted = 1;
        s->nodes[c->src].stats.retransmits++;
        if (s->trace)
            halo_trace_add(s->trace, c->src, HALO_TRACE_NET, "retransmit", s->now_ns, s->now_ns, 1,
                           c->dst, (int64_t)g->seq);
        c->undo_retrans = c->undo_retrans < 0 ? 1 : c->undo_retrans + 1;
    }
    g->lost = 0;
    c->last_send_ns = at;
    launch(s, p, at);
}

/* Sends the next new segment (at most an MSS of unsent data). Returns 0, or -1. */
static int send_new(sim *s, conn *c) {
    uint64_t mss = mss_of(s, c);
    int r = grow((void **)&c->segs, &c->cap_segs, sizeof *c->segs, c->n_segs + 1, c->head_seg,
                 c->n_segs);
    if (r < 0) {
        s->failed = 1;
        return -1;
    }
    if (r > 0)
        c->head_seg = 0;
    uint64_t end = c->snd_nxt + mss < c->write_seq ? c->snd_nxt + mss : c->write_seq;
    segment *g = seg_at(c, c->n_segs++);
    *g = (segment){.seq = c->snd_nxt, .end = end};
    c->snd_nxt = end;
    transmit_segment(s, c, g, 0);
    return 0;
}

/* Linux's tcp_rearm_rto: the RTO from now, or, when a probe or the reorder timer was
   pending, from the oldest outstanding segment's (last) transmission. */
static void rearm_rto(sim *s, conn *c, int from_head) {
    if (c->n_segs == 0) {
        timer_stop(s, c, TCP_TIMER_XMIT);
        return;
    }
    uint64_t delay = rto_of(s, c);
    if (from_head) {
        uint64_t h = seg_at(c, 0)->sent_ns + rto_of(s, c);
        delay = h > s->now_ns ? h - s->now_ns : 1;
    }
    xmit_timer(s, c, XMIT_RTO, delay);
}

/* Linux's tcp_schedule_loss_probe: in the open state, a probe 2 srtt + 2 ms
   (TCP_TIMEOUT_MIN_US) after the last transmission, or 2 srtt + rto_min with one segment out
   (its ACK may be delayed), never later than the RTO; then the kernel timer's jiffies. Returns
   whether a probe was armed. */
static int schedule_probe(sim *s, conn *c, int advancing_rto) {
    if (!s->tcp.tlp || c->n_segs == 0 || c->ca_state != CA_OPEN)
        return 0;
    uint64_t pto = s->tcp.rto_init_ns;
    if (c->have_rtt)
        pto = 2 * c->srtt_ns + (c->n_segs == 1 ? s->tcp.rto_min_ns : TCP_TIMEOUT_MIN_NS);
    uint64_t rto = rto_of(s, c);
    if (!advancing_rto) {
        uint64_t h = seg_at(c, 0)->sent_ns + rto;
        rto = h > s->now_ns ? h - s->now_ns : 1;
    }
    xmit_timer(s, c, XMIT_TLP, pto < rto ? pto : rto);
    return 1;
}

/*
 * Sends what the window allows, as Linux does after an ACK or a write
 * (tcp_xmit_retransmit_queue, then tcp_write_xmit): segments marked lost first, in order, then
 * new data, while fewer than cwnd segments are in flight. Retransmitting the oldest segment,
 * or new data after none was out or while a probe was pending, restarts the RTO; new data
 * then re-arms the probe.
 */
static void xmit(sim *s, conn *c) {
    int flight = in_flight(c), wnd = cwnd_segs(c), prior_out = c->n_segs, sent = 0, sent_new = 0;
    int head_rtx = 0, probe_pending = c->timer_on[TCP_TIMER_XMIT] && c->xmit_kind == XMIT_TLP;
    for (int i = 0; i < c->n_segs && flight < wnd; i++) {
        segment *g = seg_at(c, i);
        if (!g->lost)
            continue;
        transmit_segment(s, c, g, 1);
        flight++;
        sent++;
        c->prr_out += c->ca_state == CA_RECOVERY;
        head_rtx |= i == 0;
    }
    while (c->snd_nxt < c->write_seq && flight < wnd) {
        if (send_new(s, c) < 0)
            return;
        flight++;
        sent++;
        sent_new = 1;
        c->prr_out += c->ca_state == CA_RECOVERY;
    }
    /* tcp_cwnd_validate: was the window the limit in this window of data? */
    int limited = flight >= wnd;
    if ((sent || limited) && (c->snd_una >= c->cwnd_usage_seq || limited ||
                              (!c->cwnd_limited && c->n_segs > c->max_out))) {
        c->cwnd_limited = limited;
        c->max_out = c->n_segs;
        c->cwnd_usage_seq = c->snd_nxt;
    }
    if (head_rtx && !(c->timer_on[TCP_TIMER_XMIT] && c->xmit_kind == XMIT_REO))
        xmit_timer(s, c, XMIT_RTO, rto_of(s, c));
    if (sent_new) {
        if (prior_out == 0 || probe_pending)
            rearm_rto(s, c, prior_out > 0);
        (void)schedule_probe(s, c, 0);
    }
}

static void stream_send(sim *s, int src, int dst, unsigned char *data, size_t len, int msg) {
    conn *c = get_conn(s, src, dst);
    int r = c ? grow((void **)&c->msgs, &c->cap_msgs, sizeof *c->msgs, c->n_msgs + 1, c->head_msg,
                     c->n_msgs)
              : -1;
    if (r < 0) {
        free(data);
        s->failed = 1;
        return;
    }
    if (r > 0) /* grow() unwrapped the ring to index 0 */
        c->head_msg = 0;
    c->write_seq += message_bytes(data, len, msg);
    smsg *m = &c->msgs[(c->head_msg + c->n_msgs) % c->cap_msgs];
    *m = (smsg){.msg = msg, .end_seq = c->write_seq, .len = len, .data = data};
    c->n_msgs++;
    /* tcp_slow_start_after_idle_check: idle for more than an RTO, the window restarts from
       the initial window, halved once per RTO idle (tcp_cwnd_restart) */
    if (s->tcp.slow_start_after_idle && c->n_segs == 0 && c->snd_nxt > 0 &&
        s->now_ns > c->last_send_ns && s->now_ns - c->last_send_ns > rto_of(s, c)) {
        uint64_t rto = rto_of(s, c);
        double restart = s->tcp.init_cwnd < c->cwnd ? s->tcp.init_cwnd : floor(c->cwnd);
        double w = floor(c->cwnd);
        c->ssthresh = current_ssthresh(c);
        for (uint64_t idle = s->now_ns - c->last_send_ns - rto; idle > 0 && w > restart;
             idle = idle > rto ? idle - rto : 0)
            w = floor(w / 2);
        c->cwnd = w > restart ? w : restart;
    }
    xmit(s, c);
}

/* One RTT sample (tcp_rtt_estimator; RTO = srtt + max(4 rttvar, rto_min), rto_of). */
static void update_rtt(conn *c, uint64_t sample, uint64_t min_sample) {
    if (!c->have_rtt) {
        c->srtt_ns = sample;
        c->rttvar_ns = sample / 2;
        c->min_rtt_ns = min_sample;
        c->have_rtt = 1;
        return;
    }
    uint64_t diff = sample > c->srtt_ns ? sample - c->srtt_ns : c->srtt_ns - sample;
    c->rttvar_ns = (3 * c->rttvar_ns + diff) / 4;
    c->srtt_ns = (7 * c->srtt_ns + sample) / 8;
    if (min_sample < c->min_rtt_ns)
        c->min_rtt_ns = min_sample;
}

/* Records that segment g was delivered (ACKed or SACKed), for RACK (tcp_rack_advance): the
   RTT of the last one, and the most recently sent one. A retransmission ACKed sooner than
   the minimum RTT may be the original's ACK and is skipped. */
static void rack_advance(sim *s, conn *c, const segment *g) {
    uint64_t rtt = s->now_ns - g->sent_ns;
    if (g->retransmitted && c->have_rtt && rtt < c->min_rtt_ns)
        return;
    c->rack_rtt_ns = rtt;
    if (g->sent_ns > c->rack_xmit_ns || (g->sent_ns == c->rack_xmit_ns && g->end > c->rack_end)) {
        c->rack_xmit_ns = g->sent_ns;
        c->rack_end = g->end;
    }
}

/* Was g sent before the most recently sent delivered segment? (time, then sequence) */
static int rack_sent_before(const conn *c, const segment *g) {
    return g->sent_ns < c->rack_xmit_ns || (g->sent_ns == c->rack_xmit_ns && g->end < c->rack_end);
}

/*
 * RACK (RFC 8985, tcp_rack_detect_loss): a segment sent before a delivered one, and older
 * than rack.rtt + reo_wnd, is lost. reo_wnd is min(min_rtt / 4, srtt), or 0 in recovery or
 * once dupack_threshold segments are SACKed (no reordering seen). Counts the segments marked
 * in *lost; returns how long the youngest unmarked one still has (0: none).
 */
static uint64_t rack_detect(sim *s, conn *c, int *lost) {
    int sacked = 0;
    for (int i = 0; i < c->n_segs; i++)
        sacked += seg_at(c, i)->sacked;
    uint64_t reo = c->min_rtt_ns / 4 < c->srtt_ns ? c->min_rtt_ns / 4 : c->srtt_ns;
    if (c->ca_state >= CA_RECOVERY || sacked >= s->tcp.dupack_threshold)
        reo = 0;
    uint64_t wait = 0;
    for (int i = 0; i < c->n_segs; i++) {
        segment *g = seg_at(c, i);
        if (g->sacked || g->lost || !rack_sent_before(c, g))
            continue;
        uint64_t age = s->now_ns - g->sent_ns;
        if (age >= c->rack_rtt_ns + reo) {
            g->lost = 1;
            (*lost)++;
        } else if (c->rack_rtt_ns + reo - age > wait) {
            wait = c->rack_rtt_ns + reo - age;
        }
    }
    return wait;
}

/* Starts fast recovery (tcp_enter_recovery, tcp_init_cwnd_reduction). */
static void enter_recovery(sim *s, conn *c) {
    c->prior_cwnd = c->cwnd;
    c->prior_ssthresh = current_ssthresh(c);
    c->ssthresh = loss_ssthresh(s, c);
    c->prr_delivered = 0;
    c->prr_out = 0;
    c->high_seq = c->snd_nxt;
    c->tlp_high_seq = 0;
    c->undo_retrans = -1;
    c->ca_state = CA_RECOVERY;
}

/* Proportional rate reduction in recovery (tcp_cwnd_reduction, RFC 6937): the window lets
   out about ssthresh / prior_cwnd segments per segment delivered. */
static void prr(conn *c, int delivered, int newly_lost, int progressed) {
    if (delivered <= 0)
        return;
    c->prr_delivered += delivered;
    int flight = in_flight(c), ssthresh = (int)c->ssthresh, prior = (int)c->prior_cwnd;
    long sndcnt;
    if (flight > ssthresh) {
        sndcnt =
            ((long)ssthresh * c->prr_delivered + prior - 1) / (prior > 0 ? prior : 1) - c->prr_out;
    } else {
        sndcnt =
            c->prr_delivered - c->prr_out > delivered ? c->prr_delivered - c->prr_out : delivered;
        sndcnt += progressed && !newly_lost;
        if (sndcnt > ssthresh - flight)
            sndcnt = ssthresh - flight;
    }
    if (sndcnt < (c->prr_out ? 0 : 1))
        sndcnt = c->prr_out ? 0 : 1;
    c->cwnd = (double)flight + (double)sndcnt;
}

/* Window growth on an ACK that delivered `acked` segments, when the window was the limit
   (tcp_is_cwnd_limited): slow start below ssthresh, then cubic's rate (sim/cubic.h) or
   Reno's additive increase. */
static void cong_avoid(sim *s, conn *c, int acked) {
    int limited = c->cwnd_limited || (c->cwnd < c->ssthresh && c->cwnd < 2 * c->max_out);
    if (!limited || acked <= 0)
        return;
    if (s->tcp.cc == HALO_TCP_CC_CUBIC) {
        halo_cubic_window w = {.cwnd = (uint32_t)c->cwnd,
                               .ssthresh = c->ssthresh < 1e9 ? (uint32_t)c->ssthresh : UINT32_MAX,
                               .cwnd_cnt = c->cwnd_cnt};
        halo_cubic_cong_avoid(&c->cubic, &w, (uint32_t)acked, jiffies_at(s, s->now_ns), hz_of(s));
        c->cwnd = w.cwnd;
        c->cwnd_cnt = w.cwnd_cnt;
        return;
    }
    double left = acked;
    if (c->cwnd < c->ssthresh) {
        double room = c->ssthresh - c->cwnd;
        if (left <= room) {
            c->cwnd += left;
            return;
        }
        c->cwnd = c->ssthresh;
        left -= room;
    }
    c->cwnd += left / floor(c->cwnd);
}

/* A recovery or loss episode is over (snd_una reached high_seq): undone when every
   retransmission was reported duplicate, else the window is ssthresh after recovery. */
static void end_episode(conn *c) {
    if (c->undo_retrans == 0) {
        if (c->prior_cwnd > c->cwnd)
            c->cwnd = c->prior_cwnd;
        if (c->prior_ssthresh > c->ssthresh)
            c->ssthresh = c->prior_ssthresh;
    } else if (c->ca_state == CA_RECOVERY && c->ssthresh < 1e9) {
        c->cwnd = c->ssthresh;
    }
    c->ca_state = CA_OPEN;
}

/* Open or disorder (tcp_try_to_open): disorder while SACKed, lost or retransmitted
   segments are outstanding; only the open state sends loss probes. */
static void settle_state(conn *c) {
    if (c->ca_state >= CA_RECOVERY)
        return;
    c->ca_state = CA_OPEN;
    for (int i = 0; i < c->n_segs; i++) {
        const segment *g = seg_at(c, i);
        if (g->sacked || g->lost || g->retransmitted) {
            c->ca_state = CA_DISORDER;
            return;
        }
    }
}

/* Sender: an ACK for connection c arrived (tcp_ack). */
static void receive_ack(sim *s, conn *c, const packet *p) {
    uint64_t now = s->now_ns, first_ackt = 0, last_ackt = 0, first_sackt = 0, una_sent = 0;
    int delivered = 0, rtx_acked = 0, have_ackt = 0, have_sackt = 0, progressed = 0;
    while (c->n_segs > 0 && seg_at(c, 0)->end <= p->ack) {
        segment *g = seg_at(c, 0);
        if (!progressed)
            una_sent = g->sent_ns;
        if (!g->sacked) {
            delivered++;
            if (g->retransmitted) {
                rtx_acked = 1;
            } else {
                if (!have_ackt)
                    first_ackt = g->sent_ns;
                last_ackt = g->sent_ns;
                have_ackt = 1;
            }
            rack_advance(s, c, g);
        }
        c->head_seg = (c->head_seg + 1) % c->cap_segs;
        c->n_segs--;
        progressed = 1;
    }
    if (p->ack > c->snd_una)
        c->snd_una = p->ack;
    for (int k = 0; k < p->n_sack; k++)
        for (int i = 0; i < c->n_segs; i++) {
            segment *g = seg_at(c, i);
            if (g->sacked || g->seq < p->sack[k].start || g->end > p->sack[k].end)
                continue;
            g->sacked = 1;
            g->lost = 0;
            delivered++;
            if (!g->retransmitted && (!have_sackt || g->sent_ns < first_sackt)) {
                first_sackt = g->sent_ns;
                have_sackt = 1;
            }
            rack_advance(s, c, g);
        }
    if (p->dsack) {
        s->nodes[c->src].stats.dsacks++;
        if (c->undo_retrans > 0)
            c->undo_retrans--;
    }
    /* one RTT sample per ACK (tcp_ack_update_rtt); a valid one resets the backoff */
    uint64_t ca_rtt = 0;
    int sampled = 1;
    if (have_ackt && !rtx_acked) {
        update_rtt(c, now - first_ackt, now - last_ackt);
        ca_rtt = now - last_ackt;
    } else if (have_sackt) {
        update_rtt(c, now - first_sackt, now - first_sackt);
        ca_rtt = now - first_sackt;
    } else if (progressed) { /* timestamps: the echo of the first segment's last send */
        update_rtt(c, now - una_sent, now - una_sent);
        ca_rtt = now - una_sent;
    } else {
        sampled = 0;
    }
    if (sampled) {
        c->backoff = 0;
        if (s->tcp.cc == HALO_TCP_CC_CUBIC)
            halo_cubic_rtt_sample(&c->cubic, ca_rtt / 1000, jiffies_at(s, now), hz_of(s));
    }
    /* the loss probe's outcome (tcp_process_tlp_ack) */
    if (c->tlp_high_seq && p->ack >= c->tlp_high_seq) {
        if (!c->tlp_retrans || p->dsack) {
            c->tlp_high_seq = 0;
        } else if (p->ack > c->tlp_high_seq) { /* the probe repaired a loss */
            c->ssthresh = loss_ssthresh(s, c);
            if (c->cwnd > c->ssthresh)
                c->cwnd = c->ssthresh;
            c->tlp_high_seq = 0;
        } else if (!progressed && !delivered) {
            c->tlp_high_seq = 0;
        }
    }
    if (c->ca_state >= CA_RECOVERY && c->snd_una >= c->high_seq)
        end_episode(c);
    int lost = 0, reo_armed = 0;
    if (delivered) {
        uint64_t wait = rack_detect(s, c, &lost);
        if (wait) { /* tcp_rack_mark_lost: the window's rest + 2 ms (TCP_TIMEOUT_MIN_US) */
            xmit_timer(s, c, XMIT_REO, wait + TCP_TIMEOUT_MIN_NS);
            reo_armed = 1;
        }
    }
    if (lost && c->ca_state < CA_RECOVERY)
        enter_recovery(s, c);
    if (c->ca_state == CA_RECOVERY)
        prr(c, delivered, lost, progressed);
    else if (progressed)
        cong_avoid(s, c, delivered);
    settle_state(c);
    if (progressed && !reo_armed && !schedule_probe(s, c, 1))
        rearm_rto(s, c, 0);
    xmit(s, c);
    if (c->n_segs == 0)
        timer_stop(s, c, TCP_TIMER_XMIT);
}

static void tcp_arrive(sim *s, packet *p) {
    if (p->ack_conn)
        receive_ack(s, p->ack_conn, p);
    if (p->data_conn)
        receive_data(s, p->data_conn, p->seq, p->end);
}

/* The reorder timer (tcp_rack_reo_timeout). */
static void reorder_timeout(sim *s, conn *c) {
    int lost = 0;
    (void)rack_detect(s, c, &lost);
    if (lost) {
        if (c->ca_state != CA_RECOVERY) {
            enter_recovery(s, c);
            prr(c, 1, 0, 0);
        }
        xmit(s, c);
    }
    if (!(c->timer_on[TCP_TIMER_XMIT] && c->xmit_kind == XMIT_RTO))
        rearm_rto(s, c, 1);
}

/* A tail loss probe (tcp_send_loss_probe): new data if there is some, else the last segment
   again; one probe at a time. */
static void loss_probe(sim *s, conn *c) {
    if (c->n_segs == 0)
        return;
    if (c->tlp_high_seq) {
        rearm_rto(s, c, 1);
        return;
    }
    s->nodes[c->src].stats.probes++;
    if (s->trace)
        halo_trace_add(s->trace, c->src, HALO_TRACE_NET, "loss probe", s->now_ns, s->now_ns, 1,
                       c->dst, -1);
    if (c->snd_nxt < c->write_seq) {
        if (send_new(s, c) < 0)
            return;
        c->tlp_retrans = 0;
    } else {
        transmit_segment(s, c, seg_at(c, c->n_segs - 1), 1);
        c->tlp_retrans = 1;
    }
    c->tlp_high_seq = c->snd_nxt;
    xmit_timer(s, c, XMIT_RTO, rto_of(s, c));
}

/* A retransmission timeout (tcp_retransmit_timer, tcp_enter_loss). */
static void retransmit_timeout(sim *s, conn *c) {
    if (c->n_segs == 0)
        return;
    s->nodes[c->src].stats.timeouts++;
    if (s->trace)
        halo_trace_add(s->trace, c->src, HALO_TRACE_NET, "retransmission timeout", s->now_ns,
                       s->now_ns, 1, c->dst, c->backoff);
    if (c->ca_state <= CA_DISORDER || c->snd_una >= c->high_seq ||
        (c->ca_state == CA_LOSS && c->backoff == 0)) {
        c->prior_cwnd = c->cwnd;
        c->prior_ssthresh = current_ssthresh(c);
        c->ssthresh = loss_ssthresh(s, c);
        c->undo_retrans = -1;
    }
    for (int i = 0; i < c->n_segs; i++) {
        segment *g = seg_at(c, i);
        if (!g->sacked)
            g->lost = 1;
    }
    c->cwnd = 1;
    c->cwnd_cnt = 0;
    halo_cubic_reset(&c->cubic); /* tcp_set_ca_state(TCP_CA_Loss): bictcp_reset */
    c->ca_state = CA_LOSS;
    c->high_seq = c->snd_nxt;
    c->tlp_high_seq = 0;
    c->backoff++;
    xmit(s, c); /* the oldest segment; the rest as ACKs open the window */
    xmit_timer(s, c, XMIT_RTO, rto_of(s, c));
}

static void tcp_timer(sim *s, conn *c, int which) {
    c->timer_on[which] = 0;
    switch (which) {
    case TCP_TIMER_DELACK:
        if (c->ack_pending && c->rcv_nxt != c->rcv_wup) {
            c->pingpong = 0; /* a delayed ACK missed: no longer interactive */
            send_pure_ack(s, c);
        }
        c->ack_pending = 0;
        return;
    case TCP_TIMER_READ:
        after_read(s, c);
        return;
    case TCP_TIMER_SACK:
        if (c->compressed)
            send_pure_ack(s, c);
        return;
    default: /* TCP_TIMER_XMIT */
        if (c->xmit_kind == XMIT_TLP)
            loss_probe(s, c);
        else if (c->xmit_kind == XMIT_REO)
            reorder_timeout(s, c);
        else
            retransmit_timeout(s, c);
        return;
    }
}

/* ==== Devices ==== */

int halo_device_caches(const halo_device_profile *p, uint64_t bytes_per_token) {
    return p->cache_bytes > 0 && p->cache_bw_bps > 0 && bytes_per_token <= p->cache_bytes;
}

double halo_device_weight_bw(const halo_device_profile *p) {
    return p->weights_cached ? p->cache_bw_bps : p->mem_bw_bps;
}

uint64_t halo_device_time_ns(const halo_device_profile *p, const halo_cost *cost) {
    double t_compute = cost->flops / p->flops_per_s;
    double t_memory = cost->bytes / halo_device_weight_bw(p);
    if (!p->weights_cached && p->strided_bw_bps > 0 && cost->strided_bytes > 0)
        t_memory = (cost->bytes - cost->strided_bytes) / p->mem_bw_bps +
                   cost->strided_bytes / p->strided_bw_bps;
    double t = t_compute > t_memory ? t_compute : t_memory;
    return duration_ns(cost->ops * (double)p->op_overhead_ns + t * 1e9, 0);
}

/* Time to read `bytes` from a device's storage (0 when it has no storage model). */
static uint64_t storage_time_ns(const halo_device_profile *p, double bytes) {
    return p->storage_bw_bps > 0 ? duration_ns(bytes / p->storage_bw_bps * 1e9, 0) : 0;
}

/* A read of `bytes` queued on the device's storage no earlier than `start`, counted in *st;
 * returns when it ends. */
static uint64_t storage_read(halo_device_clock *c, const halo_device_profile *p, uint64_t start,
                             double bytes, halo_sim_node_stats *st) {
    uint64_t begin = c->storage_free_ns > start ? c->storage_free_ns : start;
    uint64_t end = begin + storage_time_ns(p, bytes);
    st->storage_read_ns += end - begin;
    st->storage_bytes += (uint64_t)bytes;
    c->storage_free_ns = end;
    return end;
}

void halo_device_charge(halo_device_clock *c, const halo_device_profile *p, uint64_t now_ns,
                        const halo_cost *cost, halo_sim_node_stats *st) {
    uint64_t start = now_ns;
    if (cost->uses_prefetch && c->prefetch_ready_ns > start)
        start = c->prefetch_ready_ns;
    if (cost->load_bytes > 0)
        start = storage_read(c, p, start, cost->load_bytes, st);
    st->storage_stall_ns += start - now_ns;
    if (cost->prefetch_bytes > 0)
        c->prefetch_ready_ns = storage_read(c, p, start, cost->prefetch_bytes, st);
    uint64_t dt = halo_device_time_ns(p, cost);
    c->busy_until_ns = start + dt;
    st->compute_ns += dt;
}

/* ==== Transport operations ==== */

static int bad_node(const sim *s, int i) {
    return i < 0 || i >= s->n;
}

static uint64_t node_now(const sim *s, int i) {
    uint64_t b = s->nodes[i].clock.busy_until_ns;
    return b > s->now_ns ? b : s->now_ns;
}

static int sim_attach(halo_transport *t, int i, halo_recv_fn fn, void *ctx, halo_err *err) {
    sim *s = as_sim(t);
    if (bad_node(s, i))
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: no node %d (of %d)", i, s->n);
    s->nodes[i].recv = fn;
    s->nodes[i].recv_ctx = ctx;
    return HALO_OK;
}

static void network_send(sim *s, int src, int dst, unsigned char *data, size_t len, int msg) {
    if (msg == MSG_APP)
        s->nodes[src].stats.msgs_sent++;
    if (s->delivery == HALO_DELIVERY_STREAM)
        stream_send(s, src, dst, data, len, msg);
    else
        dgram_send(s, src, dst, data, len, msg, s->now_ns);
}

/*
 * Sends a message from src (data owned, NULL for a heartbeat): the system call keeps the
 * sender busy for its host cost and the message leaves at its end, or when the sender is
 * done computing. Returns HALO_OK or HALO_ERR_NOMEM (data is then freed).
 */
static int queue_send(sim *s, int src, int dst, unsigned char *data, size_t len, int msg) {
    node *sn = &s->nodes[src];
    uint64_t cost =
        halo_device_host_ns(&sn->dev, sn->dev.send_ns,
                            msg == MSG_APP ? halo_wire_charged_size(data, len) : HEARTBEAT_BYTES);
    if (cost) {
        uint64_t start = node_now(s, src);
        charge_host(s, src, start, cost, 0);
        if (s->trace && msg == MSG_APP)
            halo_trace_add(s->trace, src, HALO_TRACE_SEND, "send", start, sn->clock.busy_until_ns,
                           0, dst, (int64_t)len);
    } else if (s->trace && msg == MSG_APP) {
        halo_trace_add(s->trace, src, HALO_TRACE_SEND, "send", node_now(s, src), node_now(s, src),
                       1, dst, (int64_t)len);
    }
    uint64_t depart = node_now(s, src);
    if (depart > s->now_ns) { /* the node is still busy: it sends when done */
        halo_event ev = {.time_ns = depart,
                         .kind = EV_SEND,
                         .node = src,
                         .ptr = data,
                         .ptr2 = (void *)(intptr_t)msg,
                         .u64 = (uint64_t)dst << 32 | (uint64_t)len};
        if (halo_evq_push(s->q, &ev, NULL, NULL) != HALO_OK) {
            free(data);
            return HALO_ERR_NOMEM;
        }
        return HALO_OK;
    }
    network_send(s, src, dst, data, len, msg);
    return s->failed ? HALO_ERR_NOMEM : HALO_OK;
}

static void control_send(sim *s, int src, int dst, int msg) {
    if (queue_send(s, src, dst, NULL, 0, msg) != HALO_OK)
        s->failed = 1;
}

static void heartbeat(sim *s) {
    for (int d = 1; d < s->n; d++)
        control_send(s, 0, d, MSG_PING);
    if (s->now_ns - s->last_app_ns < HEARTBEAT_IDLE_NS) {
        halo_event ev = {.time_ns = s->now_ns + s->heartbeat_ns, .kind = EV_HEARTBEAT};
        push(s, &ev, NULL);
    }
}

static int sim_send(halo_transport *t, int src, int dst, const void *msg, size_t len,
                    halo_err *err) {
    sim *s = as_sim(t);
    if (bad_node(s, src) || bad_node(s, dst) || src == dst)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: cannot send from node %d to node %d", src, dst);
    if (len > ((size_t)1 << 30))
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: message of %zu bytes is too large", len);
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "sim: out of memory for a %zu-byte message", len);
    memcpy(copy, msg, len);
    s->last_app_ns = s->now_ns;
    if (queue_send(s, src, dst, copy, len, MSG_APP) != HALO_OK)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "sim: out of memory");
    return HALO_OK;
}

static int sim_schedule(halo_transport *t, int i, uint64_t delay_ns, halo_timer_fn fn, void *arg,
                        uint64_t *timer_id, halo_err *err) {
    sim *s = as_sim(t);
    if (bad_node(s, i) || !fn)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: bad timer for node %d", i);
    return halo_evq_push_timer(s->q, EV_TIMER, i, node_now(s, i), delay_ns, fn, arg, timer_id,
                               "sim", err);
}

static int sim_cancel(halo_transport *t, uint64_t timer_id) {
    return halo_evq_cancel(as_sim(t)->q, timer_id);
}

static uint64_t sim_now(halo_transport *t, int i) {
    sim *s = as_sim(t);
    return bad_node(s, i) ? s->now_ns : node_now(s, i);
}

/* Inside a receive callback, the message's arrival: the event's time, before the receiver
   was free and had paid its receive cost (node_now); a real root's kernel stamp. */
static uint64_t sim_arrived(halo_transport *t, int i) {
    sim *s = as_sim(t);
    return i == s->delivering ? s->now_ns : sim_now(t, i);
}

/* tcp.read_order rank: node i's reader now waits on peer's link (read_blocked_by_lower). */
static void sim_expect(halo_transport *t, int i, int peer) {
    sim *s = as_sim(t);
    if (s->delivery != HALO_DELIVERY_STREAM || s->tcp.read_order != HALO_TCP_READ_RANK ||
        bad_node(s, i) || bad_node(s, peer) || i == peer)
        return;
    conn *c = get_conn(s, peer, i);
    if (c)
        c->awaited = 1;
}

static uint64_t sim_rx_lost(halo_transport *t, int i, int peer) {
    sim *s = as_sim(t);
    if (bad_node(s, i) || bad_node(s, peer))
        return 0;
    return s->rx_lost[(size_t)i * (size_t)s->n + (size_t)peer];
}

/* A log-normal factor of mean 1 and coefficient of variation cv (> 0): exp(sigma z -
   sigma^2 / 2), sigma^2 = ln(1 + cv^2), z standard normal (Box-Muller, two draws). */
static double lognormal_factor(halo_rng *rng, double cv) {
    double s2 = log1p(cv * cv), u1 = 1.0 - halo_rng_f64(rng), u2 = halo_rng_f64(rng);
    double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    return exp(sqrt(s2) * z - s2 / 2.0);
}

/* ==== A host's memory bandwidth and cores shared over time (host_mem_bw_bps, hostshare.h) ==== */

static int shares_memory(const sim *s, int i) {
    return s->nodes[i].dev.host > 0 && s->nodes[i].dev.host_mem_bw_bps > 0;
}

/*
 * ratio[m - 1]: the time `cost` takes node i while m devices of its host compute at once over
 * its time alone with its own profile. At most `cores` of them run at a time, each with its
 * memory bandwidths cut to the host's over that many (never above its own; weights in the
 * cache are not read from memory); beyond `cores` each also gets cores / m of a core, so
 * the host's cores are shared over time as its bandwidth is.
 */
static void share_ratios(const sim *s, int i, const halo_cost *cost, double *ratio) {
    const halo_device_profile *own = &s->nodes[i].dev;
    uint64_t alone = halo_device_time_ns(own, cost);
    /* placed on cores: m busy cores, each device's share of its core is the planner's */
    int placed = own->core_placement == HALO_CORES_WAKE;
    for (int m = 1; m <= HALO_SHARE_MAX; m++) {
        int at_once = own->cores > 0 && m > own->cores ? own->cores : m;
        halo_device_profile p = *own;
        double share = p.host_mem_bw_bps / at_once;
        if (p.mem_bw_bps > share)
            p.mem_bw_bps = share;
        if (p.strided_bw_bps > share)
            p.strided_bw_bps = share;
        uint64_t at_m = halo_device_time_ns(&p, cost);
        ratio[m - 1] =
            own->weights_cached || alone == 0 || at_m <= alone ? 1.0 : (double)at_m / (double)alone;
        if (at_once < m && !placed)
            ratio[m - 1] *= (double)m / (double)at_once;
    }
}

/* The delay a plan gives node j's time t: that of its last segment that ended by t (its
   segments are plan[first, first + count), their ends before in old[]). */
typedef struct share_shift {
    const sim *s;
    int first, count;
} share_shift;

static int64_t share_delay(const share_shift *sh, uint64_t t) {
    int64_t d = 0;
    for (int k = sh->first; k < sh->first + sh->count; k++)
        if (sh->s->plan_old[k] <= t)
            d = (int64_t)sh->s->plan[k].end_ns - (int64_t)sh->s->plan_old[k];
    return d;
}

static uint64_t share_moved(const share_shift *sh, uint64_t t, uint64_t not_before) {
    int64_t d = share_delay(sh, t);
    uint64_t u = d < 0 && (uint64_t)-d > t ? 0 : (uint64_t)((int64_t)t + d);
    return u < not_before && t >= not_before ? not_before : u;
}

typedef struct share_retime {
    share_shift *by_node; /* NULL .count for nodes the plan does not move */
    uint64_t now_ns;
} share_retime;

static uint64_t share_retime_event(void *ctx, const halo_event *ev) {
    const share_retime *r = ctx;
    if ((ev->kind != EV_SEND && ev->kind != EV_TIMER) || !r->by_node[ev->node].count)
        return ev->time_ns;
    return share_moved(&r->by_node[ev->node], ev->time_ns, r->now_ns);
}

static int plan_reserve(sim *s, int need) {
    if (need <= s->capplan)
        return 1;
    int cap = need < 16 ? 16 : need * 2;
    halo_share_seg *plan = realloc(s->plan, (size_t)cap * sizeof *plan);
    if (plan)
        s->plan = plan;
    uint64_t *old = realloc(s->plan_old, (size_t)cap * sizeof *old);
    if (old)
        s->plan_old = old;
    if (!plan || !old) {
        s->failed = 1;
        return 0;
    }
    s->capplan = cap;
    return 1;
}

/*
 * Node i has been charged a compute segment [from, from + work) at its own speed: plans its
 * host's segments again with it (processor sharing from the last plan's base, now moved to
 * the present), then moves every device of the host by what the new plan delays it: its
 * busy end, its waits, its pending sends and timers, its compute time.
 */
/* A traced run: the spans of the planned segments [0, n) (the ENDED ones only, when
   `ended_only`) get their planned times (halo_trace_move). */
static void share_trace(sim *s, int n, int ended_only) {
    for (int k = 0; s->trace && k < n; k++)
        if (!ended_only || s->plan[k].state == HALO_SHARE_ENDED)
            halo_trace_move(s->trace, s->plan[k].tag, s->plan[k].start_ns, s->plan[k].end_ns);
}

static void share_host(sim *s, int i, const double *ratio, uint64_t from, uint64_t work,
                       long trace_event) {
    int host = s->nodes[i].dev.host, n = 0, max_m = HALO_SHARE_MAX; /* ratio[] has the cores */
    /* placed on cores (core_placement: wake): ratio[] has the busy cores, the planner the
       share of each core */
    int cores = s->nodes[i].dev.core_placement == HALO_CORES_WAKE ? s->nodes[i].dev.cores : 0;
    uint64_t balance = s->nodes[i].dev.core_balance_ns;
    for (int j = 0; j < s->n; j++)
        if (shares_memory(s, j) && s->nodes[j].dev.host == host)
            n += s->nodes[j].nseg;
    if (!plan_reserve(s, n + 1))
        return;
    /* the host's segments, by node (each node's last plan had the same base) */
    uint64_t base = s->nodes[i].share_base_ns;
    n = 0;
    for (int j = 0; j < s->n; j++) {
        node *o = &s->nodes[j];
        if (!shares_memory(s, j) || o->dev.host != host)
            continue;
        if (o->nseg > 0)
            memcpy(&s->plan[n], o->segs, (size_t)o->nseg * sizeof *o->segs);
        n += o->nseg;
        o->nseg = 0; /* handed back below, if any are left */
        o->share_base_ns = s->now_ns;
    }
    /* to the present: what ended is fixed and dropped, what runs keeps what it still needs */
    halo_share_plan(s->plan, n, max_m, cores, balance, base, s->now_ns);
    share_trace(s, n, 1); /* what ended is final */
    int kept = 0;
    for (int k = 0; k < n; k++)
        if (s->plan[k].state != HALO_SHARE_ENDED)
            s->plan[kept++] = s->plan[k];
        else if (s->plan[k].core >= 0) /* in chain order: the last one ended is its last */
            s->nodes[s->plan[k].dev].last_core = s->plan[k].core;
    n = kept;
    /* the new segment, last of node i's chain */
    int at = 0;
    while (at < n && s->plan[at].dev <= i)
        at++;
    memmove(&s->plan[at + 1], &s->plan[at], (size_t)(n - at) * sizeof *s->plan);
    halo_share_seg *seg = &s->plan[at];
    memset(seg, 0, sizeof *seg);
    seg->dev = i;
    seg->start_ns = from;
    seg->end_ns = from + work;
    seg->left_ns = (double)work;
    memcpy(seg->ratio, ratio, sizeof seg->ratio);
    seg->home = s->nodes[i].last_core; /* the planner's, when it follows one of node i's */
    seg->core = -1;
    seg->tag = trace_event;
    n++;
    for (int k = 0; k < n; k++)
        s->plan_old[k] = s->plan[k].end_ns;
    halo_share_plan(s->plan, n, max_m, cores, balance, s->now_ns, UINT64_MAX);
    share_trace(s, n, 0);
    /* move each node by its delays, and hand its segments back */
    share_shift *by_node = s->shifts;
    memset(by_node, 0, (size_t)s->n * sizeof *by_node);
    int moved = 0;
    for (int k = 0, first = 0; k <= n; k++) {
        if (k < n && s->plan[k].dev == s->plan[first].dev)
            continue;
        if (first < n) {
            int j = s->plan[first].dev;
            node *o = &s->nodes[j];
            share_shift sh = {.s = s, .first = first, .count = k - first};
            int any = 0;
            for (int x = first; x < k; x++)
                any |= s->plan[x].end_ns != s->plan_old[x];
            if (any) {
                /* a segment's start moves with the one before it: the compute time grows by
                   the last one's delay */
                int64_t last = (int64_t)s->plan[k - 1].end_ns - (int64_t)s->plan_old[k - 1];
                moved = 1;
                by_node[j] = sh;
                o->stats.compute_ns = (uint64_t)((int64_t)o->stats.compute_ns + last);
                uint64_t busy = o->clock.busy_until_ns;
                o->clock.busy_until_ns = share_moved(&sh, busy, s->now_ns);
                if (o->wait_until_ns > s->now_ns) {
                    o->wait_from_ns = share_moved(&sh, o->wait_from_ns, s->now_ns);
                    o->wait_until_ns = share_moved(&sh, o->wait_until_ns, s->now_ns);
                }
            }
            if (k - first > o->capseg) {
                int cap = (k - first) * 2;
                halo_share_seg *segs = realloc(o->segs, (size_t)cap * sizeof *segs);
                if (!segs) {
                    s->failed = 1;
                    return;
                }
                o->segs = segs;
                o->capseg = cap;
            }
            memcpy(o->segs, &s->plan[first], (size_t)(k - first) * sizeof *o->segs);
            o->nseg = k - first;
        }
        first = k;
    }
    if (moved) {
        share_retime r = {.by_node = by_node, .now_ns = s->now_ns};
        halo_evq_retime(s->q, share_retime_event, &r);
    }
}

static void sim_charge(halo_transport *t, int i, const halo_cost *cost) {
    sim *s = as_sim(t);
    if (bad_node(s, i))
        return;
    node *n = &s->nodes[i];
    uint64_t now = node_now(s, i), before = n->stats.compute_ns;
    s->last_app_ns = s->now_ns;
    halo_device_charge(&n->clock, &n->dev, now, cost, &n->stats);
    if (n->dev.compute_cv > 0) { /* this segment's own speed: a log-normal factor of mean 1 */
        uint64_t dt = n->stats.compute_ns - before;
        uint64_t jittered =
            duration_ns((double)dt * lognormal_factor(&n->rng, n->dev.compute_cv), 0);
        n->clock.busy_until_ns = n->clock.busy_until_ns - dt + jittered;
        n->stats.compute_ns = before + jittered;
    }
    /* the host's cores: shared over time with its bandwidth (share_host), or, without a
       host bandwidth, at the share fixed at the segment's start */
    uint64_t extra =
        shares_memory(s, i) ? 0 : host_share_extra(s, i, now, n->stats.compute_ns - before);
    n->clock.busy_until_ns += extra;
    n->stats.compute_ns += extra;
    uint64_t work = n->stats.compute_ns - before;
    /* the span as charged; on a shared host, as planned each time the host is planned again
       (a later segment of another device that overlaps it delays its end) */
    long event = s->trace
                     ? halo_trace_add(s->trace, i, HALO_TRACE_COMPUTE, "compute", now,
                                      n->clock.busy_until_ns, 0, -1, (int64_t)llround(cost->flops))
                     : -1;
    if (shares_memory(s, i) && work > 0) {
        double ratio[HALO_SHARE_MAX];
        share_ratios(s, i, cost, ratio);
        share_host(s, i, ratio, n->clock.busy_until_ns - work, work, event);
    }
}

/* ==== Trace (issue 17) ==== */

static void sim_trace(halo_transport *t, int i, const char *what, uint64_t start_ns,
                      uint64_t end_ns, int instant, int64_t arg) {
    sim *s = as_sim(t);
    if (!bad_node(s, i))
        halo_trace_add(s->trace, i, HALO_TRACE_SYNC, what, start_ns, end_ns, instant, -1, arg);
}

int halo_sim_trace_write(halo_transport *t, const char *path, const char *const *node_names,
                         halo_err *err) {
    sim *s = as_sim(t);
    if (!s->trace)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: %s: this world keeps no trace", path);
    return halo_trace_write(s->trace, path, node_names, err);
}

static int sim_run(halo_transport *t, halo_done_fn done, void *arg, halo_err *err) {
    sim *s = as_sim(t);
    halo_event ev;
    while (!(done && done(arg))) {
        if (s->failed)
            return HALO_FAIL(err, HALO_ERR_NOMEM, "sim: out of memory during the simulation");
        if (!halo_evq_pop(s->q, &ev))
            return HALO_FAIL(err, HALO_ERR_AGAIN, "sim: stalled at t=%llu ns, nothing pending",
                             (unsigned long long)s->now_ns);
        if (ev.time_ns > s->now_ns)
            s->now_ns = ev.time_ns;
        s->events++;
        switch (ev.kind) {
        case EV_TIMER:
            s->last_app_ns = s->now_ns;
            ev.fn(ev.ptr2);
            break;
        case EV_HEARTBEAT:
            heartbeat(s);
            break;
        case EV_SEND:
            network_send(s, ev.node, (int)(ev.u64 >> 32), ev.ptr, (size_t)(ev.u64 & 0xffffffffu),
                         (int)(intptr_t)ev.ptr2);
            break;
        case EV_SWITCH:
            at_switch(s, ev.ptr);
            break;
        case EV_ARRIVE: {
            packet *p = ev.ptr;
            if (p->kind == 0)
                dgram_fragment_done(s, p->dg, 0);
            else
                tcp_arrive(s, p);
            packet_put(s, p);
            break;
        }
        case EV_TCP_TIMER:
            tcp_timer(s, ev.ptr, (int)ev.u64);
            break;
        default:
            HALO_ASSERT(0);
        }
    }
    return HALO_OK;
}

static void sim_destroy(halo_transport *t) {
    sim *s = as_sim(t);
    halo_event ev;
    while (s->q && halo_evq_pop(s->q, &ev)) { /* no queue: halo_sim_new failed */
        if (ev.kind == EV_SEND) {
            free(ev.ptr);
        } else if (ev.kind == EV_SWITCH || ev.kind == EV_ARRIVE) {
            packet *p = ev.ptr;
            if (p->kind == 0 && --p->dg->remaining == 0) {
                free(p->dg->data);
                free(p->dg);
            }
            free(p);
        }
    }
    while (s->free_packets) {
        packet *p = s->free_packets;
        s->free_packets = p->next_free;
        free(p);
    }
    for (size_t i = 0; s->conns && i < (size_t)s->n * (size_t)s->n; i++)
        conn_free(s->conns[i]);
    free(s->conns);
    halo_evq_free(s->q);
    halo_trace_free(s->trace);
    for (int i = 0; s->nodes && i < s->n; i++)
        free(s->nodes[i].segs);
    free(s->plan);
    free(s->plan_old);
    free(s->shifts);
    free(s->rx_lost);
    free(s->nodes);
    free(s->up);
    free(s->down);
    free(s);
}

/* The slots of both vtables below. */
#define SIM_OPS                                                                             \
    .attach = sim_attach, .send = sim_send, .schedule = sim_schedule, .cancel = sim_cancel, \
    .now_ns = sim_now, .charge = sim_charge, .run = sim_run, .destroy = sim_destroy,        \
    .arrived_ns = sim_arrived, .expect = sim_expect, .rx_lost = sim_rx_lost

static const halo_transport_ops sim_ops = {SIM_OPS};

/* The same with the trace op: only a traced world pays even the test for it in core. */
static const halo_transport_ops sim_traced_ops = {SIM_OPS, .trace = sim_trace};

/* ==== Setup ==== */

static int check_loss(const halo_loss_spec *l, const char *what, int i, halo_err *err) {
    double ps[5] = {l->p, l->p_good_bad, l->p_bad_good, l->loss_good, l->loss_bad};
    if (l->model < HALO_LOSS_NONE || l->model > HALO_LOSS_GILBERT)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: %s of node %d: unknown loss model %d", what, i,
                         l->model);
    for (int k = 0; k < 5; k++)
        if (!(ps[k] >= 0.0 && ps[k] <= 1.0))
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "sim: %s of node %d: loss probability %g not in [0, 1]", what, i,
                             ps[k]);
    if (l->model == HALO_LOSS_BERNOULLI && l->p >= 1.0)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: %s of node %d: loss %g must be below 1", what, i,
                         l->p);
    if (l->model == HALO_LOSS_GILBERT && l->mean_bad_ns > 0 && l->mean_good_ns == 0)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "sim: %s of node %d: time-based Gilbert-Elliott needs a mean good "
                         "period",
                         what, i);
    if (l->model == HALO_LOSS_GILBERT && halo_loss_mean(l) >= 1.0)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: %s of node %d: mean loss must be below 1", what,
                         i);
    return HALO_OK;
}

static int check_link(const halo_link_spec *l, const char *what, int i, halo_err *err) {
    if (!(l->bandwidth_bps > 0) || !isfinite(l->bandwidth_bps))
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: %s of node %d: bandwidth %g must be > 0", what, i,
                         l->bandwidth_bps);
    if (l->mtu_bytes < 576 || l->mtu_bytes > 65535)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: %s of node %d: mtu %d not in 576..65535", what, i,
                         l->mtu_bytes);
    if (l->header_bytes < 0 || l->header_bytes > 1024)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: %s of node %d: header bytes %d not in 0..1024",
                         what, i, l->header_bytes);
    if (l->latency_ns > 3600000000000ull || l->jitter_ns > 3600000000000ull)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: %s of node %d: latency or jitter above an hour",
                         what, i);
    return check_loss(&l->loss, what, i, err);
}

static int check_device(const halo_device_profile *d, int i, halo_err *err) {
    if (!(d->flops_per_s > 0) || !(d->mem_bw_bps > 0) || !isfinite(d->flops_per_s) ||
        !isfinite(d->mem_bw_bps) || !(d->storage_bw_bps >= 0))
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "sim: device %d: compute rate and memory bandwidth must be > 0", i);
    if (!(d->strided_bw_bps >= 0) || !isfinite(d->strided_bw_bps))
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: device %d: strided bandwidth %g must be >= 0", i,
                         d->strided_bw_bps);
    if (!(d->compute_cv >= 0) || d->compute_cv > 10)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: device %d: compute_cv %g not in [0, 10]", i,
                         d->compute_cv);
    if (d->recv_jitter_ns > 1000000000ull || d->cold_wake_ns > 1000000000ull)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "sim: device %d: recv_jitter or cold_wake above a second", i);
    if (!d->cold_wake_ns != !d->cold_tau_ns)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "sim: device %d: cold_wake and its time constant go together", i);
    if (!(d->host_mem_bw_bps >= 0) || !isfinite(d->host_mem_bw_bps))
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: device %d: host memory bandwidth %g must be >= 0",
                         i, d->host_mem_bw_bps);
    if (!(d->host_overlap >= 0) || d->host_overlap > 1)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: device %d: host_overlap %g not in [0, 1]", i,
                         d->host_overlap);
    if (!(d->cache_bw_bps >= 0) || !isfinite(d->cache_bw_bps) ||
        (d->weights_cached && !(d->cache_bw_bps > 0)))
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: device %d: cache bandwidth %g", i,
                         d->cache_bw_bps);
    return HALO_OK;
}

int halo_sim_new(halo_transport **out, const halo_sim_config *cfg, halo_err *err) {
    *out = NULL;
    if (cfg->n_nodes < 1 || cfg->n_nodes > 65535)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: %d nodes, expected 1..65535", cfg->n_nodes);
    if (cfg->delivery != HALO_DELIVERY_DATAGRAM && cfg->delivery != HALO_DELIVERY_STREAM)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: unknown delivery %d", cfg->delivery);
    const halo_tcp_config *tc = &cfg->tcp;
    if (cfg->delivery == HALO_DELIVERY_STREAM &&
        (tc->init_cwnd < 1 || tc->rto_min_ns == 0 || tc->rto_max_ns < tc->rto_min_ns ||
         tc->rto_init_ns == 0 || tc->dupack_threshold < 1 || tc->quickack_segments < 0 ||
         tc->comp_sack_nr < 0 || (tc->cc != HALO_TCP_CC_CUBIC && tc->cc != HALO_TCP_CC_RENO)))
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: tcp settings out of range");
    for (int i = 0; i < cfg->n_nodes; i++) {
        int rc = check_device(&cfg->devices[i], i, err);
        if (rc == HALO_OK)
            rc = check_link(&cfg->uplink[i], "uplink", i, err);
        if (rc == HALO_OK)
            rc = check_link(&cfg->downlink[i], "downlink", i, err);
        if (rc != HALO_OK)
            return rc;
    }
    sim *s = calloc(1, sizeof *s);
    if (!s)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "sim: out of memory");
    s->base.ops = &sim_ops;
    s->n = cfg->n_nodes;
    s->delivering = -1;
    s->delivery = cfg->delivery;
    s->parity = cfg->parity != 0;
    s->tcp = cfg->tcp;
    s->heartbeat_ns = cfg->heartbeat_ns;
    size_t n = (size_t)cfg->n_nodes;
    s->nodes = calloc(n, sizeof *s->nodes);
    s->up = calloc(n, sizeof *s->up);
    s->down = calloc(n, sizeof *s->down);
    s->shifts = calloc(n, sizeof *s->shifts);
    s->rx_lost = calloc(n * n, sizeof *s->rx_lost);
    s->conns = cfg->delivery == HALO_DELIVERY_STREAM ? calloc(n * n, sizeof *s->conns) : NULL;
    int rc = (!s->nodes || !s->up || !s->down || !s->shifts || !s->rx_lost ||
              (cfg->delivery == HALO_DELIVERY_STREAM && !s->conns))
                 ? HALO_FAIL(err, HALO_ERR_NOMEM, "sim: out of memory")
                 : halo_evq_new(&s->q, err);
    if (rc == HALO_OK && cfg->trace_max_events > 0) {
        rc = halo_trace_new(&s->trace, cfg->n_nodes, cfg->trace_max_events, err);
        s->base.ops = &sim_traced_ops;
    }
    if (rc != HALO_OK) {
        sim_destroy(&s->base);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        s->nodes[i].dev = cfg->devices[i];
        s->up[i].spec = cfg->uplink[i];
        s->down[i].spec = cfg->downlink[i];
        /* purpose: 1 = uplink loss/jitter, 2 = downlink loss/jitter */
        halo_rng_init_stream(&s->up[i].rng, cfg->seed, cfg->run, i, 1);
        halo_rng_init_stream(&s->down[i].rng, cfg->seed, cfg->run, i, 2);
        halo_rng_init_stream(&s->nodes[i].rng, cfg->seed, cfg->run, i, 3); /* compute_cv */
        halo_rng_init_stream(&s->nodes[i].jitter_rng, cfg->seed, cfg->run, i, 4);
        /* placed cores: the k-th device of a host starts on core k mod cores */
        int rank = 0;
        for (size_t j = 0; j < i; j++)
            rank += cfg->devices[j].host > 0 && cfg->devices[j].host == cfg->devices[i].host;
        s->nodes[i].last_core = cfg->devices[i].cores > 0 ? rank % cfg->devices[i].cores : 0;
    }
    if (s->heartbeat_ns && n > 1) { /* the first ping one period in (an allocation failure
                                       shows at run) */
        halo_event ev = {.time_ns = s->heartbeat_ns, .kind = EV_HEARTBEAT};
        push(s, &ev, NULL);
    }
    *out = &s->base;
    return HALO_OK;
}

void halo_sim_get_stats(halo_transport *t, int i, halo_sim_node_stats *out) {
    sim *s = as_sim(t);
    HALO_ASSERT(!bad_node(s, i));
    *out = s->nodes[i].stats;
}

int halo_sim_drop_packet(halo_transport *t, int i, uint64_t index) {
    sim *s = as_sim(t);
    HALO_ASSERT(!bad_node(s, i));
    link *l = &s->up[i];
    if (l->n_drop == HALO_SIM_MAX_DROPS)
        return HALO_ERR_ARG;
    l->drop[l->n_drop++] = l->packets + index + 1;
    return HALO_OK;
}

uint64_t halo_sim_events(halo_transport *t) {
    return as_sim(t)->events;
}
