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

enum {
    TCP_TIMER_RTO = 0,
    TCP_TIMER_TLP,
    TCP_TIMER_REORDER,
    TCP_TIMER_DELACK,
    TCP_N_TIMERS
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
        l->mean_good_ns = good < 1.8e19 ? (uint64_t)llround(good) : UINT64_MAX / 2;
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

/*
 * Puts a packet of `wire_bytes` onto `l` at time `t`. Returns its arrival time at the far
 * end, or UINT64_MAX when it is lost (on the wire or by a full queue).
 */
static uint64_t link_transmit(link *l, uint64_t t, uint64_t wire_bytes) {
    l->packets++;
    l->bytes += wire_bytes;
    uint64_t start = l->free_at_ns > t ? l->free_at_ns : t;
    if (l->spec.queue_bytes) {
        double backlog = (double)(start - t) * l->spec.bandwidth_bps / 8e9;
        if (backlog + (double)wire_bytes > (double)l->spec.queue_bytes) {
            l->lost++;
            return UINT64_MAX;
        }
    }
    uint64_t ser = (uint64_t)ceil((double)wire_bytes * 8e9 / l->spec.bandwidth_bps);
    l->free_at_ns = start + ser;
    if (draw_loss(l, start)) {
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

/* ==== Structures ==== */

typedef struct dgram {
    int src, dst;
    int msg;       /* MSG_APP, MSG_PING or MSG_PONG */
    int remaining; /* fragments not yet arrived or lost */
    int lost;
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
    double cwnd, ssthresh;
    int dupacks;
    uint64_t srtt_ns, rttvar_ns, min_rtt_ns;
    int have_rtt;
    int backoff;
    uint64_t recovery_end; /* fast recovery until snd_una passes this */
    int in_recovery;
    uint64_t rack_xmit_ns; /* send time of the most recently sent delivered segment */
    uint64_t rack_end;     /* its end sequence (orders segments sent at the same instant) */
    uint64_t timer_id[TCP_N_TIMERS];
    int timer_on[TCP_N_TIMERS];
    /* receiver (state for the data arriving from src) */
    uint64_t rcv_nxt;
    range *ooo; /* out-of-order ranges, sorted, disjoint */
    int n_ooo, cap_ooo;
    uint64_t unacked_bytes; /* received and not yet acknowledged */
    int quickack;           /* segments still to ACK at once */
    int ack_pending;
};

typedef struct node {
    halo_device_profile dev;
    halo_device_clock clock;
    halo_recv_fn recv;
    void *recv_ctx;
    halo_sim_node_stats stats;
} node;

typedef struct sim {
    halo_transport base;
    int n;
    node *nodes;
    link *up, *down;
    conn **conns; /* (n, n), created on first use */
    int delivery;
    halo_tcp_config tcp;
    uint64_t heartbeat_ns;
    uint64_t last_app_ns; /* the application's last send, charge or timer */
    halo_evq *q;
    uint64_t now_ns;
    uint64_t events;
    packet *free_packets;
    int failed; /* an allocation failed inside an event: run() reports it */
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

/* Sends a packet from its source at time t: onto the source's uplink. */
static void launch(sim *s, packet *p, uint64_t t) {
    node *src = &s->nodes[p->src];
    src->stats.packets_sent++;
    src->stats.bytes_on_wire += p->wire_bytes;
    uint64_t at = link_transmit(&s->up[p->src], t, p->wire_bytes);
    if (at == UINT64_MAX) {
        src->stats.packets_lost++;
        if (p->kind == 0)
            dgram_fragment_done(s, p->dg, 1);
        packet_put(s, p);
        return;
    }
    halo_event ev = {.time_ns = at, .kind = EV_SWITCH, .ptr = p};
    push(s, &ev, NULL);
}

static void at_switch(sim *s, packet *p) {
    uint64_t at = link_transmit(&s->down[p->dst], s->now_ns, p->wire_bytes);
    if (at == UINT64_MAX) {
        s->nodes[p->src].stats.packets_lost++;
        if (p->kind == 0)
            dgram_fragment_done(s, p->dg, 1);
        packet_put(s, p);
        return;
    }
    halo_event ev = {.time_ns = at, .kind = EV_ARRIVE, .ptr = p};
    push(s, &ev, NULL);
}

/* How many other devices of node i's host are busy (computing or in a system call) at t. */
static int host_busy(const sim *s, int i, uint64_t t) {
    int k = 0;
    for (int j = 0; j < s->n; j++)
        k += j != i && s->nodes[j].dev.host == s->nodes[i].dev.host &&
             s->nodes[j].clock.busy_until_ns > t;
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
    return share > 1.0 ? (uint64_t)llround((double)dt * (share - 1.0)) : 0;
}

/* ==== Datagram delivery ==== */

uint64_t halo_device_host_ns(const halo_device_profile *p, uint64_t per_message_ns, size_t len) {
    return per_message_ns + (uint64_t)llround(p->copy_ns_per_kb * (double)len / 1024.0);
}

static void control_send(sim *s, int src, int dst, int msg);

/* The receiving node takes the message when it is free, after its receive cost; a ping is
   answered, a pong dropped. */
static void deliver(sim *s, int src, int dst, const unsigned char *data, size_t len, int msg) {
    node *n = &s->nodes[dst];
    if (msg == MSG_APP)
        s->nodes[src].stats.msgs_delivered++;
    uint64_t cost = halo_device_host_ns(&n->dev, n->dev.recv_ns, len);
    if (cost) {
        uint64_t start = n->clock.busy_until_ns > s->now_ns ? n->clock.busy_until_ns : s->now_ns;
        cost += host_share_extra(s, dst, start, cost);
        n->clock.busy_until_ns = start + cost;
        n->stats.host_ns += cost;
    }
    if (msg == MSG_PING)
        control_send(s, dst, src, MSG_PONG);
    else if (msg == MSG_APP && n->recv)
        n->recv(n->recv_ctx, src, data, len);
}

static void dgram_fragment_done(sim *s, dgram *d, int lost) {
    d->lost |= lost;
    if (--d->remaining > 0)
        return;
    if (d->lost) {
        if (d->msg == MSG_APP)
            s->nodes[d->src].stats.msgs_lost++;
    } else {
        deliver(s, d->src, d->dst, d->data, d->len, d->msg);
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
    dgram *d = calloc(1, sizeof *d);
    if (!d) {
        free(data);
        s->failed = 1;
        return;
    }
    *d = (dgram){.src = src, .dst = dst, .msg = msg, .remaining = n_frag, .len = len, .data = data};
    for (int i = 0; i < n_frag; i++) {
        packet *p = packet_get(s);
        if (!p) {
            dgram_fragment_done(s, d, 1);
            continue;
        }
        uint64_t bytes = i + 1 < n_frag ? frag : charged - frag * (uint64_t)(n_frag - 1);
        *p = (packet){.kind = 0,
                      .src = src,
                      .dst = dst,
                      .wire_bytes = bytes + (uint64_t)up->spec.header_bytes,
                      .dg = d};
        launch(s, p, t);
    }
}

/* ==== TCP model ==== */

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

/* Kernel timers fire on clock ticks (jiffies): the first tick at or after `at`. */
static uint64_t on_tick(const sim *s, uint64_t at) {
    uint64_t tick = s->tcp.tick_ns;
    return tick ? (at + tick - 1) / tick * tick : at;
}

static void timer_start(sim *s, conn *c, int which, uint64_t at) {
    timer_stop(s, c, which);
    at = on_tick(s, at);
    halo_event ev = {.time_ns = at, .kind = EV_TCP_TIMER, .ptr = c, .u64 = (uint64_t)which};
    push(s, &ev, &c->timer_id[which]);
    c->timer_on[which] = 1;
}

static segment *seg_at(conn *c, int i) {
    return &c->segs[(c->head_seg + i) % c->cap_segs];
}

/* Receiver side of `rc` (data dst <- src) fills the ACK fields of a packet. */
static void fill_ack(packet *p, conn *rc) {
    p->ack_conn = rc;
    p->ack = rc->rcv_nxt;
    p->n_sack = rc->n_ooo < 4 ? rc->n_ooo : 4;
    for (int i = 0; i < p->n_sack; i++)
        p->sack[i] = rc->ooo[i];
    rc->unacked_bytes = 0;
    rc->ack_pending = 0;
}

/* The connection carrying data the other way, whose ACK can ride on our segments. */
static conn *reverse_conn(sim *s, const conn *c) {
    return s->conns[(size_t)c->dst * (size_t)s->n + (size_t)c->src];
}

static void transmit_segment(sim *s, conn *c, segment *g, int retransmission) {
    packet *p = packet_get(s);
    if (!p)
        return;
    const link *up = &s->up[c->src];
    *p = (packet){.kind = 1,
                  .src = c->src,
                  .dst = c->dst,
                  .data_conn = c,
                  .seq = g->seq,
                  .end = g->end,
                  .wire_bytes =
                      (g->end - g->seq) + (uint64_t)up->spec.header_bytes + TCP_EXTRA_HEADER};
    conn *rc = reverse_conn(s, c);
    if (rc) { /* piggyback the ACK for data flowing back to us */
        fill_ack(p, rc);
        timer_stop(s, rc, TCP_TIMER_DELACK);
    }
    g->sent_ns = s->now_ns;
    if (retransmission) {
        g->retransmitted = 1;
        s->nodes[c->src].stats.retransmits++;
    }
    g->lost = 0;
    launch(s, p, s->now_ns);
}

static void arm_rto_or_probe(sim *s, conn *c) {
    if (c->n_segs == 0) {
        timer_stop(s, c, TCP_TIMER_RTO);
        timer_stop(s, c, TCP_TIMER_TLP);
        return;
    }
    uint64_t rto_at = s->now_ns + rto_of(s, c);
    timer_start(s, c, TCP_TIMER_RTO, rto_at);
    if (s->tcp.tlp && c->have_rtt && !c->in_recovery && c->backoff == 0) {
        /* Linux: PTO = 2 srtt, + rto_min with one packet out (a delayed ACK is likely),
         * + 2 ms otherwise; never later than the RTO. */
        uint64_t two_ticks = s->tcp.tick_ns ? 2 * s->tcp.tick_ns : 2000000;
        uint64_t pto = 2 * c->srtt_ns + (c->n_segs == 1 ? s->tcp.rto_min_ns : two_ticks);
        uint64_t at = s->now_ns + pto;
        if (at < rto_at)
            timer_start(s, c, TCP_TIMER_TLP, at);
        else
            timer_stop(s, c, TCP_TIMER_TLP);
    }
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

/* Sends new data as the congestion window allows. */
static void push_data(sim *s, conn *c) {
    uint64_t mss = mss_of(s, c);
    int sent = 0;
    while (c->snd_nxt < c->write_seq && (double)c->n_segs < c->cwnd) {
        int r = grow((void **)&c->segs, &c->cap_segs, sizeof *c->segs, c->n_segs + 1, c->head_seg,
                     c->n_segs);
        if (r < 0) {
            s->failed = 1;
            return;
        }
        if (r > 0)
            c->head_seg = 0;
        uint64_t end = c->snd_nxt + mss < c->write_seq ? c->snd_nxt + mss : c->write_seq;
        segment *g = seg_at(c, c->n_segs++);
        *g = (segment){.seq = c->snd_nxt, .end = end};
        c->snd_nxt = end;
        transmit_segment(s, c, g, 0);
        sent = 1;
    }
    if (sent)
        arm_rto_or_probe(s, c);
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
    push_data(s, c);
}

/* Receiver: delivers every message whose last byte has arrived in order. */
static void deliver_in_order(sim *s, conn *c) {
    while (c->n_msgs > 0) {
        smsg *m = &c->msgs[c->head_msg];
        if (m->end_seq > c->rcv_nxt)
            break;
        c->head_msg = (c->head_msg + 1) % c->cap_msgs;
        c->n_msgs--;
        deliver(s, c->src, c->dst, m->data, m->len, m->msg);
        free(m->data);
    }
}

static void send_pure_ack(sim *s, conn *rc) {
    packet *p = packet_get(s);
    if (!p)
        return;
    const link *up = &s->up[rc->dst];
    *p = (packet){.kind = 1,
                  .src = rc->dst,
                  .dst = rc->src,
                  .wire_bytes = (uint64_t)up->spec.header_bytes + TCP_EXTRA_HEADER};
    fill_ack(p, rc);
    timer_stop(s, rc, TCP_TIMER_DELACK);
    launch(s, p, s->now_ns);
}

/* Receiver: a data segment [seq, end) of connection c arrived. */
static void receive_data(sim *s, conn *c, uint64_t seq, uint64_t end) {
    int out_of_order = seq > c->rcv_nxt;
    if (end <= c->rcv_nxt) { /* a duplicate: ACK at once (it may be a probe) */
        send_pure_ack(s, c);
        return;
    }
    int filled_hole = !out_of_order && c->n_ooo > 0;
    if (!out_of_order) {
        c->rcv_nxt = end;
        /* absorb out-of-order ranges now contiguous */
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
    } else {
        if (grow((void **)&c->ooo, &c->cap_ooo, sizeof *c->ooo, c->n_ooo + 1, 0, c->n_ooo) < 0) {
            s->failed = 1;
            return;
        }
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
                memmove(c->ooo + i + 1, c->ooo + i + 2,
                        (size_t)(c->n_ooo - i - 2) * sizeof *c->ooo);
                c->n_ooo--;
            }
        } else {
            memmove(c->ooo + i + 1, c->ooo + i, (size_t)(c->n_ooo - i) * sizeof *c->ooo);
            c->ooo[i] = (range){seq, end};
            c->n_ooo++;
        }
    }
    c->unacked_bytes += end - seq;
    /* Linux (__tcp_ack_snd_check): ACK at once when out of order, when a hole was just
     * filled, when more than one full segment is unacknowledged, or in quickack mode;
     * otherwise delay. The kernel decides before the application reads the data, so an
     * answer the application sends right away can only carry a delayed ACK. */
    /* ... and when a segment shorter than the MSS (a message's tail, pushed) has been read
     * by the application, which reads at once: tcp_cleanup_rbuf's ICSK_ACK_PUSHED rule. */
    int pushed = end - seq < mss_of(s, c);
    if (out_of_order || filled_hole || c->unacked_bytes > mss_of(s, c) || c->quickack > 0 ||
        s->tcp.quickack || pushed) {
        if (c->quickack > 0)
            c->quickack--;
        send_pure_ack(s, c);
    } else if (!c->ack_pending) {
        c->ack_pending = 1;
        timer_start(s, c, TCP_TIMER_DELACK, s->now_ns + s->tcp.delack_ns);
    }
    deliver_in_order(s, c);
}

static void update_rtt(conn *c, uint64_t sample) {
    if (!c->have_rtt) {
        c->srtt_ns = sample;
        c->rttvar_ns = sample / 2;
        c->min_rtt_ns = sample;
        c->have_rtt = 1;
        return;
    }
    uint64_t diff = sample > c->srtt_ns ? sample - c->srtt_ns : c->srtt_ns - sample;
    c->rttvar_ns = (3 * c->rttvar_ns + diff) / 4;
    c->srtt_ns = (7 * c->srtt_ns + sample) / 8;
    if (sample < c->min_rtt_ns)
        c->min_rtt_ns = sample;
}

/* Records that segment g was delivered (ACKed or SACKed), for RACK. */
static void rack_update(conn *c, const segment *g) {
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
 * RACK (RFC 8985, as Linux does it): a segment sent before a delivered one, and older than
 * srtt + reo_wnd, is lost. reo_wnd is min_rtt / 4, or 0 once dupack_threshold segments are
 * SACKed (Linux, with no reordering seen). A segment still inside its window is checked
 * again by the reorder timer, which Linux arms 2 ticks (TCP_TIMEOUT_MIN) past the window.
 */
static void rack_detect(sim *s, conn *c) {
    int sacked = 0;
    for (int i = 0; i < c->n_segs; i++)
        sacked += seg_at(c, i)->sacked;
    uint64_t reo = sacked >= s->tcp.dupack_threshold ? 0 : c->min_rtt_ns / 4;
    uint64_t wait_until = 0;
    int marked = 0;
    for (int i = 0; i < c->n_segs; i++) {
        segment *g = seg_at(c, i);
        if (g->sacked || g->lost || !rack_sent_before(c, g))
            continue;
        uint64_t deadline = g->sent_ns + c->srtt_ns + reo;
        if (s->now_ns >= deadline) {
            g->lost = 1;
            marked = 1;
        } else if (!wait_until || deadline < wait_until) {
            wait_until = deadline;
        }
    }
    if (wait_until)
        timer_start(s, c, TCP_TIMER_REORDER, on_tick(s, wait_until) + 2 * s->tcp.tick_ns);
    if (marked && !c->in_recovery) { /* enter fast recovery once per window */
        c->in_recovery = 1;
        c->recovery_end = c->snd_nxt;
        c->ssthresh = c->cwnd / 2 > 2 ? c->cwnd / 2 : 2;
        c->cwnd = c->ssthresh;
    }
}

static void retransmit_lost(sim *s, conn *c) {
    int sent = 0;
    for (int i = 0; i < c->n_segs; i++) {
        segment *g = seg_at(c, i);
        if (g->lost) {
            transmit_segment(s, c, g, 1);
            sent = 1;
        }
    }
    if (sent)
        arm_rto_or_probe(s, c);
}

/* Sender: an ACK for connection c arrived. */
static void receive_ack(sim *s, conn *c, const packet *p) {
    uint64_t acked_bytes = p->ack > c->snd_una ? p->ack - c->snd_una : 0;
    int progressed = 0;
    while (c->n_segs > 0 && seg_at(c, 0)->end <= p->ack) {
        segment *g = seg_at(c, 0);
        if (!g->retransmitted)
            update_rtt(c, s->now_ns - g->sent_ns);
        rack_update(c, g);
        c->head_seg = (c->head_seg + 1) % c->cap_segs;
        c->n_segs--;
        progressed = 1;
    }
    if (p->ack > c->snd_una)
        c->snd_una = p->ack;
    for (int k = 0; k < p->n_sack; k++)
        for (int i = 0; i < c->n_segs; i++) {
            segment *g = seg_at(c, i);
            if (!g->sacked && g->seq >= p->sack[k].start && g->end <= p->sack[k].end) {
                g->sacked = 1;
                g->lost = 0;
                rack_update(c, g);
            }
        }
    if (progressed) {
        c->backoff = 0;
        c->dupacks = 0;
        /* Congestion control: slow start, then congestion avoidance (per MSS acked). */
        double segs = (double)acked_bytes / (double)mss_of(s, c);
        if (c->in_recovery && c->snd_una >= c->recovery_end)
            c->in_recovery = 0;
        if (!c->in_recovery)
            c->cwnd += c->cwnd < c->ssthresh ? segs : segs / c->cwnd;
    } else if (p->n_sack > 0 && c->n_segs > 0) {
        c->dupacks++;
        if (c->dupacks >= s->tcp.dupack_threshold) {
            segment *g = seg_at(c, 0);
            if (!g->sacked)
                g->lost = 1;
        }
    }
    rack_detect(s, c);
    retransmit_lost(s, c);
    push_data(s, c);
    if (progressed || c->n_segs == 0)
        arm_rto_or_probe(s, c);
}

static void tcp_arrive(sim *s, packet *p) {
    if (p->ack_conn)
        receive_ack(s, p->ack_conn, p);
    if (p->data_conn)
        receive_data(s, p->data_conn, p->seq, p->end);
}

static void tcp_timer(sim *s, conn *c, int which) {
    c->timer_on[which] = 0;
    switch (which) {
    case TCP_TIMER_DELACK:
        if (c->ack_pending)
            send_pure_ack(s, c);
        return;
    case TCP_TIMER_REORDER:
        rack_detect(s, c);
        retransmit_lost(s, c);
        return;
    case TCP_TIMER_TLP:
        if (c->n_segs == 0)
            return;
        s->nodes[c->src].stats.probes++;
        if (c->snd_nxt < c->write_seq) { /* a probe with new data if there is some */
            double cwnd = c->cwnd;
            c->cwnd = (double)c->n_segs + 1;
            push_data(s, c);
            c->cwnd = cwnd;
        } else {
            transmit_segment(s, c, seg_at(c, c->n_segs - 1), 1);
        }
        timer_start(s, c, TCP_TIMER_RTO, s->now_ns + rto_of(s, c));
        return;
    default: /* RTO */
        if (c->n_segs == 0)
            return;
        s->nodes[c->src].stats.timeouts++;
        c->ssthresh = c->cwnd / 2 > 2 ? c->cwnd / 2 : 2;
        c->cwnd = 1;
        c->in_recovery = 0;
        c->backoff++;
        for (int i = 0; i < c->n_segs; i++) {
            segment *g = seg_at(c, i);
            if (!g->sacked)
                g->lost = 1;
        }
        /* Send the first lost segment; the rest follow as ACKs reopen the window. */
        for (int i = 0; i < c->n_segs; i++) {
            segment *g = seg_at(c, i);
            if (g->lost) {
                transmit_segment(s, c, g, 1);
                break;
            }
        }
        timer_stop(s, c, TCP_TIMER_TLP);
        timer_start(s, c, TCP_TIMER_RTO, s->now_ns + rto_of(s, c));
        return;
    }
}

/* ==== Devices ==== */

uint64_t halo_device_time_ns(const halo_device_profile *p, const halo_cost *cost) {
    double t_compute = cost->flops / p->flops_per_s;
    double t_memory = cost->bytes / p->mem_bw_bps;
    double t = t_compute > t_memory ? t_compute : t_memory;
    return (uint64_t)llround(cost->ops * (double)p->op_overhead_ns + t * 1e9);
}

/* Time to read `bytes` from a device's storage (0 when it has no storage model). */
static uint64_t storage_time_ns(const halo_device_profile *p, double bytes) {
    return p->storage_bw_bps > 0 ? (uint64_t)llround(bytes / p->storage_bw_bps * 1e9) : 0;
}

void halo_device_charge(halo_device_clock *c, const halo_device_profile *p, uint64_t now_ns,
                        const halo_cost *cost, halo_sim_node_stats *st) {
    uint64_t start = now_ns;
    if (cost->uses_prefetch && c->prefetch_ready_ns > start)
        start = c->prefetch_ready_ns;
    if (cost->load_bytes > 0) {
        uint64_t begin = c->storage_free_ns > start ? c->storage_free_ns : start;
        uint64_t end = begin + storage_time_ns(p, cost->load_bytes);
        st->storage_read_ns += end - begin;
        st->storage_bytes += (uint64_t)cost->load_bytes;
        c->storage_free_ns = end;
        start = end;
    }
    st->storage_stall_ns += start - now_ns;
    if (cost->prefetch_bytes > 0) {
        uint64_t begin = c->storage_free_ns > start ? c->storage_free_ns : start;
        uint64_t end = begin + storage_time_ns(p, cost->prefetch_bytes);
        st->storage_read_ns += end - begin;
        st->storage_bytes += (uint64_t)cost->prefetch_bytes;
        c->storage_free_ns = end;
        c->prefetch_ready_ns = end;
    }
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
        halo_device_host_ns(&sn->dev, sn->dev.send_ns, msg == MSG_APP ? len : HEARTBEAT_BYTES);
    if (cost) {
        uint64_t start = node_now(s, src);
        cost += host_share_extra(s, src, start, cost);
        sn->clock.busy_until_ns = start + cost;
        sn->stats.host_ns += cost;
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
    uint64_t base = node_now(s, i);
    if (delay_ns > UINT64_MAX - base)
        return HALO_FAIL(err, HALO_ERR_ARG, "sim: timer delay %llu ns overflows",
                         (unsigned long long)delay_ns);
    halo_event ev = {
        .time_ns = base + delay_ns, .kind = EV_TIMER, .node = i, .fn = fn, .ptr2 = arg};
    return halo_evq_push(s->q, &ev, timer_id, err);
}

static int sim_cancel(halo_transport *t, uint64_t timer_id) {
    return halo_evq_cancel(as_sim(t)->q, timer_id);
}

static uint64_t sim_now(halo_transport *t, int i) {
    sim *s = as_sim(t);
    return bad_node(s, i) ? s->now_ns : node_now(s, i);
}

static void sim_charge(halo_transport *t, int i, const halo_cost *cost) {
    sim *s = as_sim(t);
    if (bad_node(s, i))
        return;
    node *n = &s->nodes[i];
    uint64_t now = node_now(s, i), before = n->stats.compute_ns;
    s->last_app_ns = s->now_ns;
    halo_device_charge(&n->clock, &n->dev, now, cost, &n->stats);
    uint64_t extra = host_share_extra(s, i, now, n->stats.compute_ns - before);
    n->clock.busy_until_ns += extra;
    n->stats.compute_ns += extra;
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
    while (halo_evq_pop(s->q, &ev)) {
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
    free(s->nodes);
    free(s->up);
    free(s->down);
    free(s);
}

static const halo_transport_ops sim_ops = {
    .attach = sim_attach,
    .send = sim_send,
    .schedule = sim_schedule,
    .cancel = sim_cancel,
    .now_ns = sim_now,
    .charge = sim_charge,
    .run = sim_run,
    .destroy = sim_destroy,
};

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
         tc->rto_init_ns == 0 || tc->dupack_threshold < 1 || tc->quickack_segments < 0))
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
    s->delivery = cfg->delivery;
    s->tcp = cfg->tcp;
    s->heartbeat_ns = cfg->heartbeat_ns;
    size_t n = (size_t)cfg->n_nodes;
    s->nodes = calloc(n, sizeof *s->nodes);
    s->up = calloc(n, sizeof *s->up);
    s->down = calloc(n, sizeof *s->down);
    s->conns = cfg->delivery == HALO_DELIVERY_STREAM ? calloc(n * n, sizeof *s->conns) : NULL;
    int rc =
        (!s->nodes || !s->up || !s->down || (cfg->delivery == HALO_DELIVERY_STREAM && !s->conns))
            ? HALO_FAIL(err, HALO_ERR_NOMEM, "sim: out of memory")
            : halo_evq_new(&s->q, err);
    if (rc != HALO_OK) {
        free(s->nodes);
        free(s->up);
        free(s->down);
        free(s->conns);
        free(s);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        s->nodes[i].dev = cfg->devices[i];
        s->up[i].spec = cfg->uplink[i];
        s->down[i].spec = cfg->downlink[i];
        /* purpose: 1 = uplink loss/jitter, 2 = downlink loss/jitter */
        halo_rng_init_stream(&s->up[i].rng, cfg->seed, cfg->run, i, 1);
        halo_rng_init_stream(&s->down[i].rng, cfg->seed, cfg->run, i, 2);
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

uint64_t halo_sim_events(halo_transport *t) {
    return as_sim(t)->events;
}
