/*
 * Neuron groups and their placement on devices.
 *
 * Groups are the unit of work and of placement:
 *  - attention group g (0 <= g < n_kv_heads): KV head g with the query heads that share it
 *    (heads g*kv_mul .. (g+1)*kv_mul - 1), i.e. those rows of Wq, Wk, Wv, the matching
 *    columns of Wo and that head's KV cache;
 *  - FFN group f (0 <= f < ceil(hidden_dim / G)): hidden neurons f*G .. min((f+1)*G, hidden)
 *    - 1, i.e. those rows of W1 and W3 and columns of W2.
 * Each group yields a partial sum of its block's output (dim floats); the block's output is
 * the sum of all partial sums.
 *
 * A placement maps every group of every layer to a device (device 0 is the root). It is
 * plain data: built once, validated, and free to change between tokens for FFN groups.
 * Attention groups carry KV-cache state, so a device that takes over an attention group has
 * no history for it; the node masks the positions it never computed (see node.h).
 */
#ifndef HALO_PLAN_H
#define HALO_PLAN_H

#include "core/model.h"
#include "core/status.h"

#include <stdint.h>

enum {
    HALO_MAX_DEVICES = 1024
};

typedef struct halo_groups {
    int n_layers;
    int n_attn;   /* attention groups per layer (= n_kv_heads) */
    int n_ffn;    /* FFN groups per layer */
    int ffn_size; /* G: hidden neurons per FFN group (the last may have fewer) */
    int kv_mul;   /* query heads per attention group */
    int head_size;
    int hidden_dim;
} halo_groups;

/* Derives the group geometry of `cfg` with FFN groups of `ffn_size` neurons (>= 1). */
int halo_groups_init(halo_groups *g, const halo_model_config *cfg, int ffn_size, halo_err *err);

/* First hidden neuron of FFN group f and the number of neurons in it. */
static inline int halo_groups_ffn_start(const halo_groups *g, int f) {
    return f * g->ffn_size;
}

static inline int halo_groups_ffn_len(const halo_groups *g, int f) {
    int rest = g->hidden_dim - f * g->ffn_size;
    return rest < g->ffn_size ? rest : g->ffn_size;
}

typedef struct halo_placement {
    int n_devices;
    halo_groups groups;
    uint16_t *attn; /* (n_layers, n_attn): device of each attention group */
    uint16_t *ffn;  /* (n_layers, n_ffn): device of each FFN group */
} halo_placement;

/*
 * Allocates a placement for `n_devices` devices (1..HALO_MAX_DEVICES) over `groups`, with
 * shares proportional to `weights` (n_devices finite numbers > 0, of any magnitude: only their
 * ratios count; NULL = equal). Each layer's
 * attention groups and FFN groups are cut into contiguous runs, one per device in device
 * order, sized by largest remainder; a device whose share rounds to zero takes no group of
 * that kind (e.g. more devices than KV heads). Free with halo_placement_free.
 * Errors: HALO_ERR_ARG, HALO_ERR_NOMEM.
 */
int halo_placement_init(halo_placement *p, const halo_groups *groups, int n_devices,
                        const double *weights, halo_err *err);

/*
 * Builds a placement from a text spec:
 *   "equal"                       equal shares;
 *   "weights:W0,W1,...,Wn-1"      shares proportional to the weights;
 *   "explicit:A0,A1,../F0,F1,.."  device of every attention group / FFN group, the same in
 *                                 every layer (n_attn and n_ffn entries).
 * Errors name the spec and what is wrong (HALO_ERR_ARG).
 */
int halo_placement_parse(halo_placement *p, const halo_groups *groups, int n_devices,
                         const char *spec, halo_err *err);

/* Checks every entry names a device in range. Errors: HALO_ERR_ARG. */
int halo_placement_check(const halo_placement *p, halo_err *err);

/* Copies src into dst (same shape required). */
void halo_placement_copy(halo_placement *dst, const halo_placement *src);

/* Frees the arrays; safe on a zeroed placement. */
void halo_placement_free(halo_placement *p);

/* Number of groups of each kind device d holds in layer l. */
int halo_placement_count(const halo_placement *p, int layer, int device, int *n_attn, int *n_ffn);

#endif /* HALO_PLAN_H */
