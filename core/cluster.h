/*
 * An in-process cluster: every node of a distributed forward pass in one process, over one
 * transport (the loop transport, or the simulator's). It builds the nodes, holds the
 * placement, and runs the transport until each token's logits are ready.
 */
#ifndef HALO_CLUSTER_H
#define HALO_CLUSTER_H

#include "core/node.h"

typedef struct halo_cluster_config {
    const halo_model *model;   /* borrowed */
    int n_devices;             /* >= 1; device 0 is the root */
    int ffn_group_size;        /* neurons per FFN group; 0 = default (32, or hidden_dim) */
    const char *placement;     /* spec for halo_placement_parse; NULL = "equal" */
    halo_sync_config sync;     /* policy for the root */
    int encoding;              /* enum halo_encoding of every message */
    halo_transport *transport; /* borrowed; must span n_devices nodes */
    halo_pool *pool;           /* borrowed, may be NULL; nodes run one at a time */
    /*
     * Memory budgets (core/memplan.h): NULL = every device holds its share; else
     * (n_devices) bytes of group weights each device can keep in memory, the rest being
     * read from storage at every token (the simulator charges the reads; the numerics are
     * unchanged). `prefetch`: read the next streamed block ahead.
     */
    const uint64_t *budget_bytes;
    int prefetch;
    /* (n_devices) borrowed loaders, entries may be NULL; or NULL: devices whose group
       weights are really read from the checkpoint through a loader (core/node.h). */
    struct halo_loader *const *loaders;
    int collective;       /* enum halo_collective (core/node.h) */
    int split_classifier; /* star: the classifier split over the devices (core/node.h) */
    int pack_windows;     /* nodes copy their Wo and W2 column windows (core/node.h) */
} halo_cluster_config;

typedef struct halo_cluster halo_cluster;

/* Errors: HALO_ERR_ARG (bad counts, placement spec), HALO_ERR_NOMEM. */
int halo_cluster_new(halo_cluster **out, const halo_cluster_config *cfg, halo_err *err);

/* Frees the nodes (not the transport); NULL is a no-op. */
void halo_cluster_free(halo_cluster *c);

/*
 * Runs `token` at `pos` through the cluster and returns the root's logits (valid until the
 * next call) in *logits. Errors: HALO_ERR_ARG, HALO_ERR_AGAIN (the world stalled: e.g. a
 * strict sync whose contribution was lost), or the transport's errors.
 */
int halo_cluster_forward(halo_cluster *c, int token, int pos, const float **logits, halo_err *err);

/* Device i's memory plan, or NULL without budgets; owned by the cluster. */
const halo_memplan *halo_cluster_memplan(const halo_cluster *c, int i);

/* Node i (0 = root); owned by the cluster. */
halo_node *halo_cluster_node(halo_cluster *c, int i);

/* The current placement; owned by the cluster. */
const halo_placement *halo_cluster_placement(const halo_cluster *c);

/* Replaces the placement from the next token on (memory plans are rebuilt for it).
   Errors: HALO_ERR_ARG (bad placement, a budget that cannot hold a group), HALO_ERR_NOMEM. */
int halo_cluster_set_placement(halo_cluster *c, const halo_placement *p, halo_err *err);

/* Default FFN group size for a model: 32 neurons, or the whole FFN when smaller. */
int halo_cluster_default_group_size(const halo_model_config *cfg);

/* The default for a loaded model: as above, raised to the model's quantisation block
   (halo_model_ffn_align: 256 for K-quants) so that groups are whole blocks; the same as
   halo_cluster_default_group_size for float weights. */
int halo_cluster_default_group_size_of(const halo_model *model);

#endif /* HALO_CLUSTER_H */
