/*
 * An event queue for discrete-event execution: a binary min-heap keyed by (time_ns, seq),
 * where seq is the insertion counter, so events at the same time run in the order they
 * were scheduled (ns-3's and libuv's rule). Events live in slots addressed by a stable
 * 64-bit id, so they can be cancelled in O(log n). Storage grows by doubling and is reused,
 * so a steady workload stops allocating once it has reached its peak.
 *
 * Not thread-safe; no global state.
 */
#ifndef HALO_EVQ_H
#define HALO_EVQ_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct halo_evq halo_evq;

/* What an event carries; the queue does not interpret it. */
typedef struct halo_event {
    uint64_t time_ns;
    uint64_t seq;          /* insertion order, assigned by the queue */
    int kind;              /* caller-defined */
    int node;              /* caller-defined (e.g. the node the event belongs to) */
    void (*fn)(void *arg); /* caller-defined (e.g. a timer callback) */
    void *ptr;             /* caller-defined */
    void *ptr2;            /* caller-defined */
    uint64_t u64;          /* caller-defined */
} halo_event;

/* Errors: HALO_ERR_NOMEM. */
int halo_evq_new(halo_evq **out, halo_err *err);

/* Frees the queue (not what the events point to); NULL is a no-op. */
void halo_evq_free(halo_evq *q);

/*
 * Adds a copy of *ev (its seq is overwritten) and stores its id in *id (may be NULL).
 * Ids are never reused. Errors: HALO_ERR_NOMEM.
 */
int halo_evq_push(halo_evq *q, const halo_event *ev, uint64_t *id, halo_err *err);

/*
 * Adds a timer: an event of `kind` (the caller's timer kind) for `node` at now_ns + delay_ns
 * with .fn = fn and .ptr2 = arg, as a transport's schedule (core/transport.h) makes after
 * checking the node. Errors: HALO_ERR_ARG (the time overflows; the message starts with
 * `who`, the transport's name), HALO_ERR_NOMEM.
 */
int halo_evq_push_timer(halo_evq *q, int kind, int node, uint64_t now_ns, uint64_t delay_ns,
                        void (*fn)(void *arg), void *arg, uint64_t *id, const char *who,
                        halo_err *err);

/* Removes the earliest event into *ev. Returns 0 when the queue is empty, 1 otherwise. */
int halo_evq_pop(halo_evq *q, halo_event *ev);

/* The earliest event without removing it, or NULL when empty; valid until the next change. */
const halo_event *halo_evq_peek(const halo_evq *q);

/* Cancels the pending event `id`: 1 if it was pending (and is now gone), 0 otherwise. */
int halo_evq_cancel(halo_evq *q, uint64_t id);

/*
 * Sets the time of every pending event to fn(ctx, event) (a simulator moving what a delayed
 * device was going to do); the order of events at equal times stays their insertion order.
 */
void halo_evq_retime(halo_evq *q, uint64_t (*fn)(void *ctx, const halo_event *ev), void *ctx);

/* Pending events. */
size_t halo_evq_size(const halo_evq *q);

#endif /* HALO_EVQ_H */
