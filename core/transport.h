/*
 * The one interface between the inference core and a world: send a message, receive by
 * callback, schedule and cancel timers, read the time, charge compute time, and run the
 * world until a condition holds. Implementations: the in-process loop transport
 * (transport_loop.h), the discrete-event simulator (sim/), real sockets (net/). All pass
 * tests/test_transport_contract.c.
 *
 * Contract, for every implementation:
 *  - send copies the message before returning; the receiver's buffer is borrowed only until
 *    its callback returns;
 *  - nothing is delivered and no timer fires inside send, schedule or cancel: callbacks run
 *    only from run (so a zero-delay timer is never re-entrant);
 *  - messages from one node to another are delivered in the order sent, or not at all;
 *  - now_ns never decreases;
 *  - if send or schedule returns an error, no callback will happen for it (libuv's rule);
 *  - destroy frees everything, pending messages and timers included, without calling back.
 */
#ifndef HALO_TRANSPORT_H
#define HALO_TRANSPORT_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct halo_transport halo_transport;

/* A message for node `dst` arrived from `src`; `msg` is valid until the callback returns. */
typedef void (*halo_recv_fn)(void *ctx, int src, const void *msg, size_t len);

/* A timer fired. */
typedef void (*halo_timer_fn)(void *arg);

/* What a segment of computation cost; the simulator turns it into time. */
typedef struct halo_cost {
    double flops;         /* floating-point operations (a multiply-add is 2) */
    double bytes;         /* bytes of weights and activations touched */
    double ops;           /* kernel invocations (one per weight matrix touched): each costs a
                             device's fixed per-operation overhead */
    double strided_bytes; /* the part of `bytes` read through column windows narrower than
                             their matrix (column slices of Wo and W2 read in place, one short
                             run per row): read at a device's strided_bw_bps */
    /* Storage (a device whose memory cannot hold its share; core/memplan.h). A simulated
       world reads load_bytes before the compute starts, waits first for the last read-ahead
       when uses_prefetch is set, and starts reading prefetch_bytes in the background as the
       compute starts; a real world ignores these (its loader really reads). */
    double load_bytes;     /* bytes read from storage on demand, before computing */
    double prefetch_bytes; /* bytes to read ahead for a later segment */
    int uses_prefetch;     /* this segment needs the data of the last read-ahead */
} halo_cost;

/* Returns nonzero when run() should stop. */
typedef int (*halo_done_fn)(void *arg);

typedef struct halo_transport_ops {
    /* Sets the receive callback of `node` (replacing any earlier one). Errors: HALO_ERR_ARG. */
    int (*attach)(halo_transport *t, int node, halo_recv_fn fn, void *ctx, halo_err *err);
    /*
     * Sends msg[0..len) from `src` to `dst` (src != dst). Delivery may be delayed or, on a
     * lossy world, never happen; that is not an error. Errors: HALO_ERR_ARG (bad node,
     * oversized), HALO_ERR_NOMEM, HALO_ERR_CLOSED.
     */
    int (*send)(halo_transport *t, int src, int dst, const void *msg, size_t len, halo_err *err);
    /*
     * Calls fn(arg) once, delay_ns after node's current time; *timer_id (may be NULL)
     * receives a handle for cancel. Errors: HALO_ERR_ARG, HALO_ERR_NOMEM.
     */
    int (*schedule)(halo_transport *t, int node, uint64_t delay_ns, halo_timer_fn fn, void *arg,
                    uint64_t *timer_id, halo_err *err);
    /* Cancels a pending timer: 1 if it was pending, 0 if it already fired or is unknown. */
    int (*cancel)(halo_transport *t, uint64_t timer_id);
    /* The current time at `node`, in nanoseconds since the world started. */
    uint64_t (*now_ns)(halo_transport *t, int node);
    /*
     * Records that `node` just computed something costing *cost. A simulated world advances
     * the node's clock (its later sends leave later); a real world does nothing, because the
     * time really passed.
     */
    void (*charge)(halo_transport *t, int node, const halo_cost *cost);
    /*
     * Delivers messages and fires timers until done(arg) is nonzero (HALO_OK), or until
     * nothing more can happen (HALO_ERR_AGAIN: a stall), or a real world's deadline passes
     * (HALO_ERR_TIMEOUT). done is checked before each event.
     */
    int (*run)(halo_transport *t, halo_done_fn done, void *arg, halo_err *err);
    /* Frees the transport and everything pending. */
    void (*destroy)(halo_transport *t);
    /*
     * Optional (NULL: the world keeps no trace; use halo_transport_trace): notes for a trace
     * viewer that `node` spent [start_ns, end_ns] in `what` (a static string) or, when
     * `instant`, that `what` happened at start_ns; `arg` (-1: none) is a number shown with
     * it. It never changes what happens (issue 17: `halo sim --trace`).
     */
    void (*trace)(halo_transport *t, int node, const char *what, uint64_t start_ns, uint64_t end_ns,
                  int instant, int64_t arg);
    /*
     * Optional (NULL: every send leaves when it is made; use halo_transport_batch): with
     * `on`, the sends `node` makes next may be held back until the call with !on, which
     * puts them all on the wire at once. A node sending to several peers in a row brackets
     * the sends with it: over real sockets one system call then wakes every peer, so the
     * first peer woken cannot take the sender's CPU before the others are sent to (issue 15).
     * It never changes what is delivered, nor the order of frames to one peer.
     */
    void (*batch)(halo_transport *t, int node, int on);
    /*
     * Optional (NULL: now_ns; use halo_transport_arrived_ns): inside a receive callback, the
     * time at `node` at which the message being delivered arrived, which a real world knows
     * from the kernel's stamp and which may lie before now_ns when the process was busy when
     * it came; outside a callback, now_ns. Never after now_ns.
     */
    uint64_t (*arrived_ns)(halo_transport *t, int node);
    /*
     * Optional (NULL: nothing; use halo_transport_expect): `node` now waits for a message
     * from `peer` that has not arrived yet (the next one on that link). A world that models
     * when a reading application drains its sockets (engine.tcp.read_order: rank) lets a
     * higher-ranked peer's data wait unread behind it. It never changes what is delivered.
     */
    void (*expect)(halo_transport *t, int node, int peer);
    /*
     * Optional (NULL: not known; use halo_transport_rx_lost): the datagrams from `peer` that
     * `node` knows were lost on the way so far (gaps in the link's sequence numbers; a late
     * one that fills its gap takes it back). Streams lose nothing an application sees: 0.
     */
    uint64_t (*rx_lost)(halo_transport *t, int node, int peer);
} halo_transport_ops;

struct halo_transport {
    const halo_transport_ops *ops; /* first field, so implementations embed the struct */
};

/* Convenience wrappers. */
static inline int halo_transport_send(halo_transport *t, int src, int dst, const void *msg,
                                      size_t len, halo_err *err) {
    return t->ops->send(t, src, dst, msg, len, err);
}

static inline uint64_t halo_transport_now_ns(halo_transport *t, int node) {
    return t->ops->now_ns(t, node);
}

/* ops->arrived_ns when the world has it; now_ns otherwise. */
static inline uint64_t halo_transport_arrived_ns(halo_transport *t, int node) {
    return t->ops->arrived_ns ? t->ops->arrived_ns(t, node) : t->ops->now_ns(t, node);
}

/* The trace note of ops->trace when the world keeps a trace; nothing (one test) otherwise. */
static inline void halo_transport_trace(halo_transport *t, int node, const char *what,
                                        uint64_t start_ns, uint64_t end_ns, int instant,
                                        int64_t arg) {
    if (t->ops->trace)
        t->ops->trace(t, node, what, start_ns, end_ns, instant, arg);
}

/* ops->batch when the world has it; nothing otherwise. */
static inline void halo_transport_batch(halo_transport *t, int node, int on) {
    if (t->ops->batch)
        t->ops->batch(t, node, on);
}

/* ops->expect when the world has it; nothing otherwise. */
static inline void halo_transport_expect(halo_transport *t, int node, int peer) {
    if (t->ops->expect)
        t->ops->expect(t, node, peer);
}

/* ops->rx_lost when the world has it; UINT64_MAX (not known) otherwise. */
static inline uint64_t halo_transport_rx_lost(halo_transport *t, int node, int peer) {
    return t->ops->rx_lost ? t->ops->rx_lost(t, node, peer) : UINT64_MAX;
}

/* Destroys `t`; NULL is a no-op. */
static inline void halo_transport_free(halo_transport *t) {
    if (t)
        t->ops->destroy(t);
}

#endif /* HALO_TRANSPORT_H */
