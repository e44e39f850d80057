/*
 * The simulator's link, loss, device and TCP models: exact timings where they are
 * analytic, statistics where they are random, determinism everywhere.
 */
#include "core/wire.h"
#include "sim/sim.h"
#include "sim/world.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef tu_star world;

/* Devices of 1 GFLOP/s and 1 GB/s on a gigabit switch, 0.1 ms per hop. */
static void world_init(world *w, int n, int delivery) {
    halo_device_profile dev = {.flops_per_s = 1e9, .mem_bw_bps = 1e9};
    halo_link_spec link = {
        .bandwidth_bps = 1e9, .latency_ns = 100000, .mtu_bytes = 1500, .header_bytes = 66};
    tu_star_init(w, n, delivery, dev, link, 7);
}

static halo_transport *make(world *w) {
    return tu_sim_new(&w->cfg);
}

typedef struct rx {
    int count;
    uint64_t at_ns[4096];
    int first[4096];
    halo_transport *t;
    int node;
} rx;

static void on_recv(void *ctx, int src, const void *msg, size_t len) {
    (void)src;
    (void)len;
    rx *r = ctx;
    if (r->count < 4096) {
        r->at_ns[r->count] = r->t->ops->now_ns(r->t, r->node);
        r->first[r->count] = ((const unsigned char *)msg)[0];
    }
    r->count++;
}

/* A transport for `w` with `r` recording what node 0 receives. */
static halo_transport *make_rx(world *w, rx *r) {
    halo_transport *t = make(w);
    *r = (rx){.t = t, .node = 0};
    ASSERT_OK(t->ops->attach(t, 0, on_recv, r, NULL));
    return t;
}

/* make_rx on a fresh world_init(w, n, delivery). */
static halo_transport *world_rx(world *w, int n, int delivery, rx *r) {
    world_init(w, n, delivery);
    return make_rx(w, r);
}

static int idle(void *arg) {
    (void)arg;
    return 0;
}

/* Runs until nothing is pending (the run ends with HALO_ERR_AGAIN by design). */
static void drain(halo_transport *t) {
    ASSERT_EQ(t->ops->run(t, idle, NULL, NULL), HALO_ERR_AGAIN);
}

/* Sends `len` bytes of msg from node src to node dst, then runs until nothing is pending. */
static void send_drained(halo_transport *t, int src, int dst, const void *msg, size_t len) {
    ASSERT_OK(t->ops->send(t, src, dst, msg, len, NULL));
    drain(t);
}

/*
 * Storage (halo_cost.load_bytes / prefetch_bytes / uses_prefetch): one channel per device,
 * 1 MB/s here, so a byte is a microsecond. Compute of 1e6 flops at 1 GFLOP/s is 1 ms.
 */
static void storage_reads_delay_compute_and_read_ahead_overlaps_it(void) {
    world w;
    world_init(&w, 1, HALO_DELIVERY_DATAGRAM);
    w.dev[0].storage_bw_bps = 1e6;
    halo_transport *t = make(&w);
    halo_sim_node_stats st;
    /* a demand read of 2000 bytes (2 ms), then 1 ms of compute; read 3000 bytes ahead */
    halo_cost c = {.flops = 1e6, .load_bytes = 2000, .prefetch_bytes = 3000};
    t->ops->charge(t, 0, &c);
    ASSERT_EQ(t->ops->now_ns(t, 0), 3000000);
    halo_sim_get_stats(t, 0, &st);
    ASSERT_EQ(st.storage_stall_ns, 2000000);
    ASSERT_EQ(st.compute_ns, 1000000);
    /* the read-ahead started at 2 ms and ends at 5 ms: a segment using it waits 2 ms */
    halo_cost use = {.flops = 1e6, .uses_prefetch = 1};
    t->ops->charge(t, 0, &use);
    ASSERT_EQ(t->ops->now_ns(t, 0), 6000000);
    halo_sim_get_stats(t, 0, &st);
    ASSERT_EQ(st.storage_stall_ns, 4000000);
    ASSERT_EQ(st.storage_read_ns, 5000000);
    ASSERT_EQ(st.storage_bytes, 5000);
    /* a read-ahead of 1000 bytes (6..7 ms) hidden behind 2 ms of compute: no wait */
    halo_cost ahead = {.flops = 2e6, .prefetch_bytes = 1000};
    t->ops->charge(t, 0, &ahead);
    t->ops->charge(t, 0, &use);
    ASSERT_EQ(t->ops->now_ns(t, 0), 9000000);
    /* a demand read queues behind a read-ahead still in flight on the one channel */
    halo_cost ahead2 = {.prefetch_bytes = 4000};
    t->ops->charge(t, 0, &ahead2); /* 9..13 ms */
    halo_cost demand = {.load_bytes = 1000};
    t->ops->charge(t, 0, &demand); /* 13..14 ms */
    ASSERT_EQ(t->ops->now_ns(t, 0), 14000000);
    halo_sim_get_stats(t, 0, &st);
    ASSERT_EQ(st.storage_stall_ns, 4000000 + 5000000);
    ASSERT_EQ(st.storage_read_ns, 11000000);
    halo_transport_free(t);
    /* without a storage bandwidth, reads cost nothing */
    w.dev[0].storage_bw_bps = 0;
    t = make(&w);
    t->ops->charge(t, 0, &c);
    ASSERT_EQ(t->ops->now_ns(t, 0), 1000000);
    halo_transport_free(t);
}

static void datagram_latency_is_two_hops_of_serialisation_and_propagation(void) {
    world w;
    rx r;
    halo_transport *t = world_rx(&w, 2, HALO_DELIVERY_DATAGRAM, &r);
    unsigned char msg[4000] = {1};
    send_drained(t, 1, 0, msg, 1000);
    ASSERT_EQ(r.count, 1);
    uint64_t ser = (1000 + 66) * 8; /* ns at 1 Gb/s */
    ASSERT_EQ(r.at_ns[0], 2 * (ser + 100000));
    /* 4000 bytes: fragments of 1472, 1472, 1056; pipelined through the switch. */
    uint64_t t0 = t->ops->now_ns(t, 1);
    send_drained(t, 1, 0, msg, 4000);
    ASSERT_EQ(r.count, 2);
    uint64_t s_full = (1472 + 66) * 8, s_last = (1056 + 66) * 8;
    /* Store and forward: the first fragment reaches the switch after one serialisation,
     * then the downlink serialises all three back to back. */
    ASSERT_EQ(r.at_ns[1] - t0, s_full + 100000 + (2 * s_full + s_last) + 100000);
    halo_transport_free(t);
}

static void incast_queues_at_the_receivers_port(void) {
    world w;
    rx r;
    halo_transport *t = world_rx(&w, 5, HALO_DELIVERY_DATAGRAM, &r);
    unsigned char msg[1400] = {0};
    for (int i = 1; i < 5; i++)
        ASSERT_OK(t->ops->send(t, i, 0, msg, sizeof msg, NULL));
    drain(t);
    ASSERT_EQ(r.count, 4);
    uint64_t ser = (1400 + 66) * 8;
    for (int i = 0; i < 4; i++) /* the downlink serialises them one after another */
        ASSERT_EQ(r.at_ns[i], ser + 100000 + (uint64_t)(i + 1) * ser + 100000);
    halo_transport_free(t);
}

/* Sends `n` messages of `len` bytes from node 1 to 0 and returns how many arrived. */
static int delivered(world *w, int n, size_t len) {
    rx r;
    halo_transport *t = make_rx(w, &r);
    static unsigned char msg[8192];
    for (int i = 0; i < n; i++) {
        ASSERT_OK(t->ops->send(t, 1, 0, msg, len, NULL));
        if (i % 64 == 63)
            drain(t);
    }
    drain(t);
    /* the receiver's count of what never came: every lost datagram (a one-datagram message
       without parity: exactly the messages lost); nothing the other way */
    uint64_t lost = halo_transport_rx_lost(t, 0, 1);
    ASSERT(lost >= (uint64_t)(n - r.count));
    if (len <= 1000 && !w->cfg.parity)
        ASSERT_EQ(lost, (uint64_t)(n - r.count));
    ASSERT_EQ(halo_transport_rx_lost(t, 1, 0), 0);
    halo_transport_free(t);
    return r.count;
}

static void bernoulli_loss_loses_messages_with_any_lost_fragment(void) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.up[1].loss = (halo_loss_spec){.model = HALO_LOSS_BERNOULLI, .p = 0.05};
    int n = 20000;
    int one = delivered(&w, n, 1000), three = delivered(&w, n, 4000);
    /* expected 0.95 and 0.95^3 = 0.857; 5 standard deviations of a binomial */
    ASSERT_NEAR(one / (double)n, 0.95, 5 * sqrt(0.95 * 0.05 / n));
    ASSERT_NEAR(three / (double)n, 0.857375, 5 * sqrt(0.857 * 0.143 / n));
}

/* Issue 15: with parity a message of three fragments sends five (P and Q) and arrives when
   any three do (at 5% loss 1 - 10 * 0.05^3 * 0.95^2 - 5 * 0.05^4 * 0.95 - 0.05^5 = 0.99884);
   a one-fragment message sends a copy
   and arrives when either does (1 - 0.05^2 = 0.9975). It arrives with its last data fragment
   when nothing is lost (not after the parity). */
static void parity_delivers_messages_with_one_lost_fragment(void) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.up[1].loss = (halo_loss_spec){.model = HALO_LOSS_BERNOULLI, .p = 0.05};
    w.cfg.parity = 1;
    int n = 20000;
    int one = delivered(&w, n, 1000), three = delivered(&w, n, 4000);
    ASSERT_NEAR(one / (double)n, 0.9975, 5 * sqrt(0.9975 * 0.0025 / n));
    ASSERT_NEAR(three / (double)n, 0.99884187, 5 * sqrt(0.99884 * 0.00116 / n));
    /* no loss: the same arrival time as without parity, of one fragment or three */
    for (size_t len = 1000; len <= 4000; len += 3000) {
        uint64_t at[2];
        for (int p = 0; p < 2; p++) {
            world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
            w.cfg.parity = p;
            rx r;
            halo_transport *t = make_rx(&w, &r);
            static unsigned char msg[4000];
            send_drained(t, 1, 0, msg, len);
            ASSERT_EQ(r.count, 1);
            at[p] = r.at_ns[0];
            halo_transport_free(t);
        }
        ASSERT_EQ(at[0], at[1]);
    }
    halo_transport *t = NULL;
    halo_err err = {0};
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.cfg.parity = 1;
    ASSERT_EQ(halo_world_new(&t, &w.cfg, HALO_SIMULATOR_NS3, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "engine.parity");
}

static void gilbert_elliott_has_its_stationary_rate_and_bursts(void) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.up[1].loss = (halo_loss_spec){.model = HALO_LOSS_GILBERT,
                                    .p_good_bad = 0.01,
                                    .p_bad_good = 0.2,
                                    .loss_good = 0.0,
                                    .loss_bad = 0.5};
    double mean = halo_loss_mean(&w.up[1].loss); /* (0.01 / 0.21) * 0.5 = 0.0238 */
    ASSERT_NEAR(mean, 0.01 / 0.21 * 0.5, 1e-12);
    int n = 50000;
    rx r;
    halo_transport *t = make_rx(&w, &r);
    /* Message i carries i in its first byte (mod 256); find runs of losses. */
    static unsigned char got[50000];
    unsigned char msg[100];
    for (int i = 0; i < n; i++) {
        msg[0] = (unsigned char)i;
        int before = r.count;
        send_drained(t, 1, 0, msg, sizeof msg);
        got[i] = (unsigned char)(r.count > before);
    }
    int lost = 0, bursts = 0;
    for (int i = 0; i < n; i++) {
        lost += !got[i];
        bursts += !got[i] && (i == 0 || got[i - 1]);
    }
    ASSERT_NEAR(lost / (double)n, mean, 0.006);
    /* Bernoulli losses at this rate would give bursts of ~1.02; these are longer. */
    ASSERT(lost / (double)bursts > 1.3);
    halo_transport_free(t);
}

static void runs_are_deterministic_and_runs_differ(void) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.up[1].loss = (halo_loss_spec){.model = HALO_LOSS_BERNOULLI, .p = 0.1};
    w.up[1].jitter_ns = 50000;
    uint64_t at[3][200];
    int counts[3];
    for (int k = 0; k < 3; k++) {
        w.cfg.run = k == 2 ? 1 : 0;
        rx r;
        halo_transport *t = make_rx(&w, &r);
        unsigned char msg[3000] = {0};
        for (int i = 0; i < 200; i++)
            ASSERT_OK(t->ops->send(t, 1, 0, msg, sizeof msg, NULL));
        drain(t);
        counts[k] = r.count;
        memcpy(at[k], r.at_ns, sizeof at[k]);
        halo_transport_free(t);
    }
    ASSERT_EQ(counts[0], counts[1]);
    ASSERT(memcmp(at[0], at[1], (size_t)counts[0] * sizeof(uint64_t)) == 0);
    ASSERT(counts[0] != counts[2] || memcmp(at[0], at[2], sizeof at[0]) != 0);
}

static void compute_delays_the_nodes_sends(void) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.dev[1] = (halo_device_profile){.flops_per_s = 1e9, .mem_bw_bps = 2e9, .op_overhead_ns = 1000};
    rx r;
    halo_transport *t = make_rx(&w, &r);
    /* 2e6 flops at 1 GFLOP/s = 2 ms; 1e6 bytes at 2 GB/s = 0.5 ms: compute-bound. */
    halo_cost cost = {.flops = 2e6, .bytes = 1e6, .ops = 1};
    ASSERT_EQ(halo_device_time_ns(&w.dev[1], &cost), 2001000);
    t->ops->charge(t, 1, &cost);
    ASSERT_EQ(t->ops->now_ns(t, 1), 2001000);
    ASSERT_EQ(t->ops->now_ns(t, 0), 0);
    unsigned char msg[100] = {0};
    send_drained(t, 1, 0, msg, sizeof msg);
    ASSERT_EQ(r.at_ns[0], 2001000 + 2 * ((100 + 66) * 8 + 100000));
    halo_sim_node_stats st;
    halo_sim_get_stats(t, 1, &st);
    ASSERT_EQ(st.compute_ns, 2001000);
    halo_transport_free(t);
}

static void stream_delivers_everything_in_order_despite_loss(void) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_STREAM);
    w.up[1].loss = w.down[0].loss = (halo_loss_spec){.model = HALO_LOSS_BERNOULLI, .p = 0.05};
    w.up[0].loss = w.down[1].loss = (halo_loss_spec){.model = HALO_LOSS_BERNOULLI, .p = 0.05};
    rx r;
    halo_transport *t = make_rx(&w, &r);
    unsigned char msg[5000];
    for (int i = 0; i < 300; i++) {
        msg[0] = (unsigned char)i;
        ASSERT_OK(t->ops->send(t, 1, 0, msg, (size_t)(500 + (i * 97) % 4500), NULL));
    }
    drain(t);
    ASSERT_EQ(r.count, 300);
    for (int i = 0; i < 300; i++)
        ASSERT_EQ(r.first[i], i & 0xff);
    halo_sim_node_stats st;
    halo_sim_get_stats(t, 1, &st);
    ASSERT(st.retransmits > 0);
    ASSERT_EQ(st.msgs_lost, 0);
    halo_transport_free(t);
}

typedef struct pingpong {
    halo_transport *t;
    size_t size;
    int left;
    uint64_t sent_at;
    uint64_t rtt[2000];
    int n;
} pingpong;

static void pp_server(void *ctx, int src, const void *msg, size_t len) {
    pingpong *p = ctx;
    (void)src;
    ASSERT_OK(p->t->ops->send(p->t, 1, 0, msg, len, NULL));
}

static void pp_client(void *ctx, int src, const void *msg, size_t len) {
    pingpong *p = ctx;
    (void)src;
    (void)msg;
    (void)len;
    p->rtt[p->n++] = p->t->ops->now_ns(p->t, 0) - p->sent_at;
    if (--p->left > 0) {
        static unsigned char buf[16384];
        p->sent_at = p->t->ops->now_ns(p->t, 0);
        ASSERT_OK(p->t->ops->send(p->t, 0, 1, buf, p->size, NULL));
    }
}

/* 2000 exchanges of 1000 bytes each way between two devices over stream delivery, 5% loss
   on every uplink, heartbeats every heartbeat_ns (0: none); the round trips are in p->rtt. */
static void lossy_pingpong(pingpong *p, uint64_t heartbeat_ns) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_STREAM);
    w.cfg.heartbeat_ns = heartbeat_ns;
    for (int i = 0; i < 2; i++)
        w.up[i].loss = (halo_loss_spec){.model = HALO_LOSS_BERNOULLI, .p = 0.05};
    halo_transport *t = make(&w);
    *p = (pingpong){.t = t, .size = 1000, .left = 2000};
    ASSERT_OK(t->ops->attach(t, 1, pp_server, p, NULL));
    ASSERT_OK(t->ops->attach(t, 0, pp_client, p, NULL));
    static unsigned char buf[16384];
    send_drained(t, 0, 1, buf, p->size);
    ASSERT_EQ(p->n, 2000);
    halo_transport_free(t);
    p->t = NULL;
}

static void stream_turns_a_lost_lone_segment_into_a_200ms_wait(void) {
    pingpong p;
    lossy_pingpong(&p, 0);
    int fast = 0, slow = 0;
    for (int i = 0; i < p.n; i++) {
        fast += p.rtt[i] < 2000000;
        slow += p.rtt[i] >= 200000000;
    }
    /* Most exchanges take one RTT (~0.4 ms); a lost single segment costs a tail-loss probe
     * or an RTO, both at least 200 ms. About 1 - 0.95^2 of exchanges lose a packet. */
    ASSERT(fast > 1700);
    ASSERT(slow > 100 && slow < 300);
}

/*
 * Host costs: the sender is busy for send_ns plus the copy before the message leaves; the
 * receiver for recv_ns plus the copy before the application sees it; per message.
 */
static void host_costs_keep_the_sender_and_the_receiver_busy(void) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.dev[1].send_ns = 5000;
    w.dev[1].copy_ns_per_kb = 1000;
    w.dev[0].recv_ns = 7000;
    w.dev[0].copy_ns_per_kb = 2000;
    halo_transport *t = make(&w);
    rx r = {.t = t, .node = 0};
    ASSERT_OK(t->ops->attach(t, 0, on_recv, &r, NULL));
    unsigned char msg[1024] = {1};
    ASSERT_OK(t->ops->send(t, 1, 0, msg, sizeof msg, NULL));
    ASSERT_EQ(t->ops->now_ns(t, 1), 6000); /* 5 us + 1 KiB at 1000 ns/KiB */
    drain(t);
    ASSERT_EQ(r.count, 1);
    uint64_t wire = 2 * ((1024 + 66) * 8 + 100000);
    ASSERT_EQ(r.at_ns[0], 6000 + wire + 7000 + 2000);
    halo_sim_node_stats st;
    halo_sim_get_stats(t, 0, &st);
    ASSERT_EQ(st.host_ns, 9000);
    /* the costs are per message (a wake-up and a call), not per datagram: a message of
       4000 bytes in three datagrams costs one send, one receive and its copies */
    unsigned char big[4000] = {2};
    uint64_t t0 = t->ops->now_ns(t, 1);
    ASSERT_OK(t->ops->send(t, 1, 0, big, sizeof big, NULL));
    ASSERT_EQ(t->ops->now_ns(t, 1) - t0, 5000 + 3906);
    drain(t);
    halo_sim_get_stats(t, 0, &st);
    ASSERT_EQ(st.host_ns, 9000 + 7000 + 7813);
    halo_transport_free(t);
}

/*
 * The copy part of a host cost is of the message's size on the wire: an elided message (a
 * shape model's, which carries its header only) costs what its full payload would, on the
 * sender and on the receiver, so copy_ns_per_kb means the same for shape and real models.
 */
static void host_copy_of_an_elided_message_is_charged_its_full_size(void) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_STREAM);
    w.dev[1].copy_ns_per_kb = 1000;
    w.dev[0].copy_ns_per_kb = 2000;
    halo_transport *t = make(&w);
    rx r = {.t = t, .node = 0};
    ASSERT_OK(t->ops->attach(t, 0, on_recv, &r, NULL));
    halo_msg m = {.kind = HALO_MSG_PARTIAL,
                  .encoding = HALO_ENCODING_F32 | HALO_WIRE_ELIDED,
                  .src = 1,
                  .dst = 0,
                  .n_values = 4096};
    unsigned char buf[64];
    size_t len = 0;
    ASSERT_OK(halo_wire_encode(&m, NULL, NULL, buf, sizeof buf, &len, NULL));
    ASSERT_EQ(len, HALO_WIRE_HEADER_BYTES);
    size_t full = halo_wire_charged_size(buf, len);
    ASSERT_EQ(full, HALO_WIRE_HEADER_BYTES + 4 * 4096);
    ASSERT_OK(t->ops->send(t, 1, 0, buf, len, NULL));
    uint64_t send_copy = (uint64_t)llround(1000.0 * (double)full / 1024.0);
    ASSERT_EQ(t->ops->now_ns(t, 1), send_copy); /* not 1000 * 36 / 1024 */
    drain(t);
    ASSERT_EQ(r.count, 1);
    halo_sim_node_stats st;
    halo_sim_get_stats(t, 0, &st);
    ASSERT_EQ(st.host_ns, (uint64_t)llround(2000.0 * (double)full / 1024.0));
    halo_transport_free(t);
}

/*
 * Three devices on a host of two cores: the third compute segment to start while the
 * other two run takes 3/2 as long; a device on a host of its own is not slowed.
 */
static void devices_sharing_a_host_share_its_cores(void) {
    world w;
    world_init(&w, 4, HALO_DELIVERY_DATAGRAM);
    for (int i = 0; i < 3; i++) {
        w.dev[i].host = 1;
        w.dev[i].cores = 2;
    }
    halo_transport *t = make(&w);
    halo_cost ms = {.flops = 1e6}; /* 1 ms at 1 GFLOP/s */
    for (int i = 0; i < 4; i++)
        t->ops->charge(t, i, &ms);
    ASSERT_EQ(t->ops->now_ns(t, 0), 1000000);
    ASSERT_EQ(t->ops->now_ns(t, 1), 1000000);
    ASSERT_EQ(t->ops->now_ns(t, 2), 1500000);
    ASSERT_EQ(t->ops->now_ns(t, 3), 1000000);
    halo_transport_free(t);
}

/*
 * host_overlap: the waiting share of a host cost takes no core of a shared host. Devices 0
 * and 1 (host of 2 cores) each send a message costing 1 ms of host time at t = 0, then
 * device 2 computes for 1 ms. With host_overlap 0 both senders hold a core, so device 2's
 * segment starts with 2 others busy and takes 3/2 as long; with 1 they only wait, and it
 * runs at full speed; with 0.5 device 2 starts while both are in their waiting half. The
 * senders' own times are 1 ms whatever the share (they wait either way), and a 2-core host
 * with three senders stretches the third's CPU share only.
 */
/* A transport for a world of n_devices whose devices 0..2 share host 1 of 2 cores, each
   send costing 1 ms of host time of which the share `overlap` is waiting. */
static halo_transport *make_shared_host(world *w, int n_devices, double overlap) {
    world_init(w, n_devices, HALO_DELIVERY_DATAGRAM);
    for (int i = 0; i < 3; i++) {
        w->dev[i].host = 1;
        w->dev[i].cores = 2;
        w->dev[i].send_ns = 1000000;
        w->dev[i].host_overlap = overlap;
    }
    return make(w);
}

static uint64_t overlap_compute_end_ns(double overlap, uint64_t *sender_end_ns) {
    world w;
    halo_transport *t = make_shared_host(&w, 3, overlap);
    unsigned char msg[8] = {1};
    ASSERT_OK(t->ops->send(t, 0, 2, msg, sizeof msg, NULL));
    ASSERT_OK(t->ops->send(t, 1, 2, msg, sizeof msg, NULL));
    *sender_end_ns = t->ops->now_ns(t, 1);
    halo_cost ms = {.flops = 1e6}; /* 1 ms at 1 GFLOP/s */
    t->ops->charge(t, 2, &ms);
    uint64_t end = t->ops->now_ns(t, 2);
    halo_transport_free(t);
    return end;
}

static void host_overlap_frees_the_core_during_a_wake_up(void) {
    uint64_t sender = 0;
    ASSERT_EQ(overlap_compute_end_ns(0, &sender), 1500000);
    ASSERT_EQ(sender, 1000000);
    ASSERT_EQ(overlap_compute_end_ns(1, &sender), 1000000);
    ASSERT_EQ(sender, 1000000);
    ASSERT_EQ(overlap_compute_end_ns(0.5, &sender), 1000000);
    ASSERT_EQ(sender, 1000000);
    /* three senders on two cores: the third's CPU share (1 - overlap) starts after its
       waiting share; with overlap 0 it starts while both others are busy: x 3/2 */
    for (int k = 0; k < 2; k++) {
        double overlap = k ? 0.5 : 0.0;
        world w;
        halo_transport *t = make_shared_host(&w, 4, overlap);
        unsigned char msg[8] = {1};
        for (int i = 0; i < 3; i++)
            ASSERT_OK(t->ops->send(t, i, 3, msg, sizeof msg, NULL));
        /* overlap 0: 1 ms x 3/2; 0.5: 0.5 ms waiting, then 0.5 ms of CPU starting at 0.5 ms
           while devices 0 and 1 are in their CPU share too: 0.5 + 0.75 ms */
        ASSERT_EQ(t->ops->now_ns(t, 2), k ? 1250000 : 1500000);
        halo_transport_free(t);
    }
}

/* Devices 0..n-1 of w on one host of 2 cores whose memory bandwidth is host_bw. */
static void on_shared_host(world *w, int n, double host_bw) {
    for (int i = 0; i < n; i++) {
        w->dev[i].host = 1;
        w->dev[i].cores = 2;
        w->dev[i].host_mem_bw_bps = host_bw;
    }
}

/* The end of device `who`'s segment of 1e6 weight bytes (1 ms alone at 1 GB/s; 0.4 of them
   strided), every device of a 3-device host of 2 cores starting one at time 0, in order. */
static uint64_t shared_memory_end_ns(double host_bw, double strided_bw, int cached, int who) {
    world w;
    world_init(&w, 3, HALO_DELIVERY_DATAGRAM);
    on_shared_host(&w, 3, host_bw);
    for (int i = 0; i < 3; i++) {
        w.dev[i].strided_bw_bps = strided_bw;
        w.dev[i].cache_bw_bps = 1e9;
        w.dev[i].weights_cached = cached;
    }
    halo_transport *t = make(&w);
    halo_cost cost = {.bytes = 1e6, .strided_bytes = strided_bw > 0 ? 4e5 : 0};
    for (int i = 0; i <= who; i++)
        t->ops->charge(t, i, &cost);
    uint64_t end = t->ops->now_ns(t, who);
    halo_transport_free(t);
    return end;
}

/* Devices of one host share its memory bandwidth (host_mem_bw_bps): a segment that starts
   while others compute reads at the host's bandwidth over the devices running at once (at
   most `cores`), never faster than its own; weights in the cache are not affected. */
static void a_shared_host_splits_its_memory_bandwidth(void) {
    ASSERT_EQ(shared_memory_end_ns(0, 0, 0, 1), 1000000);     /* no host bandwidth: own memory */
    ASSERT_EQ(shared_memory_end_ns(1.5e9, 0, 0, 0), 1000000); /* alone: its own 1 GB/s */
    ASSERT_EQ(shared_memory_end_ns(1.5e9, 0, 0, 1), 1333333); /* 2 at once: 0.75 GB/s */
    /* three on 2 cores: each gets 2/3 of a core and, while it runs, 0.75 GB/s: 1 ms x 4/3 x
       3/2, all three alike (the cores are shared over time too) */
    ASSERT_EQ(shared_memory_end_ns(1.5e9, 0, 0, 2), 2000000);
    ASSERT_EQ(shared_memory_end_ns(4e9, 0, 0, 1), 1000000); /* a share above its own */
    /* strided bytes: 0.5 GB/s is below the share, 0.75 GB/s for the other 0.6e6 bytes */
    ASSERT_EQ(shared_memory_end_ns(1.5e9, 0.5e9, 0, 0), 600000 + 800000);
    ASSERT_EQ(shared_memory_end_ns(1.5e9, 0.5e9, 0, 1), 800000 + 800000);
    ASSERT_EQ(shared_memory_end_ns(1.5e9, 0.5e9, 1, 1), 1000000); /* cached: 1 GB/s */
    /* a segment that starts after the others' ended is alone again */
    world w;
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    on_shared_host(&w, 2, 1.5e9);
    halo_transport *t = make(&w);
    halo_cost cost = {.bytes = 1e6};
    t->ops->charge(t, 0, &cost);
    unsigned char msg[8] = {1};
    ASSERT_OK(t->ops->send(t, 0, 1, msg, sizeof msg, NULL)); /* arrives after 1 ms */
    rx r = {.t = t, .node = 1};
    ASSERT_OK(t->ops->attach(t, 1, on_recv, &r, NULL));
    drain(t);
    ASSERT_EQ(r.count, 1);
    ASSERT(r.at_ns[0] > 1000000);
    t->ops->charge(t, 1, &cost);
    ASSERT_EQ(t->ops->now_ns(t, 1) - r.at_ns[0], 1000000);
    halo_transport_free(t);
}

/* Placed on cores (core_placement: wake): three devices of a 2-core host charged at time 0
   in order start on cores 0, 1 and 0 (the third's core 0 taken, no core idle); the two on
   core 0 take turns on it, and none moves to core 1 when it idles. Shared, all three end at
   2 ms (above). */
static void a_placed_device_shares_only_its_own_core(void) {
    world w;
    world_init(&w, 3, HALO_DELIVERY_DATAGRAM);
    on_shared_host(&w, 3, 1.5e9);
    for (int i = 0; i < 3; i++)
        w.dev[i].core_placement = HALO_CORES_WAKE;
    halo_transport *t = make(&w);
    halo_cost cost = {.bytes = 1e6};
    for (int i = 0; i < 3; i++)
        t->ops->charge(t, i, &cost);
    /* node 1 alone on core 1 at 0.75 GB/s (two cores busy): 1.3333 ms; nodes 0 and 2 half of
       that speed: 0.5 ms of work each by then, the other 0.5 ms at 1 GB/s shared: 1 ms */
    ASSERT_EQ(t->ops->now_ns(t, 1), 1333333);
    ASSERT_EQ(t->ops->now_ns(t, 0), 2333333);
    ASSERT_EQ(t->ops->now_ns(t, 2), 2333333);
    halo_transport_free(t);
}

/* The same with a balance tick of 1 ms: when node 1 ends (1.3333 ms) core 1 idles while nodes
   0 and 2 share core 0; at the tick of 2 ms (0.1667 ms of work left each) node 0 moves to core
   1 and both go on at 0.75 GB/s: 0.2222 ms more. */
static void a_balance_tick_moves_a_device_to_an_idle_core(void) {
    world w;
    world_init(&w, 3, HALO_DELIVERY_DATAGRAM);
    on_shared_host(&w, 3, 1.5e9);
    for (int i = 0; i < 3; i++) {
        w.dev[i].core_placement = HALO_CORES_WAKE;
        w.dev[i].core_balance_ns = 1000000;
    }
    halo_transport *t = make(&w);
    halo_cost cost = {.bytes = 1e6};
    for (int i = 0; i < 3; i++)
        t->ops->charge(t, i, &cost);
    ASSERT_EQ(t->ops->now_ns(t, 1), 1333333);
    ASSERT_EQ(t->ops->now_ns(t, 0), 2222222);
    ASSERT_EQ(t->ops->now_ns(t, 2), 2222222);
    halo_transport_free(t);
}

typedef struct late_start {
    halo_transport *t;
    uint64_t end_ns;
} late_start;

static void charge_late(void *arg) {
    late_start *l = arg;
    halo_cost cost = {.bytes = 1e6};
    l->t->ops->charge(l->t, 1, &cost);
    l->end_ns = l->t->ops->now_ns(l->t, 1);
}

/* When node 0's segment ends, as its message to node 2 (another host) shows, with node 1 of
   its host starting one 0.5 ms later (or not at all). */
static uint64_t first_segment_message_ns(int second, uint64_t *second_end_ns) {
    world w;
    world_init(&w, 3, HALO_DELIVERY_DATAGRAM);
    on_shared_host(&w, 2, 1.5e9);
    halo_transport *t = make(&w);
    rx r = {.t = t, .node = 2};
    ASSERT_OK(t->ops->attach(t, 2, on_recv, &r, NULL));
    late_start l = {.t = t};
    if (second)
        ASSERT_OK(t->ops->schedule(t, 1, 500000, charge_late, &l, NULL, NULL));
    halo_cost cost = {.bytes = 1e6};
    t->ops->charge(t, 0, &cost);
    unsigned char msg[8] = {1};
    ASSERT_OK(t->ops->send(t, 0, 2, msg, sizeof msg, NULL)); /* leaves when node 0 is done */
    drain(t);
    ASSERT_EQ(r.count, 1);
    *second_end_ns = l.end_ns;
    halo_transport_free(t);
    return r.at_ns[0];
}

/* The host's bandwidth is shared over time, not fixed when a segment starts: a device that
   starts while another computes slows both, and only while they overlap; the first one's
   pending send moves with its end (1 ms of work each, 4/3 as long while both run). */
static void a_later_segment_slows_the_earlier_one_while_they_overlap(void) {
    uint64_t second_end, alone = first_segment_message_ns(0, &second_end);
    uint64_t shared = first_segment_message_ns(1, &second_end);
    /* node 0: 0.5 ms alone, then its other 0.5 ms at 3/4 speed: ends at 1.1667 ms */
    ASSERT_EQ(shared - alone, 166667);
    /* node 1: 0.5 ms of its work while both run (0.6667 ms), then 0.5 ms alone */
    ASSERT_EQ(second_end, 1666667);
}

typedef struct ring {
    halo_transport *t;
    uint64_t at_ns[600];
    int hops;
} ring;

typedef struct ring_node {
    ring *r;
    int node;
} ring_node;

/* Each message is a hop count: the receiver computes (1e6 bytes) and passes it on. */
static void ring_recv(void *ctx, int src, const void *msg, size_t len) {
    (void)src;
    (void)len;
    ring_node *rn = ctx;
    ring *r = rn->r;
    int hop = ((const unsigned char *)msg)[0] | ((const unsigned char *)msg)[1] << 8;
    if (r->hops < 600)
        r->at_ns[r->hops] = r->t->ops->now_ns(r->t, rn->node);
    r->hops++;
    if (hop >= 250)
        return;
    halo_cost cost = {.bytes = 1e6};
    r->t->ops->charge(r->t, rn->node, &cost);
    unsigned char next[2] = {(unsigned char)((hop + 1) & 0xff), (unsigned char)((hop + 1) >> 8)};
    ASSERT_OK(r->t->ops->send(r->t, rn->node, (rn->node + 1) % 3, next, sizeof next, NULL));
}

static void ring_start(void *arg) {
    ring_node *rn = arg;
    unsigned char first[2] = {0, 0};
    ring_recv(rn, rn->node, first, sizeof first);
}

/* Two messages going round 3 devices of one host (2 cores, its bandwidth shared), each hop a
   segment of 1e6 bytes with compute_cv 0.3: the arrival times of every hop. */
static int shared_ring(uint64_t run, double host_bw, uint64_t *at_ns) {
    world w;
    world_init(&w, 3, HALO_DELIVERY_DATAGRAM);
    w.cfg.run = run;
    on_shared_host(&w, 3, host_bw);
    for (int i = 0; i < 3; i++)
        w.dev[i].compute_cv = 0.3;
    ring r = {0};
    r.t = make(&w);
    ring_node rn[3];
    for (int i = 0; i < 3; i++) {
        rn[i] = (ring_node){.r = &r, .node = i};
        ASSERT_OK(r.t->ops->attach(r.t, i, ring_recv, &rn[i], NULL));
    }
    ASSERT_OK(r.t->ops->schedule(r.t, 0, 0, ring_start, &rn[0], NULL, NULL));
    ASSERT_OK(r.t->ops->schedule(r.t, 1, 300000, ring_start, &rn[1], NULL, NULL));
    drain(r.t);
    halo_transport_free(r.t);
    memcpy(at_ns, r.at_ns, sizeof r.at_ns);
    return r.hops;
}

/* The shared bandwidth's re-planning (segments slowed after they were charged, pending sends
   moved) is deterministic for a run, and matters: another run or no shared bandwidth gives
   other times. */
static void a_shared_host_is_deterministic(void) {
    static uint64_t a[600], b[600], c[600], d[600];
    int na = shared_ring(0, 1.5e9, a), nb = shared_ring(0, 1.5e9, b);
    int nc = shared_ring(1, 1.5e9, c), nd = shared_ring(0, 0, d);
    ASSERT_EQ(na, 2 * 251);
    ASSERT_EQ(nb, na);
    ASSERT(memcmp(a, b, sizeof a) == 0);
    ASSERT_EQ(nc, na);
    ASSERT(memcmp(a, c, sizeof a) != 0);
    ASSERT_EQ(nd, na);
    ASSERT(memcmp(a, d, sizeof a) != 0);
    ASSERT(a[na - 1] > d[nd - 1]); /* sharing makes the whole slower */
}

/* Bytes read through column windows go at the device's strided bandwidth, the others at its
   memory bandwidth; without a strided bandwidth every byte goes at the memory bandwidth. */
static void strided_bytes_go_at_the_strided_bandwidth(void) {
    halo_device_profile p = {.flops_per_s = 1e9, .mem_bw_bps = 1e9, .op_overhead_ns = 1000};
    halo_cost cost = {.flops = 1e5, .bytes = 1e6, .ops = 2, .strided_bytes = 4e5};
    ASSERT_EQ(halo_device_time_ns(&p, &cost), 2000 + 1000000);
    p.strided_bw_bps = 0.5e9;
    ASSERT_EQ(halo_device_time_ns(&p, &cost), 2000 + 600000 + 800000);
}

/* A time past 2^63 ns (a profile the scenario's ranges refuse, built by hand) saturates at
   2^62 ns instead of wrapping in llround (it reported 1016627963145 ms in a 3 ms token). */
static void device_times_saturate_instead_of_wrapping(void) {
    halo_device_profile p = {.flops_per_s = 1e9, .mem_bw_bps = 1e-6, .op_overhead_ns = 1000};
    halo_cost cost = {.flops = 1e5, .bytes = 1e6, .ops = 2};
    ASSERT(halo_device_time_ns(&p, &cost) == (uint64_t)1 << 62);
    p.mem_bw_bps = 1e9;
    p.flops_per_s = 1e-300;
    ASSERT(halo_device_time_ns(&p, &cost) == (uint64_t)1 << 62);
    p.flops_per_s = 1e9;
    ASSERT_EQ(halo_device_time_ns(&p, &cost), 2000 + 1000000); /* ordinary times unchanged */
}

/* A device that holds the model's weights in its cache (issue 13) reads every byte, strided
   or not, at its cache bandwidth; the model must fit whole. */
static void cached_weights_go_at_the_cache_bandwidth(void) {
    halo_device_profile p = {.flops_per_s = 1e9,
                             .mem_bw_bps = 1e9,
                             .strided_bw_bps = 0.5e9,
                             .op_overhead_ns = 1000,
                             .cache_bytes = 2000000,
                             .cache_bw_bps = 4e9};
    halo_cost cost = {.flops = 1e5, .bytes = 1e6, .ops = 2, .strided_bytes = 4e5};
    ASSERT_EQ(halo_device_caches(&p, 2000000), 1);
    ASSERT_EQ(halo_device_caches(&p, 2000001), 0);
    p.weights_cached = halo_device_caches(&p, 1500000);
    ASSERT_EQ(halo_device_time_ns(&p, &cost), 2000 + 250000);
    cost.flops = 1e6; /* compute-bound at the cache's speed: the roofline still holds */
    ASSERT_EQ(halo_device_time_ns(&p, &cost), 2000 + 1000000);
    cost.flops = 1e5;
    p.weights_cached = 0; /* too large for it: memory as before */
    ASSERT_EQ(halo_device_time_ns(&p, &cost), 2000 + 600000 + 800000);
    halo_device_profile none = {.flops_per_s = 1e9, .mem_bw_bps = 1e9};
    ASSERT_EQ(halo_device_caches(&none, 1), 0); /* no cache model */
    none.cache_bytes = 1 << 20;
    ASSERT_EQ(halo_device_caches(&none, 1), 0); /* a size without a bandwidth holds nothing */
}

/*
 * compute_cv: each segment's time is its roofline time times a log-normal factor of mean 1
 * and that coefficient of variation, drawn from the node's own stream: the same seed and run
 * give the same times, another run others; 0 keeps every segment exact.
 */
static void compute_cv_draws_a_seeded_factor_of_mean_one_per_segment(void) {
    enum {
        N = 4000
    };

    static uint64_t took[3][N];
    for (int k = 0; k < 3; k++) {
        world w;
        world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
        w.dev[1].compute_cv = 0.3;
        w.cfg.run = k == 2 ? 1 : 0;
        halo_transport *t = make(&w);
        halo_cost ms = {.flops = 1e6}; /* 1 ms at 1 GFLOP/s */
        for (int i = 0; i < N; i++) {
            uint64_t before = t->ops->now_ns(t, 1);
            t->ops->charge(t, 1, &ms);
            took[k][i] = t->ops->now_ns(t, 1) - before;
            t->ops->charge(t, 0, &ms);
        }
        ASSERT_EQ(t->ops->now_ns(t, 0), (uint64_t)N * 1000000); /* node 0: no variation */
        halo_sim_node_stats st;
        halo_sim_get_stats(t, 1, &st);
        ASSERT_EQ(st.compute_ns, t->ops->now_ns(t, 1));
        halo_transport_free(t);
    }
    ASSERT(memcmp(took[0], took[1], sizeof took[0]) == 0);
    ASSERT(memcmp(took[0], took[2], sizeof took[0]) != 0);
    double sum = 0, sq = 0;
    for (int i = 0; i < N; i++) {
        sum += (double)took[0][i] / 1e6;
        sq += ((double)took[0][i] / 1e6) * ((double)took[0][i] / 1e6);
    }
    double mean = sum / N, cv = sqrt(sq / N - mean * mean) / mean;
    (void)printf("# compute_cv 0.3: mean %.4f ms, cv %.4f over %d segments\n", mean, cv, N);
    ASSERT_NEAR(mean, 1.0, 5 * 0.3 / sqrt((double)N)); /* five standard errors */
    ASSERT_NEAR(cv, 0.3, 0.03);
}

/*
 * recv_jitter_ns: a message that finds its receiver waiting reaches the application after an
 * extra wait drawn from an exponential distribution of that mean, from the node's own stream
 * (same seed and run: the same waits; another run: others); a receiver busy computing when the
 * message arrives takes it at the end of its work, with no wake-up and no draw.
 */
static void recv_jitter_delays_a_waiting_receiver_by_a_seeded_exponential(void) {
    enum {
        N = 4000
    };

    static uint64_t took[3][N];
    uint64_t fixed = 0;
    for (int k = 0; k < 4; k++) {
        world w;
        world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
        w.dev[0].recv_jitter_ns = k == 3 ? 0 : 20000;
        w.cfg.run = k == 2 ? 1 : 0;
        rx r;
        halo_transport *t = make_rx(&w, &r);
        unsigned char msg[8] = {1};
        for (int i = 0; i < N; i++) {
            uint64_t sent = t->ops->now_ns(t, 1);
            send_drained(t, 1, 0, msg, sizeof msg);
            ASSERT_EQ(r.count, i + 1);
            uint64_t latency = r.at_ns[i] - sent;
            if (k == 3) { /* no jitter: every message takes the same time */
                ASSERT(i == 0 || latency == fixed);
                fixed = latency;
            } else {
                took[k][i] = latency;
            }
        }
        halo_transport_free(t);
    }
    ASSERT(memcmp(took[0], took[1], sizeof took[0]) == 0);
    ASSERT(memcmp(took[0], took[2], sizeof took[0]) != 0);
    double sum = 0;
    int above = 0;
    for (int i = 0; i < N; i++) {
        ASSERT(took[0][i] >= fixed);
        sum += (double)(took[0][i] - fixed);
    }
    double mean = sum / N;
    for (int i = 0; i < N; i++)
        above += (double)(took[0][i] - fixed) > mean;
    (void)printf("# recv_jitter 20 us: mean extra %.0f ns, %.3f of the waits above it\n", mean,
                 (double)above / N);
    ASSERT_NEAR(mean, 20000.0, 5 * 20000.0 / sqrt((double)N)); /* five standard errors */
    ASSERT_NEAR((double)above / N, exp(-1.0), 0.03);           /* an exponential's share */
    /* a busy receiver: the message waits for the end of its 10 ms of work, no more */
    world w;
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.dev[0].recv_jitter_ns = 20000;
    rx r;
    halo_transport *t = make_rx(&w, &r);
    halo_cost work = {.flops = 1e7}; /* 10 ms at 1 GFLOP/s */
    t->ops->charge(t, 0, &work);
    unsigned char msg[8] = {1};
    send_drained(t, 1, 0, msg, sizeof msg);
    ASSERT_EQ(r.count, 1);
    ASSERT_EQ(r.at_ns[0], 10000000);
    halo_transport_free(t);
}

/*
 * cold_wake_ns: a message that finds its receiver asleep since `idle` ns reaches the
 * application cold_wake * (1 - exp(-(idle / tau)^4)) later: a long sleep costs nearly all of
 * it, a short one little; a busy receiver nothing.
 */
static void a_long_sleep_makes_the_wake_up_slower(void) {
    halo_device_profile p = {.cold_wake_ns = 100000, .cold_tau_ns = 10000000};
    ASSERT_EQ(halo_device_cold_wake_ns(&p, 0), 0);
    ASSERT_NEAR((double)halo_device_cold_wake_ns(&p, 10000000), 100000 * (1 - exp(-1.0)), 1);
    ASSERT_NEAR((double)halo_device_cold_wake_ns(&p, 5000000), 100000 * (1 - exp(-0.0625)), 1);
    ASSERT_NEAR((double)halo_device_cold_wake_ns(&p, 1000000000), 100000, 1);
    p.cold_tau_ns = 0;
    ASSERT_EQ(halo_device_cold_wake_ns(&p, 1000000000), 0);
    uint64_t took[2][3];
    for (int k = 0; k < 2; k++) {
        world w;
        world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
        if (k) {
            w.dev[0].cold_wake_ns = 100000;
            w.dev[0].cold_tau_ns = 10000000;
        }
        rx r;
        halo_transport *t = make_rx(&w, &r);
        unsigned char msg[8] = {1};
        halo_cost sleep30 = {.flops = 3e7}; /* the sender works 30 ms: the receiver sleeps */
        halo_cost sleep1 = {.flops = 1e6};  /* 1 ms */
        for (int i = 0; i < 3; i++) {
            t->ops->charge(t, 1, i == 2 ? &sleep1 : &sleep30);
            uint64_t sent = t->ops->now_ns(t, 1);
            send_drained(t, 1, 0, msg, sizeof msg);
            ASSERT_EQ(r.count, i + 1);
            took[k][i] = r.at_ns[i] - sent;
        }
        halo_transport_free(t);
    }
    /* the first message finds the receiver asleep since 0 (30 ms and the wire); each later
       one since the end of the previous wake-up: the sender's work starts at the arrival */
    ASSERT(took[0][0] == took[0][1] && took[0][1] == took[0][2]);
    double wire = (double)took[0][0];
    double idle[3] = {30e6 + wire, 0, 0}, extra[3];
    for (int i = 0; i < 3; i++) {
        if (i)
            idle[i] = (i == 2 ? 1e6 : 30e6) + wire - extra[i - 1];
        extra[i] = 100000 * (1 - exp(-pow(idle[i] / 1e7, 4)));
        ASSERT_NEAR((double)took[1][i] - wire, extra[i], 1);
    }
    ASSERT(extra[2] < extra[1] / 1000); /* 1 ms asleep: next to nothing */
    /* a busy receiver takes the message at the end of its work, with no wake-up */
    world w;
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.dev[0].cold_wake_ns = 100000;
    w.dev[0].cold_tau_ns = 10000000;
    rx r;
    halo_transport *t = make_rx(&w, &r);
    halo_cost work = {.flops = 1e7};
    t->ops->charge(t, 0, &work);
    unsigned char msg[8] = {1};
    send_drained(t, 1, 0, msg, sizeof msg);
    ASSERT_EQ(r.at_ns[0], 10000000);
    halo_transport_free(t);
}

/* Heartbeats cost wire time and are answered, but the application never sees them, the
   message counters do not count them, and a world with nothing else to do still ends. */
static void heartbeats_are_answered_and_never_delivered(void) {
    world w;
    world_init(&w, 3, HALO_DELIVERY_STREAM);
    w.cfg.heartbeat_ns = 10000000;
    halo_transport *t = make(&w);
    rx r1 = {.t = t, .node = 1}, r0 = {.t = t, .node = 0};
    ASSERT_OK(t->ops->attach(t, 1, on_recv, &r1, NULL));
    ASSERT_OK(t->ops->attach(t, 0, on_recv, &r0, NULL));
    drain(t); /* ends: heartbeats stop after the application's long silence */
    ASSERT_EQ(r0.count, 0);
    ASSERT_EQ(r1.count, 0);
    halo_sim_node_stats s0, s1, s2;
    halo_sim_get_stats(t, 0, &s0);
    halo_sim_get_stats(t, 1, &s1);
    halo_sim_get_stats(t, 2, &s2);
    ASSERT_EQ(s0.msgs_sent + s1.msgs_sent + s0.msgs_delivered + s1.msgs_delivered, 0);
    ASSERT(s0.packets_sent > 1000); /* pings to two workers for 600 simulated seconds */
    ASSERT(s1.packets_sent > 500);  /* pongs (and ACKs) */
    ASSERT(s2.packets_sent > 500);
    halo_transport_free(t);
}

/*
 * The socket cluster's heartbeat under stream delivery: a ping that follows a lost lone
 * segment makes the receiver SACK, so the sender retransmits within a heartbeat instead of
 * after a 200 ms timeout (the same exchange as the test above, without the heartbeat).
 */
static void a_heartbeat_recovers_a_lost_lone_segment_before_its_timeout(void) {
    pingpong p;
    lossy_pingpong(&p, 20000000);
    int fast = 0, rescued = 0, slow = 0;
    for (int i = 0; i < p.n; i++) {
        fast += p.rtt[i] < 2000000;
        rescued += p.rtt[i] >= 2000000 && p.rtt[i] < 60000000;
        slow += p.rtt[i] >= 200000000;
    }
    ASSERT(fast > 1700);
    ASSERT(rescued > 100); /* about 1 - 0.95^2 of exchanges lose a packet */
    ASSERT(slow < 20);     /* only when the ping or its SACK is lost too */
}

/* ---- TCP against the kernel's rules (docs/kernel-tcp.md): one-way messages 1 -> 0 ---- */

typedef struct until_flag {
    int fired;
} until_flag;

static void set_flag(void *arg) {
    ((until_flag *)arg)->fired = 1;
}

static int flag_set(void *arg) {
    return ((until_flag *)arg)->fired;
}

/* Runs the world for ns of simulated time. */
static void run_for(halo_transport *t, uint64_t ns) {
    until_flag f = {0};
    ASSERT_OK(t->ops->schedule(t, 0, ns, set_flag, &f, NULL, NULL));
    ASSERT_OK(t->ops->run(t, flag_set, &f, NULL));
}

/* Node 1 sends `len` bytes to node 0 now; returns the send time. */
static uint64_t send_1_to_0(halo_transport *t, size_t len) {
    static unsigned char buf[65536];
    uint64_t at = t->ops->now_ns(t, 1);
    ASSERT_OK(t->ops->send(t, 1, 0, buf, len, NULL));
    return at;
}

/* Node 0's packets so far: its pure ACKs in a one-way transfer 1 -> 0. */
static uint64_t acks_of_0(halo_transport *t) {
    halo_sim_node_stats st;
    halo_sim_get_stats(t, 0, &st);
    return st.packets_sent;
}

/* One-way times on the test world (1 Gbit/s, 0.1 ms per hop, 66 header + 24 TCP bytes). */
#define FULL_SEG_ONE_WAY_NS 224608ull /* 1538 wire bytes: 2 x 12304 ns + 2 x 100 us */
#define TICK_NS             4000000ull

/*
 * Kernel timers fire on jiffies: a delay is rounded up to whole ticks and the timer wheel adds
 * one, so a loss probe or RTO of 200.4 ms fires on the 52nd tick after the current one (the
 * kernel's 204-208 ms). A lone lost segment waits for its probe, min(2 srtt + 200 ms, RTO).
 */
static void a_lone_lost_segment_waits_for_the_probe_on_the_52nd_tick(void) {
    world w;
    rx r;
    halo_transport *t = world_rx(&w, 2, HALO_DELIVERY_STREAM, &r);
    (void)send_1_to_0(t, 1000); /* an RTT sample: srtt 418.88 us, RTO 200.41888 ms */
    run_for(t, 10000000);
    ASSERT_EQ(r.count, 1);
    ASSERT_OK(halo_sim_drop_packet(t, 1, 0));
    uint64_t t1 = send_1_to_0(t, 1448);
    run_for(t, 300000000);
    ASSERT_EQ(r.count, 2);
    halo_sim_node_stats st;
    halo_sim_get_stats(t, 1, &st);
    ASSERT_EQ(st.probes, 1);
    ASSERT_EQ(st.timeouts, 0);
    ASSERT_EQ(r.at_ns[1], (t1 / TICK_NS + 52) * TICK_NS + FULL_SEG_ONE_WAY_NS);
    halo_transport_free(t);
}

/*
 * A lost ACK makes the loss probe a needless retransmission: the receiver already has the
 * segment, so its next ACK reports a duplicate (D-SACK), counted at the sender as dsacks; a
 * lost data segment's probe is needed and reports none.
 */
static void a_probe_after_a_lost_ack_is_reported_as_a_duplicate(void) {
    for (int ack_lost = 0; ack_lost <= 1; ack_lost++) {
        world w;
        rx r;
        halo_transport *t = world_rx(&w, 2, HALO_DELIVERY_STREAM, &r);
        (void)send_1_to_0(t, 1000);
        run_for(t, 10000000);
        ASSERT_OK(halo_sim_drop_packet(t, ack_lost ? 0 : 1, 0));
        (void)send_1_to_0(t, 1448);
        run_for(t, 300000000);
        ASSERT_EQ(r.count, 2);
        halo_sim_node_stats st;
        halo_sim_get_stats(t, 1, &st);
        ASSERT_EQ(st.probes, 1);
        ASSERT_EQ(st.retransmits, 1);
        ASSERT_EQ(st.dsacks, (uint64_t)ack_lost);
        halo_transport_free(t);
    }
}

/*
 * RACK: a lost segment with three later ones SACKed is retransmitted at once (no reordering
 * window); with fewer SACKed, the reorder timer waits the window plus 2 ms (Linux's
 * TCP_TIMEOUT_MIN_US), on jiffies: the second tick after the last SACK, 4-8 ms after the send
 * as in the kernel's traces.
 */
/* On the test world with tcp.segment_gap `gap_ns`: after a 1000-byte warm-up, node 1 sends 3 x
   1448 + 8 bytes with segment `lost` (0-based) dropped once; checks that it came through with one
   retransmission and neither probe nor timeout, and returns its arrival time at node 0 and in
   *took the time since its send. */
static uint64_t one_segment_lost(uint64_t gap_ns, int lost, uint64_t *took) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_STREAM);
    w.cfg.tcp.segment_gap_ns = gap_ns;
    rx r;
    halo_transport *t = make_rx(&w, &r);
    (void)send_1_to_0(t, 1000);
    run_for(t, 10000000);
    ASSERT_OK(halo_sim_drop_packet(t, 1, (uint64_t)lost));
    uint64_t t1 = send_1_to_0(t, 4352); /* 3 x 1448 + 8 */
    run_for(t, 300000000);
    ASSERT_EQ(r.count, 2);
    halo_sim_node_stats st;
    halo_sim_get_stats(t, 1, &st);
    ASSERT_EQ(st.retransmits, 1);
    ASSERT_EQ(st.probes + st.timeouts, 0);
    uint64_t at = r.at_ns[1];
    *took = at - t1;
    (void)printf("# segment gap %.0f us, lost segment %d of 4: delivered after %.3f ms\n",
                 gap_ns / 1e3, lost + 1, *took / 1e6);
    halo_transport_free(t);
    return at;
}

static void rack_retransmits_at_once_or_on_the_reorder_timer(void) {
    for (int lost = 0; lost < 2; lost++) {
        uint64_t took, at = one_segment_lost(0, lost, &took);
        if (lost == 0) {
            ASSERT(took < 1000000); /* the third SACK's arrival plus one way */
        } else {
            ASSERT_EQ((at - FULL_SEG_ONE_WAY_NS) % TICK_NS, 0);
            ASSERT(took > 4000000 && took < 8000000 + FULL_SEG_ONE_WAY_NS);
        }
    }
}

/*
 * tcp.segment_gap: the segments of one send leave the CPU time of a full segment apart (scaled
 * by size), so RACK can tell which of them went out before a SACKed one. With a gap (200 us)
 * above the reordering window (a quarter of the minimum RTT, about 110 us here), the second of
 * 3 x 1448 + 8 bytes, lost, is retransmitted when the later two are SACKed, at once; the third,
 * followed at once by the 8-byte tail, still waits for the reorder timer; without a gap both
 * wait (rack_retransmits_at_once_or_on_the_reorder_timer).
 */
static void a_segment_gap_lets_rack_mark_a_segment_before_two_sacked_ones(void) {
    for (int gap = 0; gap < 2; gap++)
        for (int lost = 1; lost < 3; lost++) {
            uint64_t took;
            (void)one_segment_lost(gap ? 200000 : 0, lost, &took);
            if (gap && lost == 1)
                ASSERT(took < 2000000); /* the SACK's round trip, the retransmission's way */
            else
                ASSERT(took > 4000000); /* the reorder timer: 2 ms and a tick at least */
        }
}

/*
 * tcp.early_ack_kb: over a connection's first KiB received, in-order data with more than one
 * full segment unacknowledged is ACKed on arrival, before the read. After the 16 quick ACKs of
 * the start (five 4352-byte messages), a message of 3 x 1448 + 8 bytes draws one ACK without
 * the key (after the read) and two with it (at the second segment, then after the read); past
 * the KiB given, one again.
 */
static void an_early_ack_comes_at_the_second_full_segment_while_the_window_grows(void) {
    for (int kb = 0; kb <= 64; kb += 64) {
        world w;
        world_init(&w, 2, HALO_DELIVERY_STREAM);
        w.cfg.tcp.early_ack_kb = kb;
        rx r;
        halo_transport *t = make_rx(&w, &r);
        for (int i = 0; i < 5; i++) {
            (void)send_1_to_0(t, 4352);
            run_for(t, 10000000);
        }
        uint64_t before = acks_of_0(t);
        (void)send_1_to_0(t, 4352);
        run_for(t, 10000000);
        ASSERT_EQ(acks_of_0(t) - before, kb ? 2u : 1u);
        for (int i = 0; i < 10; i++) { /* past 64 KiB received */
            (void)send_1_to_0(t, 4352);
            run_for(t, 10000000);
        }
        before = acks_of_0(t);
        (void)send_1_to_0(t, 4352);
        run_for(t, 10000000);
        ASSERT_EQ(acks_of_0(t) - before, 1);
        ASSERT_EQ(r.count, 17);
        halo_transport_free(t);
    }
}

/*
 * The receiver's ACKs (tcp_cleanup_rbuf, the delayed-ACK timer): the first 16 segments are
 * ACKed at once (quickack mode); then one full segment waits for the 40 ms delayed ACK
 * (40-44 ms on jiffies), while a short (pushed) one is ACKed once the application has read it,
 * rx_batch (20 us) after its arrival. Both count in the receiver's read_segs and read_wait_ns.
 */
static void one_full_segment_waits_for_the_delayed_ack_a_short_one_does_not(void) {
    world w;
    rx r;
    halo_transport *t = world_rx(&w, 2, HALO_DELIVERY_STREAM, &r);
    for (int i = 0; i < 16; i++) {
        (void)send_1_to_0(t, 1448);
        run_for(t, 1000000);
        ASSERT_EQ(acks_of_0(t), (uint64_t)i + 1);
        run_for(t, 9000000);
    }
    (void)send_1_to_0(t, 1448);
    run_for(t, FULL_SEG_ONE_WAY_NS + 40000000 - 1);
    ASSERT_EQ(acks_of_0(t), 16);
    run_for(t, 4000001);
    ASSERT_EQ(acks_of_0(t), 17);
    run_for(t, 10000000);
    (void)send_1_to_0(t, 1000);
    run_for(t, 218000 + 20000); /* one way of 1090 wire bytes (217.44 us), then the read */
    ASSERT_EQ(acks_of_0(t), 18);
    ASSERT_EQ(r.count, 18);
    /* the two whose ACK waited for the read (not the quickack ones) each waited rx_batch */
    halo_sim_node_stats st;
    halo_sim_get_stats(t, 0, &st);
    ASSERT_EQ(st.read_segs, 2);
    ASSERT_EQ(st.read_wait_ns, 2 * 20000);
    halo_transport_free(t);
}

/* Three nodes over TCP whose every in-order ACK waits for the read, node 0 reading in `order`;
   nodes 1 and 2 have each sent node 0 one message (the connections are up). */
static halo_transport *read_order_world(world *w, rx *r, int order) {
    world_init(w, 3, HALO_DELIVERY_STREAM);
    w->cfg.tcp.quickack_segments = 0; /* every in-order segment's ACK waits for the read */
    w->cfg.tcp.read_order = order;
    halo_transport *t = make_rx(w, r);
    static unsigned char buf[1000];
    ASSERT_OK(t->ops->send(t, 1, 0, buf, sizeof buf, NULL));
    ASSERT_OK(t->ops->send(t, 2, 0, buf, sizeof buf, NULL));
    run_for(t, 100000000);
    return t;
}

/*
 * tcp.read_order: node 0 receives a two-segment message from node 1 whose first segment is
 * lost, then a short one from node 2. Read as it arrives, node 2's segment waits rx_batch
 * (20 us) for the read that ACKs it; read in rank order, it waits (unread, unACKed) until
 * node 1's message is whole, its lost segment repaired milliseconds later.
 */
static void a_rank_order_reader_leaves_a_peer_unread_behind_a_lower_ones_hole(void) {
    uint64_t waited[2];
    for (int order = HALO_TCP_READ_ARRIVAL; order <= HALO_TCP_READ_RANK; order++) {
        world w;
        rx r;
        halo_transport *t = read_order_world(&w, &r, order);
        static unsigned char buf[4096];
        halo_sim_node_stats before, after;
        halo_sim_get_stats(t, 0, &before);
        ASSERT_OK(halo_sim_drop_packet(t, 1, 0));
        ASSERT_OK(t->ops->send(t, 1, 0, buf, 2896, NULL));
        run_for(t, 1000000); /* node 1's second segment is in, out of order */
        ASSERT_OK(t->ops->send(t, 2, 0, buf, 1000, NULL));
        run_for(t, 300000000);
        ASSERT_EQ(r.count, 4);
        halo_sim_get_stats(t, 0, &after);
        ASSERT_EQ(after.read_segs - before.read_segs, 1); /* node 2's; node 1's filled a hole */
        waited[order] = after.read_wait_ns - before.read_wait_ns;
        (void)printf("# read order %s: node 2's segment waited %.3f ms for the read\n",
                     order == HALO_TCP_READ_RANK ? "rank" : "arrival", waited[order] / 1e6);
        halo_transport_free(t);
    }
    ASSERT_EQ(waited[HALO_TCP_READ_ARRIVAL], 20000);
    ASSERT(waited[HALO_TCP_READ_RANK] > 1000000);
}

/*
 * tcp.read_order rank and halo_transport_expect: node 0 says it waits for node 1's next
 * message; node 2's message, arriving 5 ms before node 1's, stays unread (unACKed) until node
 * 1's is in, then the expectation is spent and node 2's next one is read at once. A reader
 * that reads on arrival, or a rank-order reader told nothing, reads node 2's at once.
 */
static void an_expected_lower_peer_holds_a_rank_order_reader(void) {
    for (int v = 0; v < 3; v++) { /* 0 arrival + expect, 1 rank alone, 2 rank + expect */
        world w;
        rx r;
        halo_transport *t =
            read_order_world(&w, &r, v == 0 ? HALO_TCP_READ_ARRIVAL : HALO_TCP_READ_RANK);
        static unsigned char buf[1000];
        halo_sim_node_stats s0, s1, s2;
        halo_sim_get_stats(t, 0, &s0);
        if (v != 1)
            halo_transport_expect(t, 0, 1);
        ASSERT_OK(t->ops->send(t, 2, 0, buf, 1000, NULL));
        run_for(t, 5000000);
        ASSERT_OK(t->ops->send(t, 1, 0, buf, 1000, NULL));
        run_for(t, 100000000);
        ASSERT_EQ(r.count, 4);
        halo_sim_get_stats(t, 0, &s1);
        ASSERT_OK(t->ops->send(t, 2, 0, buf, 1000, NULL)); /* the expectation is spent */
        run_for(t, 100000000);
        halo_sim_get_stats(t, 0, &s2);
        uint64_t held = s1.read_wait_ns - s0.read_wait_ns,
                 after = s2.read_wait_ns - s1.read_wait_ns;
        (void)printf("# variant %d: node 2's segment waited %.3f ms, the next %.3f ms\n", v,
                     held / 1e6, after / 1e6);
        ASSERT_EQ(s1.read_segs - s0.read_segs, 2);
        ASSERT_EQ(after, 20000);
        if (v == 2)
            ASSERT(held > 5000000 + 20000); /* node 2's waited for node 1's, 5 ms later */
        else
            ASSERT_EQ(held, 2 * 20000);
        halo_transport_free(t);
    }
}

/*
 * Slow start after idle (net.ipv4.tcp_slow_start_after_idle): a 16 kB message (12 segments)
 * on a fresh connection waits one round trip for the ACKs of its first 10 (the initial
 * window); the window then grows, and the next one goes through at once; after 2 s of idle
 * (10 RTOs) the window is back to 10 and the message waits as the first did. Off: it does not.
 */
static void an_idle_connection_restarts_from_the_initial_window(void) {
    for (int ssai = 1; ssai >= 0; ssai--) {
        world w;
        world_init(&w, 2, HALO_DELIVERY_STREAM);
        w.cfg.tcp.slow_start_after_idle = ssai;
        rx r;
        halo_transport *t = make_rx(&w, &r);
        uint64_t sent[3];
        for (int i = 0; i < 3; i++) {
            sent[i] = send_1_to_0(t, 16384);
            run_for(t, i == 1 ? 2000000000 : 10000000);
        }
        ASSERT_EQ(r.count, 3);
        uint64_t took[3];
        for (int i = 0; i < 3; i++)
            took[i] = r.at_ns[i] - sent[i];
        (void)printf("# slow start after idle %d: %.3f %.3f %.3f ms\n", ssai, took[0] / 1e6,
                     took[1] / 1e6, took[2] / 1e6);
        ASSERT(took[0] > took[1] + 250000); /* the first ACK's round trip, less the pipe */
        ASSERT_EQ(took[2], ssai ? took[0] : took[1]);
        halo_transport_free(t);
    }
}

/*
 * Congestion control: a loss repaired by fast recovery leaves the window at 7 of 10 segments
 * (cubic, x0.7) or 5 (Reno, x0.5), so the next 16 kB message needs two round trips with
 * cubic and three with Reno.
 */
static void reno_halves_the_window_cubic_keeps_seven_tenths(void) {
    uint64_t took[2];
    for (int cc = 0; cc < 2; cc++) {
        world w;
        world_init(&w, 2, HALO_DELIVERY_STREAM);
        w.cfg.tcp.cc = cc ? HALO_TCP_CC_RENO : HALO_TCP_CC_CUBIC;
        rx r;
        halo_transport *t = make_rx(&w, &r);
        (void)send_1_to_0(t, 1000);
        run_for(t, 10000000);
        ASSERT_OK(halo_sim_drop_packet(t, 1, 0));
        (void)send_1_to_0(t, 4352);
        run_for(t, 10000000);
        uint64_t t2 = send_1_to_0(t, 16384);
        run_for(t, 10000000);
        ASSERT_EQ(r.count, 3);
        took[cc] = r.at_ns[2] - t2;
        halo_transport_free(t);
    }
    (void)printf("# 16 kB after a recovery: cubic %.3f ms, reno %.3f ms\n", took[0] / 1e6,
                 took[1] / 1e6);
    ASSERT(took[0] < 800000);           /* two round trips: 7, then 5 */
    ASSERT(took[1] > took[0] + 300000); /* three: 5, 6, then 1 */
}

/*
 * Compressed SACKs (net.ipv4.tcp_comp_sack_*): after the first three duplicate ACKs of a
 * hole, the receiver holds SACKs back for min(1 ms, srtt / 20) plus 100 us of slack, so the
 * rest of a burst costs one ACK; with tcp.comp_sack_nr 0 every out-of-order segment is SACKed.
 */
static void sacks_after_the_third_are_compressed(void) {
    uint64_t acks[2];
    for (int nr = 0; nr < 2; nr++) {
        world w;
        world_init(&w, 2, HALO_DELIVERY_STREAM);
        w.cfg.tcp.comp_sack_nr = nr ? 44 : 0;
        w.cfg.tcp.cc = HALO_TCP_CC_RENO;
        rx r;
        halo_transport *t = make_rx(&w, &r);
        (void)send_1_to_0(t, 1000);
        run_for(t, 10000000);
        uint64_t before = acks_of_0(t);
        ASSERT_OK(halo_sim_drop_packet(t, 1, 0));
        (void)send_1_to_0(t, 10 * 1448); /* the initial window, the first segment lost */
        run_for(t, 10000000);
        ASSERT_EQ(r.count, 2);
        acks[nr] = acks_of_0(t) - before;
        halo_transport_free(t);
    }
    (void)printf("# ACKs for 10 segments, the first lost: %llu, compressed %llu\n",
                 (unsigned long long)acks[0], (unsigned long long)acks[1]);
    ASSERT_EQ(acks[0], 10); /* 9 SACKs and the ACK of the repaired hole */
    ASSERT_EQ(acks[1], 4);  /* 3 SACKs at once; the hole's ACK carries the rest */
}

/* ns-3 would ignore what only the in-tree engine models: the world refuses it by name. */
static void the_ns3_world_refuses_what_only_the_in_tree_engine_models(void) {
    world w;
    halo_transport *t = NULL;
    halo_err err = {0};
    world_init(&w, 2, HALO_DELIVERY_STREAM);
    w.cfg.heartbeat_ns = 1000000;
    ASSERT_EQ(halo_world_new(&t, &w.cfg, HALO_SIMULATOR_NS3, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "heartbeat_ms");
    world_init(&w, 2, HALO_DELIVERY_STREAM);
    w.dev[0].host = 1;
    w.dev[0].cores = 2;
    ASSERT_EQ(halo_world_new(&t, &w.cfg, HALO_SIMULATOR_NS3, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "sharing a host");
    world_init(&w, 2, HALO_DELIVERY_STREAM);
    w.dev[1].compute_cv = 0.2;
    ASSERT_EQ(halo_world_new(&t, &w.cfg, HALO_SIMULATOR_NS3, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "compute_cv");
    world_init(&w, 2, HALO_DELIVERY_STREAM);
    w.down[1].loss = (halo_loss_spec){.model = HALO_LOSS_GILBERT,
                                      .loss_bad = 1,
                                      .mean_good_ns = 100000000,
                                      .mean_bad_ns = 10000000};
    ASSERT_EQ(halo_world_new(&t, &w.cfg, HALO_SIMULATOR_NS3, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "Gilbert-Elliott loss in time");
    world_init(&w, 2, HALO_DELIVERY_STREAM);
    w.cfg.tcp.read_order = HALO_TCP_READ_RANK;
    ASSERT_EQ(halo_world_new(&t, &w.cfg, HALO_SIMULATOR_NS3, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "engine.tcp.read_order");
    world_init(&w, 2, HALO_DELIVERY_STREAM);
    w.cfg.tcp.segment_gap_ns = 2000;
    ASSERT_EQ(halo_world_new(&t, &w.cfg, HALO_SIMULATOR_NS3, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "engine.tcp.segment_gap_us");
    ASSERT(t == NULL);
    /* the in-tree engine takes all of it */
    w.cfg.heartbeat_ns = 1000000;
    ASSERT_OK(halo_world_new(&t, &w.cfg, HALO_SIMULATOR_SIM, &err));
    halo_transport_free(t);
}

static void bad_configurations_are_rejected_with_the_field(void) {
    world w;
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    halo_transport *t = NULL;
    halo_err err = {0};
    w.up[1].bandwidth_bps = -1;
    ASSERT_EQ(halo_sim_new(&t, &w.cfg, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "bandwidth");
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.down[0].loss = (halo_loss_spec){.model = HALO_LOSS_BERNOULLI, .p = 1.0};
    ASSERT_EQ(halo_sim_new(&t, &w.cfg, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "loss");
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.up[0].mtu_bytes = 100;
    ASSERT_EQ(halo_sim_new(&t, &w.cfg, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "mtu");
    world_init(&w, 0, HALO_DELIVERY_DATAGRAM);
    ASSERT_EQ(halo_sim_new(&t, &w.cfg, &err), HALO_ERR_ARG);
    world_init(&w, 2, HALO_DELIVERY_DATAGRAM);
    w.dev[1].flops_per_s = 0;
    ASSERT_EQ(halo_sim_new(&t, &w.cfg, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "device 1");
    ASSERT(t == NULL);
}

TEST_MAIN(TEST(datagram_latency_is_two_hops_of_serialisation_and_propagation),
          TEST(incast_queues_at_the_receivers_port),
          TEST(bernoulli_loss_loses_messages_with_any_lost_fragment),
          TEST(parity_delivers_messages_with_one_lost_fragment),
          TEST(gilbert_elliott_has_its_stationary_rate_and_bursts),
          TEST(runs_are_deterministic_and_runs_differ), TEST(compute_delays_the_nodes_sends),
          TEST(stream_delivers_everything_in_order_despite_loss),
          TEST(stream_turns_a_lost_lone_segment_into_a_200ms_wait),
          TEST(bad_configurations_are_rejected_with_the_field),
          TEST(storage_reads_delay_compute_and_read_ahead_overlaps_it),
          TEST(host_costs_keep_the_sender_and_the_receiver_busy),
          TEST(host_copy_of_an_elided_message_is_charged_its_full_size),
          TEST(devices_sharing_a_host_share_its_cores),
          TEST(host_overlap_frees_the_core_during_a_wake_up),
          TEST(a_shared_host_splits_its_memory_bandwidth),
          TEST(a_later_segment_slows_the_earlier_one_while_they_overlap),
          TEST(a_placed_device_shares_only_its_own_core),
          TEST(a_balance_tick_moves_a_device_to_an_idle_core), TEST(a_shared_host_is_deterministic),
          TEST(strided_bytes_go_at_the_strided_bandwidth),
          TEST(device_times_saturate_instead_of_wrapping),
          TEST(cached_weights_go_at_the_cache_bandwidth),
          TEST(compute_cv_draws_a_seeded_factor_of_mean_one_per_segment),
          TEST(recv_jitter_delays_a_waiting_receiver_by_a_seeded_exponential),
          TEST(a_long_sleep_makes_the_wake_up_slower),
          TEST(heartbeats_are_answered_and_never_delivered),
          TEST(a_heartbeat_recovers_a_lost_lone_segment_before_its_timeout),
          TEST(the_ns3_world_refuses_what_only_the_in_tree_engine_models),
          TEST(a_lone_lost_segment_waits_for_the_probe_on_the_52nd_tick),
          TEST(a_probe_after_a_lost_ack_is_reported_as_a_duplicate),
          TEST(rack_retransmits_at_once_or_on_the_reorder_timer),
          TEST(a_segment_gap_lets_rack_mark_a_segment_before_two_sacked_ones),
          TEST(an_early_ack_comes_at_the_second_full_segment_while_the_window_grows),
          TEST(one_full_segment_waits_for_the_delayed_ack_a_short_one_does_not),
          TEST(a_rank_order_reader_leaves_a_peer_unread_behind_a_lower_ones_hole),
          TEST(an_expected_lower_peer_holds_a_rank_order_reader),
          TEST(an_idle_connection_restarts_from_the_initial_window),
          TEST(reno_halves_the_window_cubic_keeps_seven_tenths),
          TEST(sacks_after_the_third_are_compressed))
