/*
 * Loop transport: one event queue holds deliveries and timers. Deliveries are scheduled at
 * the current time, so they run before any timer that is due later; at equal times the
 * insertion order decides, which keeps per-pair FIFO order. Message buffers are recycled
 * through a free list, so a steady workload stops allocating.
 */
#include "core/transport_loop.h"

#include "core/evq.h"
#include "core/rng.h"

#include <stdlib.h>
#include <string.h>

enum {
    EV_DELIVER = 1,
    EV_TIMER = 2
};

typedef struct msgbuf {
    struct msgbuf *next_free;
    size_t cap, len;
    unsigned char data[];
} msgbuf;

typedef struct loop_node {
    halo_recv_fn recv;
    void *recv_ctx;
    double drop_rate;
    halo_rng rng;
    halo_loop_stats stats;
} loop_node;

typedef struct loop {
    halo_transport base;
    int n_nodes;
    loop_node *nodes;
    halo_evq *q;
    uint64_t now_ns;
    msgbuf *free_bufs;
    halo_loop_drop_fn drop_fn;
    void *drop_ctx;
} loop;

static loop *as_loop(halo_transport *t) {
    return (loop *)t;
}

static int bad_node(const loop *l, int node) {
    return node < 0 || node >= l->n_nodes;
}

static int loop_attach(halo_transport *t, int node, halo_recv_fn fn, void *ctx, halo_err *err) {
    loop *l = as_loop(t);
    if (bad_node(l, node))
        return HALO_FAIL(err, HALO_ERR_ARG, "loop: no node %d (of %d)", node, l->n_nodes);
    l->nodes[node].recv = fn;
    l->nodes[node].recv_ctx = ctx;
    return HALO_OK;
}

static msgbuf *get_buf(loop *l, size_t len) {
    msgbuf **pp = &l->free_bufs;
    for (msgbuf *b = *pp; b; pp = &b->next_free, b = *pp)
        if (b->cap >= len) {
            *pp = b->next_free;
            return b;
        }
    msgbuf *b = malloc(sizeof *b + len);
    if (b)
        b->cap = len;
    return b;
}

static void put_buf(loop *l, msgbuf *b) {
    b->next_free = l->free_bufs;
    l->free_bufs = b;
}

static int should_drop(loop *l, int src, int dst, const void *msg, size_t len) {
    if (l->drop_fn && l->drop_fn(l->drop_ctx, src, dst, msg, len))
        return 1;
    /* Draw from the worker's stream so each node's drops are independent of the others. */
    loop_node *n = &l->nodes[src != 0 ? src : dst];
    double rate = l->nodes[src].drop_rate > l->nodes[dst].drop_rate ? l->nodes[src].drop_rate
                                                                    : l->nodes[dst].drop_rate;
    return rate > 0.0 && halo_rng_f64(&n->rng) < rate;
}

static int loop_send(halo_transport *t, int src, int dst, const void *msg, size_t len,
                     halo_err *err) {
    loop *l = as_loop(t);
    if (bad_node(l, src) || bad_node(l, dst) || src == dst)
        return HALO_FAIL(err, HALO_ERR_ARG, "loop: cannot send from node %d to node %d", src, dst);
    l->nodes[src].stats.msgs_sent++;
    l->nodes[src].stats.bytes_sent += len;
    if (should_drop(l, src, dst, msg, len)) {
        l->nodes[src].stats.msgs_dropped++;
        return HALO_OK;
    }
    msgbuf *b = get_buf(l, len);
    if (!b)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "loop: out of memory for a %zu-byte message", len);
    memcpy(b->data, msg, len);
    b->len = len;
    halo_event ev = {
        .time_ns = l->now_ns, .kind = EV_DELIVER, .node = dst, .ptr = b, .u64 = (uint64_t)src};
    int rc = halo_evq_push(l->q, &ev, NULL, err);
    if (rc != HALO_OK)
        put_buf(l, b);
    return rc;
}

static int loop_schedule(halo_transport *t, int node, uint64_t delay_ns, halo_timer_fn fn,
                         void *arg, uint64_t *timer_id, halo_err *err) {
    loop *l = as_loop(t);
    if (bad_node(l, node) || !fn)
        return HALO_FAIL(err, HALO_ERR_ARG, "loop: bad timer for node %d", node);
    return halo_evq_push_timer(l->q, EV_TIMER, node, l->now_ns, delay_ns, fn, arg, timer_id, "loop",
                               err);
}

static int loop_cancel(halo_transport *t, uint64_t timer_id) {
    return halo_evq_cancel(as_loop(t)->q, timer_id);
}

static uint64_t loop_now(halo_transport *t, int node) {
    (void)node;
    return as_loop(t)->now_ns;
}

static void loop_charge(halo_transport *t, int node, const halo_cost *cost) {
    loop *l = as_loop(t);
    if (bad_node(l, node))
        return;
    l->nodes[node].stats.charged.flops += cost->flops;
    l->nodes[node].stats.charged.bytes += cost->bytes;
}

static int loop_run(halo_transport *t, halo_done_fn done, void *arg, halo_err *err) {
    loop *l = as_loop(t);
    halo_event ev;
    while (!(done && done(arg))) {
        if (!halo_evq_pop(l->q, &ev))
            return HALO_FAIL(err, HALO_ERR_AGAIN, "loop: stalled, nothing left to deliver");
        if (ev.time_ns > l->now_ns)
            l->now_ns = ev.time_ns;
        if (ev.kind == EV_TIMER) {
            ev.fn(ev.ptr2);
            continue;
        }
        msgbuf *b = ev.ptr;
        loop_node *n = &l->nodes[ev.node];
        n->stats.msgs_recv++;
        n->stats.bytes_recv += b->len;
        if (n->recv)
            n->recv(n->recv_ctx, (int)ev.u64, b->data, b->len);
        put_buf(l, b);
    }
    return HALO_OK;
}

static void loop_destroy(halo_transport *t) {
    loop *l = as_loop(t);
    halo_event ev;
    while (halo_evq_pop(l->q, &ev))
        if (ev.kind == EV_DELIVER)
            free(ev.ptr);
    while (l->free_bufs) {
        msgbuf *b = l->free_bufs;
        l->free_bufs = b->next_free;
        free(b);
    }
    halo_evq_free(l->q);
    free(l->nodes);
    free(l);
}

static const halo_transport_ops loop_ops = {
    .attach = loop_attach,
    .send = loop_send,
    .schedule = loop_schedule,
    .cancel = loop_cancel,
    .now_ns = loop_now,
    .charge = loop_charge,
    .run = loop_run,
    .destroy = loop_destroy,
};

int halo_loop_new(halo_transport **out, const halo_loop_config *cfg, halo_err *err) {
    *out = NULL;
    if (cfg->n_nodes < 1 || cfg->n_nodes > 65535)
        return HALO_FAIL(err, HALO_ERR_ARG, "loop: %d nodes, expected 1..65535", cfg->n_nodes);
    for (int i = 0; cfg->drop_rate && i < cfg->n_nodes; i++)
        if (!(cfg->drop_rate[i] >= 0.0 && cfg->drop_rate[i] < 1.0))
            return HALO_FAIL(err, HALO_ERR_ARG, "loop: drop rate %g of node %d not in [0, 1)",
                             cfg->drop_rate[i], i);
    loop *l = calloc(1, sizeof *l);
    if (!l)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "loop: out of memory");
    l->base.ops = &loop_ops;
    l->n_nodes = cfg->n_nodes;
    l->drop_fn = cfg->drop_fn;
    l->drop_ctx = cfg->drop_ctx;
    l->nodes = calloc((size_t)cfg->n_nodes, sizeof *l->nodes);
    int rc =
        l->nodes ? halo_evq_new(&l->q, err) : HALO_FAIL(err, HALO_ERR_NOMEM, "loop: out of memory");
    if (rc != HALO_OK) {
        free(l->nodes);
        free(l);
        return rc;
    }
    for (int i = 0; i < cfg->n_nodes; i++) {
        l->nodes[i].drop_rate = cfg->drop_rate ? cfg->drop_rate[i] : 0.0;
        halo_rng_init_stream(&l->nodes[i].rng, cfg->seed, 0, (uint64_t)i, 0x6c6f6f70 /* loop */);
    }
    *out = &l->base;
    return HALO_OK;
}

void halo_loop_get_stats(halo_transport *t, int node, halo_loop_stats *out) {
    loop *l = as_loop(t);
    HALO_ASSERT(!bad_node(l, node));
    *out = l->nodes[node].stats;
}
