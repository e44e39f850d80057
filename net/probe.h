/*
 * The speed probe of a socket cluster (issue 15, runtime scheduling): at join every node
 * times a few blocks of real compute on an equal share of the model's FFN rows (the gate
 * and up projections, W1 and W3, of every layer) and the worker reports the rate to the
 * root in a PROBE control message, sent after its JACK. The root's runtime scheduler
 * (net/replan.h) turns the rates into the scheduler's device speeds.
 *
 * Only the measurement and the message's fixed-size little-endian encoding: what the root
 * makes of a rate is net/replan.h's business, when a worker probes net/worker.c's.
 */
#ifndef HALO_NET_PROBE_H
#define HALO_NET_PROBE_H

#include "core/model.h"
#include "core/pool.h"

#include <stddef.h>
#include <stdint.h>

#define HALO_NET_PROBE_BYTES   48
#define HALO_NET_PROBE_VERSION 1

typedef struct halo_net_probe {
    int node_idx;       /* the node that measured */
    uint64_t session;   /* the JOIN's session */
    double flops_per_s; /* the measured rate; travels as an integer (flop/s) */
    uint64_t probe_ns;  /* how long the measurement took */
    uint64_t flops;     /* floating-point operations it timed */
} halo_net_probe;

/*
 * Times products of `model`'s W1 and W3 rows over an equal share (1 / n_devices of the
 * hidden dimension, at least one row) of every layer, with `pool` (borrowed, may be NULL),
 * repeated until about `budget_ns` passed (at least one pass), and fills
 * out->flops_per_s (from the fastest pass: an interrupted pass says nothing about the
 * device), probe_ns and flops (node_idx and session are left as they are). A
 * shape-only model has nothing to time: the rate is 0. Allocates one scratch vector.
 * Errors: HALO_ERR_NOMEM.
 */
int halo_net_probe_run(const halo_model *model, halo_pool *pool, int n_devices, uint64_t budget_ns,
                       halo_net_probe *out, halo_err *err);

/* Encodes p into buf[0..HALO_NET_PROBE_BYTES). */
void halo_net_probe_encode(const halo_net_probe *p, unsigned char *buf);

/* Decodes msg[0..len). Returns 1 if it is a PROBE of this version, 0 if not. */
int halo_net_probe_decode(halo_net_probe *p, const void *msg, size_t len);

#endif /* HALO_NET_PROBE_H */
