/*
 * The transport contract (core/transport.h), run against every implementation listed in
 * `worlds`. A new transport adds one line there and must pass every case.
 */
#include "core/transport.h"
#include "core/transport_loop.h"
#include "net/transport.h"
#include "sim/sim.h"
#include "tests/test.h"
#include "tests/testutil.h"
#ifdef HALO_CONTRACT_NS3
#include "sim/ns3/ns3_shim.h"
#endif

#include <stdlib.h>
#include <string.h>

typedef struct world {
    const char *name;
    int (*make)(halo_transport **t, int n_nodes, halo_err *err);
    int can_stall; /* run() reports HALO_ERR_AGAIN when nothing is pending */
} world;

#ifndef HALO_CONTRACT_NS3
static int make_loop(halo_transport **t, int n_nodes, halo_err *err) {
    halo_loop_config cfg = {.n_nodes = n_nodes};
    return halo_loop_new(t, &cfg, err);
}
#endif

/* A simulated gigabit star: the same contract must hold with real delays and queues. */
static int make_sim(halo_transport **t, int n_nodes, int delivery, halo_err *err) {
    halo_device_profile dev = {.flops_per_s = 1e10, .mem_bw_bps = 4e9};
    halo_link_spec link = {.bandwidth_bps = 1e9,
                           .latency_ns = 100000,
                           .jitter_ns = 20000,
                           .mtu_bytes = 1500,
                           .header_bytes = 66};
    tu_star w;
    tu_star_init(&w, n_nodes, delivery, dev, link, 1);
#ifdef HALO_CONTRACT_NS3
    return halo_ns3_new(t, &w.cfg, NULL, err);
#else
    return halo_sim_new(t, &w.cfg, err);
#endif
}

static int make_sim_datagram(halo_transport **t, int n_nodes, halo_err *err) {
    return make_sim(t, n_nodes, HALO_DELIVERY_DATAGRAM, err);
}

static int make_sim_stream(halo_transport **t, int n_nodes, halo_err *err) {
    return make_sim(t, n_nodes, HALO_DELIVERY_STREAM, err);
}

#ifndef HALO_CONTRACT_NS3
/* Real sockets on loopback: every node in this process, each on its own ephemeral port. */
static int make_net(halo_transport **t, int n_nodes, int kind, uint64_t spin_ns, halo_err *err) {
    static const uint8_t key[HALO_NET_KEY_BYTES] = {1, 2, 3};
    uint8_t local[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    halo_net_config cfg = {.kind = kind,
                           .n_nodes = n_nodes,
                           .local = local,
                           .key = key,
                           .idle_timeout_ns = 10000000000ull,
                           .spin_ns = spin_ns};
    return halo_net_new(t, &cfg, err);
}

static int make_udp(halo_transport **t, int n_nodes, halo_err *err) {
    return make_net(t, n_nodes, HALO_NET_KIND_UDP, 0, err);
}

static int make_tcp(halo_transport **t, int n_nodes, halo_err *err) {
    return make_net(t, n_nodes, HALO_NET_KIND_TCP, 0, err);
}

/* The event loop spinning before it blocks (halo_net_config.spin_ns): the same contract,
   timers no earlier, nothing delivered twice or out of order. */
static int make_udp_spin(halo_transport **t, int n_nodes, halo_err *err) {
    return make_net(t, n_nodes, HALO_NET_KIND_UDP, 50000, err);
}

static int make_tcp_spin(halo_transport **t, int n_nodes, halo_err *err) {
    return make_net(t, n_nodes, HALO_NET_KIND_TCP, 50000, err);
}
#endif

/* Built a second time as test_ns3_contract (HALO_CONTRACT_NS3): the same star on ns-3. */
static const world worlds[] = {
#ifdef HALO_CONTRACT_NS3
    {"ns3-datagram", make_sim_datagram, 1},
    {"ns3-stream", make_sim_stream, 1},
#else
    {"loop", make_loop, 1},
    {"sim-datagram", make_sim_datagram, 1},
    {"sim-stream", make_sim_stream, 1},
    {"net-udp", make_udp, 0},
    {"net-tcp", make_tcp, 0},
    {"net-udp-spin", make_udp_spin, 0},
    {"net-tcp-spin", make_tcp_spin, 0},
#endif
};

enum {
    N_WORLDS = sizeof worlds / sizeof worlds[0]
};

/* ==== Receivers and timers used by the cases ==== */

typedef struct inbox {
    int count;
    int src[256];
    unsigned char first[256]; /* first byte of each message */
    size_t len[256];
    uint64_t at_ns[256];
    uint64_t arrived_ns[256];
    halo_transport *t;
    int node;
} inbox;

static void on_recv(void *ctx, int src, const void *msg, size_t len) {
    inbox *b = ctx;
    if (b->count < 256) {
        b->src[b->count] = src;
        b->first[b->count] = len ? ((const unsigned char *)msg)[0] : 0;
        b->len[b->count] = len;
        b->arrived_ns[b->count] = halo_transport_arrived_ns(b->t, b->node);
        b->at_ns[b->count] = b->t->ops->now_ns(b->t, b->node);
    }
    b->count++;
}

typedef struct flag {
    int fired;
    uint64_t at_ns;
    halo_transport *t;
} flag;

static void on_timer(void *arg) {
    flag *f = arg;
    f->fired++;
    f->at_ns = f->t->ops->now_ns(f->t, 0);
}

static int flag_set(void *arg) {
    return ((flag *)arg)->fired > 0;
}

static halo_transport *make(const world *w, int n) {
    halo_transport *t = NULL;
    halo_err err = {0};
    if (w->make(&t, n, &err) != HALO_OK)
        TEST_FAIL_AT("%s: %s", w->name, err.msg);
    return t;
}

/* World w with n nodes and `box` receiving at `node`. */
static halo_transport *make_rx(const world *w, int n, int node, inbox *box) {
    halo_transport *t = make(w, n);
    *box = (inbox){.t = t, .node = node};
    ASSERT_OK(t->ops->attach(t, node, on_recv, box, NULL));
    return t;
}

/* ==== Cases ==== */

static void messages_between_a_pair_arrive_in_order(void) {
    for (int k = 0; k < N_WORLDS; k++) {
        inbox box;
        halo_transport *t = make_rx(&worlds[k], 3, 0, &box);
        for (int i = 0; i < 100; i++) {
            unsigned char m[64] = {(unsigned char)i};
            ASSERT_OK(t->ops->send(t, 1 + (i % 2), 0, m, 1 + (size_t)i % 64, NULL));
        }
        tu_count_goal w = {&box.count, 100};
        ASSERT_OK(t->ops->run(t, tu_count_reached, &w, NULL));
        int last[3] = {-1, -1, -1};
        for (int i = 0; i < 100; i++) {
            ASSERT(box.first[i] > last[box.src[i]] || last[box.src[i]] < 0);
            last[box.src[i]] = box.first[i];
            ASSERT_EQ(box.len[i], 1 + (size_t)box.first[i] % 64);
        }
        halo_transport_free(t);
    }
}

static void send_copies_the_message(void) {
    for (int k = 0; k < N_WORLDS; k++) {
        inbox box;
        halo_transport *t = make_rx(&worlds[k], 2, 1, &box);
        unsigned char m[8] = {42};
        ASSERT_OK(t->ops->send(t, 0, 1, m, sizeof m, NULL));
        m[0] = 7;
        tu_count_goal w = {&box.count, 1};
        ASSERT_OK(t->ops->run(t, tu_count_reached, &w, NULL));
        ASSERT_EQ(box.first[0], 42);
        ASSERT_EQ(box.src[0], 0);
        halo_transport_free(t);
    }
}

static void nothing_is_delivered_inside_send_or_schedule(void) {
    for (int k = 0; k < N_WORLDS; k++) {
        inbox box;
        halo_transport *t = make_rx(&worlds[k], 2, 1, &box);
        flag f = {.t = t};
        ASSERT_OK(t->ops->schedule(t, 0, 0, on_timer, &f, NULL, NULL));
        unsigned char m[1] = {1};
        ASSERT_OK(t->ops->send(t, 0, 1, m, 1, NULL));
        ASSERT_EQ(f.fired, 0);
        ASSERT_EQ(box.count, 0);
        ASSERT_OK(t->ops->run(t, flag_set, &f, NULL));
        ASSERT_EQ(f.fired, 1);
        halo_transport_free(t);
    }
}

static void cancelled_timer_never_fires(void) {
    for (int k = 0; k < N_WORLDS; k++) {
        halo_transport *t = make(&worlds[k], 1);
        flag a = {.t = t}, b = {.t = t};
        uint64_t id_a, id_b;
        ASSERT_OK(t->ops->schedule(t, 0, 5000000, on_timer, &a, &id_a, NULL));
        ASSERT_OK(t->ops->schedule(t, 0, 10000000, on_timer, &b, &id_b, NULL));
        ASSERT_EQ(t->ops->cancel(t, id_a), 1);
        ASSERT_EQ(t->ops->cancel(t, id_a), 0);
        ASSERT_OK(t->ops->run(t, flag_set, &b, NULL));
        ASSERT_EQ(a.fired, 0);
        ASSERT_EQ(b.fired, 1);
        ASSERT_EQ(t->ops->cancel(t, id_b), 0); /* already fired */
        halo_transport_free(t);
    }
}

static void time_is_monotonic_and_timers_are_not_early(void) {
    for (int k = 0; k < N_WORLDS; k++) {
        halo_transport *t = make(&worlds[k], 1);
        uint64_t start = t->ops->now_ns(t, 0);
        flag f[5];
        uint64_t delays[5] = {3000000, 1000000, 0, 2000000, 1000000};
        for (int i = 0; i < 5; i++) {
            f[i] = (flag){.t = t};
            ASSERT_OK(t->ops->schedule(t, 0, delays[i], on_timer, &f[i], NULL, NULL));
        }
        ASSERT_OK(t->ops->run(t, flag_set, &f[0], NULL)); /* the latest one */
        for (int i = 0; i < 5; i++) {
            ASSERT_EQ(f[i].fired, 1);
            ASSERT(f[i].at_ns >= start + delays[i]);
        }
        /* equal due times fire in scheduling order; all fire in due order */
        ASSERT(f[1].at_ns <= f[4].at_ns);
        ASSERT(f[2].at_ns <= f[1].at_ns && f[4].at_ns <= f[3].at_ns && f[3].at_ns <= f[0].at_ns);
        ASSERT(t->ops->now_ns(t, 0) >= f[0].at_ns);
        halo_transport_free(t);
    }
}

static void bad_arguments_fail_without_callbacks(void) {
    for (int k = 0; k < N_WORLDS; k++) {
        halo_transport *t = make(&worlds[k], 2);
        halo_err err = {0};
        unsigned char m[1] = {0};
        ASSERT_EQ(t->ops->send(t, 0, 2, m, 1, &err), HALO_ERR_ARG);
        ASSERT_EQ(t->ops->send(t, -1, 0, m, 1, &err), HALO_ERR_ARG);
        ASSERT_EQ(t->ops->send(t, 1, 1, m, 1, &err), HALO_ERR_ARG);
        ASSERT_EQ(t->ops->schedule(t, 5, 0, on_timer, NULL, NULL, &err), HALO_ERR_ARG);
        ASSERT_EQ(t->ops->schedule(t, 0, 0, NULL, NULL, NULL, &err), HALO_ERR_ARG);
        ASSERT_EQ(t->ops->attach(t, 9, on_recv, NULL, &err), HALO_ERR_ARG);
        if (worlds[k].can_stall)
            ASSERT_EQ(t->ops->run(t, NULL, NULL, &err), HALO_ERR_AGAIN);
        halo_transport_free(t);
    }
}

static void destroy_frees_pending_messages_and_timers(void) {
    for (int k = 0; k < N_WORLDS; k++) {
        inbox box;
        halo_transport *t = make_rx(&worlds[k], 4, 0, &box);
        flag f = {.t = t};
        unsigned char m[300] = {0};
        for (int i = 0; i < 50; i++)
            ASSERT_OK(t->ops->send(t, 1 + i % 3, 0, m, sizeof m, NULL));
        ASSERT_OK(t->ops->schedule(t, 0, 1000, on_timer, &f, NULL, NULL));
        halo_transport_free(t); /* LeakSanitizer checks that nothing is left */
        ASSERT_EQ(box.count, 0);
        ASSERT_EQ(f.fired, 0);
    }
}

/* Inside a receive callback arrived_ns lies between the send and now_ns; a simulated
   receiver that was computing when the message came gets it later than it came (a real one's
   kernel stamp: test_net); outside a callback it is now_ns. */
static void arrival_lies_between_the_send_and_now(void) {
    for (int k = 0; k < N_WORLDS; k++) {
        inbox box;
        halo_transport *t = make_rx(&worlds[k], 2, 0, &box);
        halo_cost busy = {.flops = 1e9}; /* 0.1 s on the simulated devices, nothing for real */
        t->ops->charge(t, 0, &busy);
        uint64_t sent = t->ops->now_ns(t, 1);
        unsigned char m[100] = {0};
        ASSERT_OK(t->ops->send(t, 1, 0, m, sizeof m, NULL));
        tu_count_goal w = {&box.count, 1};
        ASSERT_OK(t->ops->run(t, tu_count_reached, &w, NULL));
        /* a real world maps the kernel's wall-clock stamp onto its monotonic clock by two
           reads, which may put it microseconds early (more under an emulator) */
        uint64_t slack = strncmp(worlds[k].name, "net-", 4) == 0 ? 1000000 : 0;
        ASSERT(box.arrived_ns[0] + slack >= sent);
        ASSERT(box.arrived_ns[0] <= box.at_ns[0]);
        if (strncmp(worlds[k].name, "sim-", 4) == 0 || strncmp(worlds[k].name, "ns3-", 4) == 0)
            ASSERT(box.at_ns[0] - box.arrived_ns[0] >= 50000000);
        uint64_t before = t->ops->now_ns(t, 0);
        uint64_t outside = halo_transport_arrived_ns(t, 0);
        ASSERT(outside >= before && outside <= t->ops->now_ns(t, 0));
        halo_transport_free(t);
    }
}

TEST_MAIN(TEST(messages_between_a_pair_arrive_in_order), TEST(send_copies_the_message),
          TEST(nothing_is_delivered_inside_send_or_schedule), TEST(cancelled_timer_never_fires),
          TEST(time_is_monotonic_and_timers_are_not_early),
          TEST(bad_arguments_fail_without_callbacks),
          TEST(destroy_frees_pending_messages_and_timers),
          TEST(arrival_lies_between_the_send_and_now))
