/*
 * The loop transport: an in-process world with instant, reliable delivery, for tests and
 * for checking a cluster of N nodes against one device. Time is virtual: it stands still
 * while messages are delivered and jumps to the next timer when nothing else is pending.
 * Compute charges are summed per node but take no time.
 *
 * Optional deterministic drop injection: each message from or to a node with a nonzero
 * drop rate is dropped with that probability, drawn from a stream seeded by (seed, node);
 * or a filter callback decides. Drops are counted per node.
 */
#ifndef HALO_TRANSPORT_LOOP_H
#define HALO_TRANSPORT_LOOP_H

#include "core/transport.h"

/* Return nonzero to drop this message. */
typedef int (*halo_loop_drop_fn)(void *ctx, int src, int dst, const void *msg, size_t len);

typedef struct halo_loop_config {
    int n_nodes;               /* >= 1 */
    const double *drop_rate;   /* (n_nodes) or NULL; rate in [0, 1) for messages to/from node */
    uint64_t seed;             /* seeds the drop streams */
    halo_loop_drop_fn drop_fn; /* optional; consulted before the rates */
    void *drop_ctx;
} halo_loop_config;

/* Errors: HALO_ERR_ARG (n_nodes < 1, a rate outside [0, 1)), HALO_ERR_NOMEM. */
int halo_loop_new(halo_transport **out, const halo_loop_config *cfg, halo_err *err);

/* Statistics of one node. */
typedef struct halo_loop_stats {
    uint64_t msgs_sent, bytes_sent; /* offered by the node, dropped ones included */
    uint64_t msgs_recv, bytes_recv; /* delivered to the node */
    uint64_t msgs_dropped;          /* dropped on their way from this node */
    halo_cost charged;              /* total compute charged */
} halo_loop_stats;

/* Copies node's statistics into *out. `t` must be a loop transport. */
void halo_loop_get_stats(halo_transport *t, int node, halo_loop_stats *out);

#endif /* HALO_TRANSPORT_LOOP_H */
