/*
 * Memory plan of a memory-limited device: which of its neuron groups stay in memory, which
 * it reads from storage at every token, and what it reads ahead. This is the loader's
 * policy (core/loader.h, measured in docs/loader.md) as a model the simulator can time: the
 * node asks the plan, block by block, how many bytes the groups it is about to compute need
 * from storage, and passes the answer on in its halo_cost (load_bytes, prefetch_bytes,
 * uses_prefetch); the simulated device turns bytes into time with its storage bandwidth.
 * No weights move: the numerics read the mapped model as always.
 *
 * A block is one (layer, phase): the attention or FFN groups of a layer. Blocks are visited
 * in order 0..2L-1 every token. The device's static share is the groups the placement gives
 * it. The plan:
 *  - If the share fits the budget, every block is pinned (resident): nothing is read.
 *  - Otherwise blocks are pinned in order while the pinned bytes plus the stream buffer fit;
 *    the stream buffer is one block's share (the largest streamed one), two with prefetch
 *    (the block being computed and the one being read ahead). The other blocks are streamed:
 *    read at every token. Pinning whole blocks is the remedy docs/loader.md measured: LRU
 *    cannot use a cache smaller than the cyclic working set of a token.
 *  - A group the device computes that is not in its share (the importance hook moved it
 *    here for this token) is read from storage on demand, unless the whole model is pinned.
 *  - With prefetch, as a block starts computing, the device starts reading the next
 *    streamed block of its share (wrapping to the next token), so the read overlaps this
 *    block's compute, its communication and the wait for the next activation. A streamed
 *    block that was read ahead is waited for (uses_prefetch); one that was not (prefetch
 *    off, or the first token) is read on demand. When an activation is lost, the device
 *    skips that block: the block read ahead for it is dropped, and the device reads ahead
 *    the block after the one it computes instead.
 * If the budget cannot hold the stream buffer, prefetch is turned off (one buffer); a
 * budget below the largest single group is an error.
 */
#ifndef HALO_MEMPLAN_H
#define HALO_MEMPLAN_H

#include "core/plan.h"
#include "core/status.h"
#include "core/transport.h"

#include <stdint.h>

typedef struct halo_memplan_config {
    const halo_placement *placement; /* the static placement (borrowed during new) */
    int device;                      /* which device's share */
    int dim;                         /* model width */
    double weight_bytes;             /* bytes per weight (halo_weight_bytes) */
    uint64_t budget_bytes;           /* memory for this device's group weights */
    int prefetch;                    /* read the next streamed block ahead */
} halo_memplan_config;

typedef struct halo_memplan halo_memplan;

/*
 * Builds the plan. Errors: HALO_ERR_ARG (device out of range, budget below the largest
 * group of the share: the message names the device and both sizes), HALO_ERR_NOMEM.
 */
int halo_memplan_new(halo_memplan **out, const halo_memplan_config *cfg, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_memplan_free(halo_memplan *m);

/*
 * The device is about to compute groups gids[0..count) of block (layer, phase): adds the
 * storage side of it to *cost (load_bytes, prefetch_bytes, uses_prefetch) and advances the
 * read-ahead state. Allocates nothing.
 */
void halo_memplan_block(halo_memplan *m, int layer, int phase, const uint16_t *gids, int count,
                        halo_cost *cost);

typedef struct halo_memplan_info {
    uint64_t share_bytes;    /* weights of the device's static share */
    uint64_t pinned_bytes;   /* of which resident */
    uint64_t streamed_bytes; /* of which read at every token */
    uint64_t buffer_bytes;   /* stream buffer (one or two blocks) */
    int n_blocks, n_pinned;  /* blocks with a share on this device; of which pinned */
    int prefetch;            /* read-ahead in effect */
} halo_memplan_info;

/* What the plan decided. */
void halo_memplan_get_info(const halo_memplan *m, halo_memplan_info *out);

/* Bytes of one attention group and of FFN group f (the last may be shorter). */
uint64_t halo_memplan_attn_bytes(const halo_groups *g, int dim, double weight_bytes);
uint64_t halo_memplan_ffn_bytes(const halo_groups *g, int dim, double weight_bytes, int f);

#endif /* HALO_MEMPLAN_H */
