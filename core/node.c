/*
 * The node state machine. Sections: group compute (shared by root and workers), the
 * worker's handling of activations, the root's syncs, and setup.
 *
 * Output projections (Wo, W2) are computed per maximal run of consecutive groups as one
 * windowed matrix-vector product, so a device holding every group computes exactly the
 * single-device products: a 1-device cluster equals halo_forward bit for bit.
 */
#include "core/node.h"

#include "core/loader.h"
#include "core/mat.h"
#include "core/memplan.h"
#include "core/ops.h"
#include "core/winpack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct halo_node {
    int idx, n_devices, encoding;
    int numerics;  /* 0 for a shape-only model: costs are charged, nothing is computed */
    double wbytes; /* bytes per weight (the model's weight type) */
    const halo_model *model;
    const halo_model_config *mc;
    const halo_weights *w;
    halo_groups g;
    halo_transport *t;
    halo_pool *pool;
    halo_memplan *memplan; /* borrowed, may be NULL: storage of a memory-limited device */
    halo_loader *loader;   /* borrowed, may be NULL: group weights are read through it */
    uint16_t *last_gids;   /* loader: (n_layers * 2, max_groups) groups last computed per block */
    int *last_count;       /* loader: (n_layers * 2) how many */
    size_t bytes;

    /* compute buffers */
    float *x, *xb, *own, *q, *att, *head_out, *hb, *hb2, *freq, *logits;
    float *key_cache, *value_cache; /* (n_layers, seq_len, kv_dim) */
    halo_act act, win;              /* a block's input and a window of it, quantised (GGUF) */
    unsigned char *valid;           /* (n_layers, n_attn, seq_len): position computed? */
    uint32_t seq_base;              /* step - pos of the sequence in the caches */
    int have_seq;

    /* messages */
    unsigned char *tx; /* encode buffer; a worker's last partial stays here */
    size_t tx_cap, tx_len;
    uint64_t tx_key;     /* block key of the message in tx */
    uint16_t *rx_groups; /* decode buffers */
    float *rx_values;
    int max_groups; /* max(n_attn, n_ffn) */

    /* worker: the last block computed, as a key (step, layer, phase) */
    uint64_t last_key;
    int have_last;

    /* root */
    halo_sync_config sync;
    uint8_t *critical_cfg; /* (n_devices) static critical devices */
    uint8_t *critical;     /* (n_devices) for the current sync */
    halo_placement placement;
    uint16_t *row;                 /* (max_groups) device of each group of the current block */
    uint16_t *scratch_row;         /* (max_groups) for attention blocks, whose rows cannot change */
    uint64_t *srtt_ns, *rttvar_ns; /* (n_devices, 2) smoothed contribution delays per device
                                      and block kind (attention and FFN blocks differ) */
    uint8_t *retried;              /* (n_devices) activation re-sent in this sync */
    uint64_t sync_seq;             /* syncs begun so far */
    uint64_t *lossy_until;         /* (n_devices) redundancy_on_loss: sync_seq below which the
                                      device gets the extra copies (evidence of loss) */
    uint8_t *late;                 /* slow_safe: (n_devices) LATE_MISSING: missing in the last
                                      finished sync, its late arrival is still a delay sample;
                                      LATE_RETRIED: re-asked there and answered once; either
                                      one's trouble counts at the next finished sync unless an
                                      answer proves it was slow, not lost */
    uint8_t *single;               /* slow_safe: (n_devices) PROBE_* bits of the current sync */
    uint64_t late_key, late_start_ns; /* that sync's block key and start */
    uint8_t *unreliable; /* slow_safe with reliable_fn: (n_devices) as last told, 2 = not yet */
    uint32_t *trouble;   /* slow_safe: (n_devices) share of a device's syncs, in
                            1/65536, that needed a repeated request or went
                            without it (EWMA, gain 1/16): redundancy pays only
                            where this is not 0 */
    uint32_t *lateness;  /* slow_safe: (n_devices, 2) in 1/65536 (EWMA, gain 1/64 a sync): [0]
                            answers missing at a deadline that came later, [1] those that never
                            came; [0] > [1]: late more often than lost */
    uint64_t late_by_ns; /* slow_safe: how far past its deadline a late answer of any device
                            came, the most lately (each sync a 1/4096 decay): the stalls of
                            the cluster's hosts, not of one link */
    uint64_t *rx_lost;   /* slow_safe: (n_devices) halo_transport_rx_lost from each device when
                            last read (UINT64_MAX: not read yet) */
    uint64_t *gap_sync;  /* slow_safe: (n_devices) sync_seq when that count last grew (0: never) */
    uint64_t first_due_ns, late_due_ns; /* the current sync's first deadline, the last one's */
    int extended; /* the current sync's deadline was extended for a late device */
    uint64_t sync_start_ns, deadline_ns;
    uint64_t retry_ns;    /* when the current sync's activations were last re-sent */
    int scored;           /* plan_fn has run for the current sync (slow_safe defers it) */
    int warmup;           /* halo_node_set_warmup: every device is awaited */
    int *dev_start;       /* (n_devices + 1) offsets into dev_groups for the current sync */
    uint16_t *dev_groups; /* groups of the current sync ordered by device */
    uint8_t *received;    /* (n_devices) */
    float *partials;      /* (n_devices, dim) */
    int in_flight, done, status;
    halo_err err;
    int token, pos, layer, phase;
    uint32_t step, next_step;
    uint64_t deadline_id;
    int deadline_armed, deadline_passed;
    int deadline_graced;      /* the late deadline of this sync was put behind what had arrived */
    uint64_t deadline_due_ns; /* when the armed deadline of a block falls due */
    uint64_t ready_ns;
    halo_token_metrics metrics;
    uint64_t *missing_at;  /* (n_layers, 2) */
    uint64_t *missing_dev; /* root: (n_devices) missing contributions per device, all tokens */
    uint64_t *wait_at;     /* (n_layers, 2) root idle at each block's sync, ns */
    uint64_t *block_at;    /* (n_layers, 2) root time from the previous sync to this one, ns */
    uint64_t block_t0_ns;  /* when the current block started (token start or last sync) */

    /* mesh (all-gather): every node */
    int collective;         /* enum halo_collective */
    halo_placement mesh_pl; /* the fixed placement */
    uint16_t *mesh_gids;    /* (max_groups) this node's groups of the current block */
    int mesh_active;        /* a token is running here */
    uint32_t mesh_step;     /* its step */
    int mesh_pos, mesh_layer, mesh_phase;
    /* Blocks buffered: the current one and every block a peer can already be sending. A
       device that holds no group of a block does not wait for it, so peers can be several
       blocks ahead of a node that is late (for a device without attention groups, up to the
       whole next token when its STATE is delayed): 2 n_layers + 2 slots. */
    int mesh_slots;
    int mesh_cur;        /* slot of the current block, -1 before the first */
    float *mesh_parts;   /* (mesh_slots, n_devices, dim) partial sums (numerics only) */
    uint8_t *mesh_gots;  /* (mesh_slots, n_devices) which are in */
    uint64_t *mesh_keys; /* (mesh_slots) their block keys; MESH_EMPTY = free */
    float *mesh_slice;   /* worker: (slice) its classifier rows' logits */
    size_t rx_cap;       /* floats rx_values holds: dim, or a classifier slice (mesh) */
    int mesh_slices;     /* root: classifier slices gathered for the token */

    /* the weight windows this node computes, copied (halo_node_config.pack_windows) */
    halo_winpack *winpack;

    /* star with a split classifier (issue 15) */
    int split_cls;   /* halo_node_config.split_classifier */
    int classifying; /* root: the token's blocks are done, the logits slices are awaited */
    int cls_rounds;  /* root: the classifier's deadlines passed for this token */

    halo_node_stats stats;
};

static uint64_t block_key(uint32_t step, int layer, int phase) {
    return (uint64_t)step << 17 | (uint64_t)layer << 1 | (uint64_t)phase;
}

/* ==== Group compute ==== */

/* The packer's slots (core/winpack.h): one per layer and matrix, then the classifier's. */
enum {
    PACK_WQ,
    PACK_WK,
    PACK_WV,
    PACK_WO,
    PACK_W1,
    PACK_W3,
    PACK_W2,
    PACK_PER_LAYER
};

/* Slot `which` of `layer` (layer n_layers, which 0: the classifier's rows), or -1 (none)
   unless `whole`: the product is the block's only one of its matrix (one run of consecutive
   groups, the usual placement), so its window is the one the node computes token after
   token. */
static int pack_slot(const halo_node *n, int whole, int layer, int which) {
    return n->winpack && whole ? layer * PACK_PER_LAYER + which : -1;
}

/* out (+)= window rows [r0, r0 + rows) x columns [c0, c0 + cols) of m times x, from the
   packed copy of slot `slot` when there is one, else in place: the same sums (each row's dot
   product over the same values in the same order). xq: x prepared for m (in place only). */
static void node_product(halo_node *n, int slot, float *out, const halo_mat *m, size_t r0,
                         size_t rows, size_t c0, size_t cols, const float *x, const void *xq,
                         int accumulate) {
    const float *pk = slot >= 0 ? halo_winpack_get(n->winpack, slot, m, r0, rows, c0, cols) : NULL;
    if (pk)
        halo_matvec_window(n->pool, out, pk, cols, x, (int)rows, (int)cols, accumulate);
    else
        halo_mat_vec(n->pool, out, m, (int)r0, (int)c0, x, xq, (int)rows, (int)cols, accumulate);
}

static void charge(halo_node *n, double flops, double bytes, double ops) {
    halo_cost c = {.flops = flops, .bytes = bytes, .ops = ops};
    n->t->ops->charge(n->t, n->idx, &c);
}

/* Charges the compute of groups gids[0..count) of block (layer, phase), with what the
   memory plan says they need from storage. */
static void charge_block(halo_node *n, int layer, int phase, const uint16_t *gids, int count,
                         double flops, double bytes, double ops, double strided) {
    halo_cost c = {.flops = flops, .bytes = bytes, .ops = ops, .strided_bytes = strided};
    if (n->memplan)
        halo_memplan_block(n->memplan, layer, phase, gids, count, &c);
    n->t->ops->charge(n->t, n->idx, &c);
}

/* Starts a new sequence in the caches when (step - pos) changes. */
static void enter_sequence(halo_node *n, uint32_t step, uint32_t pos) {
    uint32_t base = step - pos;
    if ((!n->have_seq || base != n->seq_base) && n->valid) {
        memset(n->valid, 0, (size_t)n->g.n_layers * (size_t)n->g.n_attn * (size_t)n->mc->seq_len);
        n->seq_base = base;
        n->have_seq = 1;
    }
}

/* Bytes of a (rows x full) matrix read through column windows of `cols` columns in all: none
   when the windows cover every column or the groups come packed from the loader. */
static double strided_bytes(const halo_node *n, double cols, double full, double rows) {
    return n->loader || cols <= 0 || cols >= full ? 0 : n->wbytes * rows * cols;
}

/* Cost of attention groups gids[0..count) at `pos` (n_valid positions attended). */
static void charge_attn(halo_node *n, int layer, const uint16_t *gids, int count, int n_valid_total,
                        size_t proj_cols) {
    double dim = n->mc->dim, hs = n->g.head_size, kv_mul = n->g.kv_mul;
    double rows = (kv_mul + 2.0) * hs * count; /* q, k, v rows */
    double flops =
        2.0 * rows * dim + 4.0 * kv_mul * hs * n_valid_total + 2.0 * dim * (double)proj_cols;
    double bytes =
        n->wbytes * (rows * dim + dim * (double)proj_cols) + 4.0 * 2.0 * hs * n_valid_total;
    charge_block(n, layer, HALO_PHASE_ATTN, gids, count, flops, bytes, count > 0 ? 4 : 0,
                 strided_bytes(n, (double)proj_cols, dim, dim)); /* wq, wk, wv, wo */
}

/* ==== Group weights through the loader ==== */

/* Asks the loader to read ahead the groups this node computed last time for the block after
   (layer, phase), and remembers gids as this block's. */
static void loader_read_ahead(halo_node *n, int layer, int phase, const uint16_t *gids, int count) {
    int b = layer * 2 + phase, next = (b + 1) % (2 * n->g.n_layers);
    memcpy(n->last_gids + (size_t)b * (size_t)n->max_groups, gids, (size_t)count * sizeof *gids);
    n->last_count[b] = count;
    halo_group_key keys[64];
    int k = 0, kind = next % 2 == HALO_PHASE_ATTN ? HALO_GROUP_KIND_ATTN : HALO_GROUP_KIND_FFN;
    const uint16_t *ng = n->last_gids + (size_t)next * (size_t)n->max_groups;
    for (int i = 0; i < n->last_count[next]; i++) {
        keys[k++] = (halo_group_key){.layer = next / 2, .kind = kind, .idx = ng[i]};
        if (k == 64 || i + 1 == n->last_count[next]) {
            (void)halo_loader_prefetch(n->loader, keys, k, NULL); /* a hint: errors are moot */
            k = 0;
        }
    }
}

/* The end of the run of consecutive groups gids[i], gids[i] + 1, ... (ascending). */
static int run_end_of(const uint16_t *gids, int i, int count) {
    int j = i + 1;
    while (j < count && gids[j] == gids[j - 1] + 1)
        j++;
    return j;
}

/* Whether the row products of a run of consecutive groups may go through one matrix-vector
   product (one linear stream through the rows) instead of one per group: f32 rows are
   computed one by one whatever the range (halo_matvec_window; dot4 gives the same sums), so
   the results are the same bit for bit. A group of 32 FFN rows is 96 KB on the 110M model:
   per group, w1 and w3 alternated 32 short streams per block (issue 15). Quantised
   matrices keep one product per group. */
static int runs_f32(const halo_mat *w) {
    return w->type == HALO_TYPE_F32;
}

/* Attention groups through the loader: each group's packed weights, one at a time.
   Returns 0, or -1 when a group could not be read (nothing is left pinned). */
static int attn_from_loader(halo_node *n, int layer, const uint16_t *gids, int count,
                            const float *xb, int pos, float *out, int *n_valid_total) {
    const halo_model_config *c = n->mc;
    size_t dim = (size_t)c->dim, kv_dim = (size_t)halo_model_kv_dim(c), l = (size_t)layer;
    int hs = n->g.head_size, kv_mul = n->g.kv_mul;
    size_t seq = (size_t)c->seq_len, cache_off = l * seq * kv_dim;
    size_t grp_cols = (size_t)kv_mul * (size_t)hs;
    memset(out, 0, dim * sizeof *out);
    for (int i = 0; i < count; i++) {
        size_t g = gids[i];
        halo_group_weights gw;
        halo_group_key key = {.layer = layer, .kind = HALO_GROUP_KIND_ATTN, .idx = (int)g};
        if (halo_loader_acquire(n->loader, key, &gw, NULL) != HALO_OK)
            return -1;
        float *q = n->q + g * grp_cols;
        float *k = n->key_cache + cache_off + (size_t)pos * kv_dim + g * (size_t)hs;
        float *v = n->value_cache + cache_off + (size_t)pos * kv_dim + g * (size_t)hs;
        halo_matvec_window(n->pool, q, gw.wq, dim, xb, (int)grp_cols, c->dim, 0);
        halo_matvec_window(n->pool, k, gw.wk, dim, xb, hs, c->dim, 0);
        halo_matvec_window(n->pool, v, gw.wv, dim, xb, hs, c->dim, 0);
        halo_rope(q, (int)grp_cols, hs, n->freq, pos);
        halo_rope(k, hs, hs, n->freq, pos);
        unsigned char *valid = n->valid + (l * (size_t)n->g.n_attn + g) * seq;
        valid[pos] = 1;
        for (int t = 0; t <= pos; t++)
            *n_valid_total += valid[t];
        const float *kc = n->key_cache + cache_off + g * (size_t)hs;
        const float *vc = n->value_cache + cache_off + g * (size_t)hs;
        for (int h = 0; h < kv_mul; h++)
            halo_attend(n->head_out + g * grp_cols + (size_t)h * (size_t)hs, n->att,
                        q + (size_t)h * (size_t)hs, kc, vc, kv_dim, valid, pos, hs);
        halo_matvec_window(n->pool, out, gw.wo, grp_cols, n->head_out + g * grp_cols, c->dim,
                           (int)grp_cols, 1);
        halo_loader_release(n->loader, key);
    }
    return 0;
}

/* FFN groups through the loader; as attn_from_loader. */
static int ffn_from_loader(halo_node *n, int layer, const uint16_t *gids, int count,
                           const float *xb, float *out) {
    size_t dim = (size_t)n->mc->dim;
    memset(out, 0, dim * sizeof *out);
    for (int i = 0; i < count; i++) {
        halo_group_weights gw;
        halo_group_key key = {.layer = layer, .kind = HALO_GROUP_KIND_FFN, .idx = gids[i]};
        if (halo_loader_acquire(n->loader, key, &gw, NULL) != HALO_OK)
            return -1;
        size_t s = (size_t)halo_groups_ffn_start(&n->g, gids[i]);
        int len = halo_groups_ffn_len(&n->g, gids[i]);
        halo_matvec_window(n->pool, n->hb + s, gw.w1, dim, xb, len, (int)dim, 0);
        halo_matvec_window(n->pool, n->hb2 + s, gw.w3, dim, xb, len, (int)dim, 0);
        halo_swiglu(n->hb + s, n->hb2 + s, len);
        halo_matvec_window(n->pool, out, gw.w2, (size_t)len, n->hb + s, (int)dim, len, 1);
        halo_loader_release(n->loader, key);
    }
    return 0;
}

/* Attention groups gids[0..n) (ascending) of `layer` at `pos`; writes the partial to out.
   Returns 0, or -1 when the loader could not read a group. */
static int compute_attn(halo_node *n, int layer, const uint16_t *gids, int count, const float *xb,
                        int pos, float *out) {
    const halo_model_config *c = n->mc;
    size_t dim = (size_t)c->dim, kv_dim = (size_t)halo_model_kv_dim(c), l = (size_t)layer;
    int hs = n->g.head_size, kv_mul = n->g.kv_mul;
    size_t seq = (size_t)c->seq_len, cache_off = l * seq * kv_dim;
    size_t grp_cols = (size_t)kv_mul * (size_t)hs; /* query dims of one group */
    if (!n->numerics) {
        charge_attn(n, layer, gids, count, count * (pos + 1), (size_t)count * grp_cols);
        return 0;
    }
    int n_valid_total = 0;
    if (n->loader) {
        if (attn_from_loader(n, layer, gids, count, xb, pos, out, &n_valid_total) != 0)
            return -1;
        charge_attn(n, layer, gids, count, n_valid_total, (size_t)count * grp_cols);
        return 0;
    }
    const halo_layer *L = halo_model_layer(n->model, layer);
    halo_act_set(&n->act, xb, c->dim);
    /* f32: q, k and v of a run of consecutive groups in one product each (runs_f32) */
    int runs = runs_f32(&L->wq) && runs_f32(&L->wk) && runs_f32(&L->wv);
    for (int i = 0, run_end = 0; i < count; i++) {
        size_t g = gids[i];
        float *q = n->q + g * grp_cols;
        float *k = n->key_cache + cache_off + (size_t)pos * kv_dim + g * (size_t)hs;
        float *v = n->value_cache + cache_off + (size_t)pos * kv_dim + g * (size_t)hs;
        if (i >= run_end) {
            run_end = runs ? run_end_of(gids, i, count) : i + 1;
            size_t len = (size_t)(run_end - i), khs = (size_t)hs;
            int whole = i == 0 && run_end == count;
            node_product(n, pack_slot(n, whole, layer, PACK_WQ), q, &L->wq, g * grp_cols,
                         grp_cols * len, 0, dim, xb, halo_act_get(&n->act, &L->wq), 0);
            node_product(n, pack_slot(n, whole, layer, PACK_WK), k, &L->wk, g * khs, khs * len, 0,
                         dim, xb, halo_act_get(&n->act, &L->wk), 0);
            node_product(n, pack_slot(n, whole, layer, PACK_WV), v, &L->wv, g * khs, khs * len, 0,
                         dim, xb, halo_act_get(&n->act, &L->wv), 0);
        }
        halo_rope(q, (int)grp_cols, hs, n->freq, pos);
        halo_rope(k, hs, hs, n->freq, pos);
        unsigned char *valid = n->valid + (l * (size_t)n->g.n_attn + g) * seq;
        valid[pos] = 1;
        for (int t = 0; t <= pos; t++)
            n_valid_total += valid[t];
        const float *kc = n->key_cache + cache_off + g * (size_t)hs;
        const float *vc = n->value_cache + cache_off + g * (size_t)hs;
        for (int h = 0; h < kv_mul; h++)
            halo_attend(n->head_out + g * grp_cols + (size_t)h * (size_t)hs, n->att,
                        q + (size_t)h * (size_t)hs, kc, vc, kv_dim, valid, pos, hs);
    }
    /* Output projection: one windowed product per run of consecutive groups. */
    memset(out, 0, dim * sizeof *out);
    for (int i = 0; i < count;) {
        int j = i + 1;
        while (j < count && gids[j] == gids[j - 1] + 1)
            j++;
        size_t c0 = gids[i] * grp_cols, cols = (size_t)(j - i) * grp_cols;
        halo_act_set_window(&n->win, n->head_out + c0, (int)cols, (int)c0);
        node_product(n, pack_slot(n, i == 0 && j == count, layer, PACK_WO), out, &L->wo, 0, dim, c0,
                     cols, n->head_out + c0, halo_act_get(&n->win, &L->wo), 1);
        i = j;
    }
    charge_attn(n, layer, gids, count, n_valid_total, (size_t)count * grp_cols);
    return 0;
}

/* FFN groups gids[0..n) (ascending) of `layer`; writes the partial to out. Returns 0, or -1
   when the loader could not read a group. */
static int compute_ffn(halo_node *n, int layer, const uint16_t *gids, int count, const float *xb,
                       float *out) {
    size_t dim = (size_t)n->mc->dim, hidden = (size_t)n->mc->hidden_dim;
    double neurons = 0;
    for (int i = 0; i < count; i++)
        neurons += halo_groups_ffn_len(&n->g, gids[i]);
    /* Three matrices of `neurons` rows (or columns) by dim. */
    charge_block(n, layer, HALO_PHASE_FFN, gids, count, 6.0 * neurons * (double)dim,
                 n->wbytes * 3.0 * neurons * (double)dim, count > 0 ? 3 : 0, /* w1, w3, w2 */
                 strided_bytes(n, neurons, (double)hidden, (double)dim));
    if (!n->numerics)
        return 0;
    if (n->loader)
        return ffn_from_loader(n, layer, gids, count, xb, out);
    const halo_layer *L = halo_model_layer(n->model, layer);
    halo_act_set(&n->act, xb, (int)dim);
    /* f32: w1 and w3 of a run of consecutive groups in one product each (runs_f32) */
    int runs = runs_f32(&L->w1) && runs_f32(&L->w3);
    for (int i = 0; i < count;) {
        int j = runs ? run_end_of(gids, i, count) : i + 1;
        size_t s = (size_t)halo_groups_ffn_start(&n->g, gids[i]);
        size_t e = (size_t)halo_groups_ffn_start(&n->g, gids[j - 1]) +
                   (size_t)halo_groups_ffn_len(&n->g, gids[j - 1]);
        int whole = i == 0 && j == count;
        node_product(n, pack_slot(n, whole, layer, PACK_W1), n->hb + s, &L->w1, s, e - s, 0, dim,
                     xb, halo_act_get(&n->act, &L->w1), 0);
        node_product(n, pack_slot(n, whole, layer, PACK_W3), n->hb2 + s, &L->w3, s, e - s, 0, dim,
                     xb, halo_act_get(&n->act, &L->w3), 0);
        for (; i < j; i++) /* swiglu group by group, as before (its vector steps unchanged) */
            halo_swiglu(n->hb + halo_groups_ffn_start(&n->g, gids[i]),
                        n->hb2 + halo_groups_ffn_start(&n->g, gids[i]),
                        halo_groups_ffn_len(&n->g, gids[i]));
    }
    memset(out, 0, dim * sizeof *out);
    for (int i = 0; i < count;) {
        int j = i + 1;
        while (j < count && gids[j] == gids[j - 1] + 1)
            j++;
        size_t c0 = (size_t)halo_groups_ffn_start(&n->g, gids[i]);
        size_t c1 = (size_t)halo_groups_ffn_start(&n->g, gids[j - 1]) +
                    (size_t)halo_groups_ffn_len(&n->g, gids[j - 1]);
        halo_act_set_window(&n->win, n->hb + c0, (int)(c1 - c0), (int)c0);
        node_product(n, pack_slot(n, i == 0 && j == count, layer, PACK_W2), out, &L->w2, 0, dim, c0,
                     c1 - c0, n->hb + c0, halo_act_get(&n->win, &L->w2), 1);
        i = j;
    }
    return 0;
}

/* Computes a block's groups into out; returns 0, or -1 when the loader failed (counted). */
static int compute_block(halo_node *n, int layer, int phase, const uint16_t *gids, int count,
                         const float *xb, int pos, float *out) {
    if (n->loader && n->numerics)
        loader_read_ahead(n, layer, phase, gids, count);
    int rc = phase == HALO_PHASE_ATTN ? compute_attn(n, layer, gids, count, xb, pos, out)
                                      : compute_ffn(n, layer, gids, count, xb, out);
    if (rc != 0)
        n->stats.load_failed++;
    return rc;
}

static int send_msg(halo_node *n, const halo_msg *m, const uint16_t *gids, const float *values,
                    halo_err *err) {
    size_t len;
    int rc = halo_wire_encode(m, gids, values, n->tx, n->tx_cap, &len, err);
    n->tx_len = rc == HALO_OK ? len : 0;
    n->tx_key = block_key(m->step, m->layer, m->phase);
    if (rc == HALO_OK) {
        n->stats.msgs_encoded++;
        rc = n->t->ops->send(n->t, n->idx, m->dst, n->tx, len, err);
    }
    if (rc == HALO_OK) {
        n->stats.msgs_sent++;
        n->stats.bytes_sent += len;
    }
    return rc;
}

/* Sends message m (header, groups, values) to every device but this one, in device order:
   encoded once, then re-addressed for each further device (the same bytes halo_wire_encode
   gives each; issue 15: the mesh's broadcasts cost one encoding, not one per peer). */
static int send_to_peers_now(halo_node *n, halo_msg *m, const uint16_t *gids, const float *values,
                             halo_err *err) {
    int first = 1;
    for (int d = 0; d < n->n_devices; d++) {
        if (d == n->idx)
            continue;
        m->dst = (uint16_t)d;
        if (first) {
            int rc = send_msg(n, m, gids, values, err);
            if (rc != HALO_OK)
                return rc;
            first = 0;
            continue;
        }
        halo_wire_set_dst(n->tx, n->tx_len, (uint16_t)d);
        int rc = n->t->ops->send(n->t, n->idx, d, n->tx, n->tx_len, err);
        if (rc != HALO_OK)
            return rc;
        n->stats.msgs_sent++;
        n->stats.bytes_sent += n->tx_len;
    }
    return HALO_OK;
}

/* send_to_peers_now as one batch (halo_transport_batch): every peer woken at once. */
static int send_to_peers(halo_node *n, halo_msg *m, const uint16_t *gids, const float *values,
                         halo_err *err) {
    halo_transport_batch(n->t, n->idx, 1);
    int rc = send_to_peers_now(n, m, gids, values, err);
    halo_transport_batch(n->t, n->idx, 0);
    return rc;
}

/* ==== Worker ==== */

/* Groups must be strictly ascending and in range for the block's kind. */
static int groups_ok(const halo_node *n, int phase, const uint16_t *gids, int count) {
    int limit = phase == HALO_PHASE_ATTN ? n->g.n_attn : n->g.n_ffn;
    for (int i = 0; i < count; i++)
        if (gids[i] >= limit || (i > 0 && gids[i] <= gids[i - 1]))
            return 0;
    return count > 0;
}

static void worker_on_activation(halo_node *n, const halo_msg *m) {
    uint64_t key = block_key(m->step, m->layer, m->phase);
    if (n->have_last && key <= n->last_key) {
        if (key != n->last_key) {
            n->stats.stale++;
            return;
        }
        /* The root asks again: our answer was lost. Send the cached partial. */
        n->stats.duplicate++;
        if (n->tx_len && n->tx_key == key &&
            n->t->ops->send(n->t, n->idx, 0, n->tx, n->tx_len, NULL) == HALO_OK) {
            n->stats.resent++;
            n->stats.msgs_sent++;
            n->stats.bytes_sent += n->tx_len;
        }
        return;
    }
    int had_last = n->have_last;
    uint64_t prev_key = n->last_key;
    n->have_last = 1;
    n->last_key = key;
    enter_sequence(n, m->step, m->pos);
    if (compute_block(n, m->layer, m->phase, n->rx_groups, m->n_groups, n->rx_values, (int)m->pos,
                      n->own) != 0) {
        /* no partial: a repeated request computes (and reads) again */
        n->have_last = had_last;
        n->last_key = prev_key;
        n->tx_len = 0;
        return;
    }
    n->stats.computed++;
    halo_msg reply = *m;
    reply.kind = HALO_MSG_PARTIAL;
    reply.encoding = (uint8_t)(n->encoding | (n->numerics ? 0 : HALO_WIRE_ELIDED));
    reply.src = (uint16_t)n->idx;
    reply.dst = 0;
    /* A failed send is a lost contribution: the root's policy deals with it. */
    if (send_msg(n, &reply, n->rx_groups, n->own, NULL) != HALO_OK) {
        n->stats.malformed++;
        return;
    }
    if ((m->encoding & HALO_WIRE_ANSWER_TWICE) && n->tx_len && n->tx_key == key &&
        n->t->ops->send(n->t, n->idx, 0, n->tx, n->tx_len, NULL) == HALO_OK) {
        n->stats.resent++;
        n->stats.msgs_sent++;
        n->stats.bytes_sent += n->tx_len;
    }
}

/* ==== Root ==== */

static void root_fail(halo_node *n, int rc, const halo_err *err) {
    if (n->status == HALO_OK) {
        n->status = rc;
        if (err)
            n->err = *err;
        else
            HALO_FAIL(&n->err, rc, "node 0: %s", halo_strerror(rc));
    }
    n->in_flight = 0;
    n->classifying = 0;
    n->done = 1;
}

/* Whether the current sync waits for device d whatever the deadline: a critical device, or
   (slow_safe) one whose delay for this block kind has not been measured yet; every device
   during a warm-up pass. */
static int must_await(const halo_node *n, int d) {
    return n->warmup || n->critical[d] ||
           (n->sync.slow_safe && n->sync.adaptive && !n->srtt_ns[2 * d + n->phase]);
}

static int sync_complete(const halo_node *n) {
    for (int d = 1; d < n->n_devices; d++) {
        if (n->dev_start[d + 1] == n->dev_start[d] || n->received[d])
            continue;
        if (n->sync.policy == HALO_SYNC_POLICY_STRICT || must_await(n, d) || !n->deadline_passed)
            return 0;
    }
    return 1;
}

static int begin_sync(halo_node *n, halo_err *err);

enum {
    LATE_MISSING = 1,
    LATE_RETRIED = 2,
    PROBE_ONE_COPY = 1, /* one copy of the activation went out: a second answer is a reply to a
                           repeated request, so the first request (or its answer) was not lost */
    PROBE_SLOW = 2,     /* such a second answer came in this sync */
    TROUBLE_HIT = 65536u / 16,
    LATENESS_HIT = 65536u / 16,
    GAP_SYNCS = 256, /* a device whose frames showed a gap within this many syncs is on a lossy
                        link (wait_longer) */
    LATE_DEADLINE_NS = 50000, /* a deadline handled later than this after it fell due was
                                 held up by the root's own compute: on_deadline */
};

/* Device d's contribution was missing at a deadline: evidence of loss for a token's syncs. */
static void saw_loss(halo_node *n, int d) {
    n->lossy_until[d] = n->sync_seq + 2 * (uint64_t)n->mc->n_layers;
}

/* slow_safe: device d's answer, missing at the deadline due at `due`, came at `now`. */
static void came_late(halo_node *n, int d, uint64_t due, uint64_t now) {
    n->lateness[2 * d] += LATENESS_HIT;
    if (now > due && now - due > n->late_by_ns)
        n->late_by_ns = now - due;
}

/* slow_safe: how much longer (ns) a deadline that falls due now waits, 0 for not at all. A
   device whose answer is missing is waited for once more when its answers have lately come
   late more often than they were lost, its exchanges have not failed lately (trouble below
   the gate of the copies; a missing answer that comes late is no failure) and its frames
   have shown no gap within GAP_SYNCS syncs (where the world counts them:
   halo_transport_rx_lost): a worker descheduled on a busy host, not a lossy link, whose
   contribution dropped costs the result and saves nothing (issue 15). The wait: as long past
   the deadline as late answers have come lately, and an eighth, at least the deadline's
   length again (an answer later than any lately teaches the next wait). Devices start
   late-leaning (1 against 0): a clean network gives up on no one until an answer is lost. */
static uint64_t wait_longer(const halo_node *n) {
    if (!n->lateness || n->extended || n->warmup || !n->sync.adaptive)
        return 0;
    for (int d = 1; d < n->n_devices; d++)
        if (n->dev_start[d + 1] != n->dev_start[d] && !n->received[d] &&
            n->lateness[2 * d] > n->lateness[2 * d + 1] && n->trouble[d] < 256 &&
            !(n->gap_sync[d] && n->sync_seq - n->gap_sync[d] < GAP_SYNCS)) {
            uint64_t wait = n->late_by_ns + n->late_by_ns / 8;
            return wait > n->deadline_ns ? wait : n->deadline_ns;
        }
    return 0;
}

/* Every device late-leaning, no lateness nor gap seen (halo_node_new, the end of a warm-up). */
static void reset_lateness(halo_node *n) {
    for (int d = 0; n->lateness && d < n->n_devices; d++) {
        n->lateness[2 * d] = 1;
        n->lateness[2 * d + 1] = 0;
        n->rx_lost[d] = UINT64_MAX;
        n->gap_sync[d] = 0;
    }
    n->late_by_ns = 0;
}

/* slow_safe: notes a gap in device d's frames since the last look. */
static void look_for_gaps(halo_node *n, int d) {
    uint64_t lost = halo_transport_rx_lost(n->t, n->idx, d);
    if (lost == UINT64_MAX)
        return;
    if (n->rx_lost[d] != UINT64_MAX && lost > n->rx_lost[d])
        n->gap_sync[d] = n->sync_seq;
    n->rx_lost[d] = lost;
}

/* Copies of the current sync's activation for device d. */
static int copies_for(const halo_node *n, int d) {
    const halo_sync_config *c = &n->sync;
    if (c->policy != HALO_SYNC_POLICY_RELAXED || !n->critical[d] || c->redundancy <= 1)
        return 1;
    return !c->redundancy_on_loss || n->sync_seq < n->lossy_until[d] ? c->redundancy : 1;
}

static int classifier_start(halo_node *n, halo_err *err);

/*
 * Split classifier, relaxed: whether a device's exchanges failed lately (slow_safe's trouble,
 * which a device that was merely slow does not earn; without slow_safe a re-ask within the
 * last token). Then the root computes the whole classifier for this token: a slice is vocab /
 * n floats, tens of datagrams, the message likeliest to lose more than parity rebuilds, and
 * waiting out its deadline costs more than the rows (issue 15: at 5% loss on the 110M model
 * the split was slower than the root alone in every round; without loss faster).
 */
static int classifier_in_trouble(const halo_node *n) {
    if (n->sync.policy != HALO_SYNC_POLICY_RELAXED)
        return 0;
    for (int d = 1; d < n->n_devices; d++)
        if (n->trouble ? n->trouble[d] >= 256 : n->sync_seq < n->lossy_until[d])
            return 1;
    return 0;
}

static void finish_token(halo_node *n) {
    const halo_model_config *c = n->mc;
    if (n->split_cls && classifier_in_trouble(n))
        n->stats.cls_whole++;
    else if (n->split_cls) {
        halo_err err = {0};
        int rc = classifier_start(n, &err);
        if (rc != HALO_OK)
            root_fail(n, rc, &err);
        return;
    }
    if (n->numerics) {
        halo_rmsnorm_eps(n->x, n->x, n->w->rms_final, c->dim, halo_model_norm_eps(n->model));
        const halo_mat *cls = halo_model_classifier(n->model);
        halo_act_set(&n->act, n->x, c->dim);
        halo_mat_vec(n->pool, n->logits, cls, 0, 0, n->x, halo_act_get(&n->act, cls), c->vocab_size,
                     c->dim, 0);
    }
    charge(n, 2.0 * c->vocab_size * c->dim, n->wbytes * c->vocab_size * c->dim, 1);
    n->metrics.end_ns = n->t->ops->now_ns(n->t, 0);
    n->in_flight = 0;
    n->done = 1;
}

/* All awaited contributions are in (or given up): add them up and step to the next block. */
static void finish_sync(halo_node *n) {
    if (n->deadline_armed) {
        (void)n->t->ops->cancel(n->t, n->deadline_id);
        n->deadline_armed = 0;
    }
    uint64_t now = n->t->ops->now_ns(n->t, 0);
    uint64_t wait = now > n->ready_ns ? now - n->ready_ns : 0;
    if (wait)
        halo_transport_trace(n->t, 0, "wait", n->ready_ns, now, 0, n->layer * 2 + n->phase);
    n->metrics.wait_ns += wait;
    n->stats.wait_ns += wait;
    n->wait_at[n->layer * 2 + n->phase] += wait;
    n->block_at[n->layer * 2 + n->phase] += now > n->block_t0_ns ? now - n->block_t0_ns : 0;
    n->block_t0_ns = now;
    size_t dim = (size_t)n->mc->dim;
    for (int d = 1; d < n->n_devices; d++) {
        /* slow_safe: re-asked in the last sync and its second answer did not come during this
           one, or missing there and its answer not come since: the exchange was lost after
           all, its trouble counts now (below) */
        if (n->late && n->late[d] && n->trouble)
            n->trouble[d] += TROUBLE_HIT;
        if (n->lateness) { /* wait_longer's evidence */
            look_for_gaps(n, d);
            if (n->late[d] == LATE_MISSING) /* missing at the last deadline, not come since */
                n->lateness[2 * d + 1] += LATENESS_HIT;
            n->lateness[2 * d] -= n->lateness[2 * d] / 64;
            n->lateness[2 * d + 1] -= n->lateness[2 * d + 1] / 64;
        }
        if (n->late)
            n->late[d] = 0;
        if (n->dev_start[d + 1] == n->dev_start[d])
            continue;
        n->metrics.expected++;
        n->stats.expected++;
        if (!n->received[d]) {
            saw_loss(n, d);
            n->metrics.missing++;
            n->stats.missing++;
            n->missing_at[n->layer * 2 + n->phase]++;
            n->missing_dev[d]++;
        }
        /* slow_safe: a device re-asked only because it was slow (both answers came) is no
           trouble: copies and moved groups would not help it (a descheduled worker on a busy
           host is not a lossy link) */
        int slow = n->single && (n->single[d] & PROBE_SLOW);
        int hit = (n->retried[d] && !slow) || !n->received[d];
        if (n->late)
            n->late[d] = !n->received[d] && !n->retried[d]                          ? LATE_MISSING
                         : hit && n->received[d] && (n->single[d] & PROBE_ONE_COPY) ? LATE_RETRIED
                                                                                    : 0;
        /* a re-asked device that answered once counts as trouble only if its second answer
           does not follow within the next sync (above): counted at once, a device a scheduling
           stall delayed was unreliable for the next sync, which then moved critical groups,
           scored with the predictor and sent copies on a clean network (issue 15); so does a
           missing one, whose answer may still come late (wait_longer) */
        int deferred = n->late && n->late[d];
        if (n->trouble)
            n->trouble[d] =
                n->trouble[d] - n->trouble[d] / 16 + (hit && !deferred ? TROUBLE_HIT : 0);
    }
    n->late_by_ns -= n->late_by_ns / 4096;
    n->late_key = block_key(n->step, n->layer, n->phase);
    n->late_start_ns = n->sync_start_ns;
    n->late_due_ns = n->first_due_ns;
    /* Sum in device order, so the result does not depend on arrival order. */
    for (size_t i = 0; n->numerics && i < dim; i++) {
        float s = n->own[i];
        for (int d = 1; d < n->n_devices; d++)
            if (n->received[d])
                s += n->partials[(size_t)d * dim + i];
        n->x[i] += s;
    }
    charge(n, (double)n->n_devices * (double)dim, 4.0 * (double)n->n_devices * (double)dim, 0);
    if (n->phase == HALO_PHASE_ATTN) {
        n->phase = HALO_PHASE_FFN;
    } else {
        n->phase = HALO_PHASE_ATTN;
        n->layer++;
    }
    if (n->layer == n->mc->n_layers)
        finish_token(n);
}

/*
 * Starts syncs until one has to wait for the network or the token is finished. A loop, not
 * recursion: blocks that need no remote contribution complete at once.
 */
static int advance(halo_node *n, halo_err *err) {
    while (n->in_flight && !n->classifying) {
        int rc = begin_sync(n, err);
        if (rc != HALO_OK)
            return rc;
        if (!sync_complete(n))
            return HALO_OK;
        finish_sync(n);
    }
    return HALO_OK;
}

/* A contribution or a deadline completed the current sync: finish it and go on. */
static void complete_and_advance(halo_node *n) {
    finish_sync(n);
    halo_err err = {0};
    int rc = advance(n, &err);
    if (rc != HALO_OK)
        root_fail(n, rc, &err);
}

/* `flags`: 0, or HALO_WIRE_ANSWER_TWICE with redundant copies (wire.h). */
static int send_activation(halo_node *n, int d, int flags, halo_err *err) {
    halo_msg m = {.kind = HALO_MSG_ACTIVATION,
                  .phase = (uint8_t)n->phase,
                  .encoding = (uint8_t)(n->encoding | flags | (n->numerics ? 0 : HALO_WIRE_ELIDED)),
                  .src = 0,
                  .dst = (uint16_t)d,
                  .step = n->step,
                  .pos = (uint32_t)n->pos,
                  .layer = (uint16_t)n->layer,
                  .n_groups = (uint16_t)(n->dev_start[d + 1] - n->dev_start[d]),
                  .n_values = (uint32_t)n->mc->dim};
    return send_msg(n, &m, n->dev_groups + n->dev_start[d], n->xb, err);
}

static void classifier_deadline(halo_node *n);

/* slow_safe with reliable_fn: 1 if the hook has been told that every device is reliable. */
static int all_reliable(const halo_node *n) {
    if (!n->sync.slow_safe || !n->unreliable)
        return 0;
    for (int d = 1; d < n->n_devices; d++)
        if (n->unreliable[d])
            return 0;
    return 1;
}

/* The hook's critical set for the current sync, asked after its activations went out: the
   groups stay where they are (a scratch copy of the row). */
static void score_late(halo_node *n) {
    int count = n->phase == HALO_PHASE_ATTN ? n->g.n_attn : n->g.n_ffn;
    memcpy(n->scratch_row, n->row, (size_t)count * sizeof *n->row);
    n->sync.plan_fn(n->sync.plan_ctx, n->step, n->layer, n->phase, n->xb, n->scratch_row, count,
                    n->critical);
    n->scored = 1;
}

static void on_deadline(void *arg) {
    halo_node *n = arg;
    n->deadline_armed = 0;
    if (!n->in_flight) {
        n->deadline_passed = 1;
        return;
    }
    if (n->classifying) {
        n->deadline_passed = 1;
        classifier_deadline(n);
        return;
    }
    uint64_t now = n->t->ops->now_ns(n->t, 0);
    /* a deadline handled late (the root was computing its own share when it fell due) first
       lets the contributions that arrived meanwhile in: a zero-delay timer comes after every
       message that arrived before now */
    if (!n->deadline_graced && now > n->deadline_due_ns + LATE_DEADLINE_NS) {
        halo_err gerr = {0};
        n->deadline_graced = 1;
        if (n->t->ops->schedule(n->t, 0, 0, on_deadline, n, &n->deadline_id, &gerr) == HALO_OK) {
            n->deadline_armed = 1;
            n->deadline_due_ns = now;
            return;
        }
    }
    uint64_t more = wait_longer(n);
    if (more) {
        halo_err werr = {0};
        if (n->t->ops->schedule(n->t, 0, more, on_deadline, n, &n->deadline_id, &werr) == HALO_OK) {
            n->extended = 1;
            n->stats.extended++;
            n->deadline_armed = 1;
            n->deadline_due_ns = now + more;
            halo_transport_trace(n->t, 0, "deadline extended", now, now, 1, (int64_t)more);
            return;
        }
    }
    n->deadline_passed = 1;
    halo_transport_trace(n->t, 0, "deadline passed", now, now, 1, (int64_t)n->deadline_ns);
    if (!n->scored)
        score_late(n);
    if (sync_complete(n)) {
        complete_and_advance(n);
        return;
    }
    /* Critical contributions are still missing: ask those devices again. */
    halo_err err = {0};
    for (int d = 1; d < n->n_devices; d++) {
        if (n->received[d] || !must_await(n, d) || n->dev_start[d + 1] == n->dev_start[d])
            continue;
        int rc = send_activation(n, d, 0, &err);
        if (rc != HALO_OK) {
            root_fail(n, rc, &err);
            return;
        }
        n->retried[d] = 1;
        n->stats.retries++;
        halo_transport_trace(n->t, 0, "ask again", now, now, 1, d);
        saw_loss(n, d);
    }
    n->retry_ns = n->t->ops->now_ns(n->t, 0);
    n->deadline_due_ns = n->retry_ns;
    /* slow_safe: each further request waits twice as long (TCP's RTO backoff): a device that
       is merely slow is not flooded with requests it answers from its cache */
    if ((n->sync.slow_safe || n->warmup) && n->sync.deadline_max_ns &&
        n->deadline_ns < n->sync.deadline_max_ns)
        n->deadline_ns *= 2;
    n->deadline_due_ns += n->deadline_ns;
    int rc = n->t->ops->schedule(n->t, 0, n->deadline_ns, on_deadline, n, &n->deadline_id, &err);
    if (rc != HALO_OK) {
        root_fail(n, rc, &err);
        return;
    }
    n->deadline_armed = 1;
}

/* Device d's expected contribution delay for the current block kind: srtt + 4 rttvar, the
   margin at least srtt / 16, or the fixed deadline before any sample. Without jitter rttvar
   decays to nothing, and a contribution microseconds later than the one before was dropped
   (a simulated 8-board cluster without loss, once samples ended at the arrival: 1 of 968;
   before, the receive costs in each sample made a margin by accident). */
static uint64_t expected_delay(const halo_node *n, int d) {
    int i = 2 * d + n->phase;
    if (!n->srtt_ns[i])
        return n->sync.deadline_ns;
    uint64_t margin = 4 * n->rttvar_ns[i], least = n->srtt_ns[i] / 16;
    return n->srtt_ns[i] + (margin > least ? margin : least);
}

/* The deadline of the sync about to start (see node.h). */
static uint64_t sync_deadline(const halo_node *n) {
    const halo_sync_config *c = &n->sync;
    if (!c->adaptive)
        return c->deadline_ns;
    uint64_t dl = 0;
    for (int d = 1; d < n->n_devices; d++) {
        if (n->dev_start[d + 1] == n->dev_start[d])
            continue;
        uint64_t est = expected_delay(n, d);
        if (est > dl)
            dl = est;
    }
    if (dl < c->deadline_min_ns)
        dl = c->deadline_min_ns;
    if (c->deadline_max_ns && dl > c->deadline_max_ns)
        dl = c->deadline_max_ns;
    return dl;
}

/* A first-transmission contribution of device d arrived after `delay` ns. */
static void observe_delay(halo_node *n, int d, int phase, uint64_t delay) {
    int i = 2 * d + phase;
    if (!n->srtt_ns[i]) {
        n->srtt_ns[i] = delay ? delay : 1;
        n->rttvar_ns[i] = delay / 2;
        return;
    }
    uint64_t s = n->srtt_ns[i];
    uint64_t diff = delay > s ? delay - s : s - delay;
    n->rttvar_ns[i] = (3 * n->rttvar_ns[i] + diff) / 4;
    n->srtt_ns[i] = (7 * s + delay) / 8;
    if (!n->srtt_ns[i]) /* 0 means "no sample yet" */
        n->srtt_ns[i] = 1;
}

/* Orders the current block's groups by device (counting sort). */
static void collect_groups(halo_node *n) {
    const halo_groups *g = &n->g;
    int count = n->phase == HALO_PHASE_ATTN ? g->n_attn : g->n_ffn;
    const uint16_t *dev = n->row;
    for (int d = 0; d <= n->n_devices; d++)
        n->dev_start[d] = 0;
    for (int i = 0; i < count; i++)
        n->dev_start[dev[i] + 1]++;
    for (int d = 0; d < n->n_devices; d++)
        n->dev_start[d + 1] += n->dev_start[d];
    /* dev_start[d] is now where device d's run begins; fill using a moving cursor. */
    for (int i = 0; i < count; i++)
        n->dev_groups[n->dev_start[dev[i]]++] = (uint16_t)i;
    for (int d = n->n_devices; d > 0; d--)
        n->dev_start[d] = n->dev_start[d - 1];
    n->dev_start[0] = 0;
}

/* Root: sends a block's activation to every device that holds groups of it (with copies
   where they pay); *waiting = 1 when there is any. */
static int send_activations(halo_node *n, int *waiting, halo_err *err) {
    for (int d = 1; d < n->n_devices; d++) {
        if (n->dev_start[d + 1] == n->dev_start[d])
            continue;
        int copies = copies_for(n, d);
        /* slow_safe: extra copies only to a device whose exchanges have failed lately (on a
           clean link they are pure cost: messages, wake-ups and answers from the cache) */
        if (n->trouble && n->trouble[d] < 256)
            copies = 1;
        /* slow_safe: with copies, the device answers twice too (the answer direction loses
           as often as the request direction) */
        int flags = copies > 1 && n->sync.slow_safe ? HALO_WIRE_ANSWER_TWICE : 0;
        if (n->single)
            n->single[d] = copies == 1 ? PROBE_ONE_COPY : 0;
        for (int k = 0; k < copies; k++) {
            int rc = send_activation(n, d, flags, err);
            if (rc != HALO_OK)
                return rc;
        }
        *waiting = 1;
    }
    return HALO_OK;
}

static int begin_sync(halo_node *n, halo_err *err) {
    if (n->numerics) {
        const float *norm = n->phase == HALO_PHASE_ATTN ? n->w->rms_att : n->w->rms_ffn;
        halo_rmsnorm_eps(n->xb, n->x, norm + (size_t)n->layer * (size_t)n->mc->dim, n->mc->dim,
                         halo_model_norm_eps(n->model));
    }
    /* This block's row of the placement, possibly re-planned for this sync. */
    const halo_groups *g = &n->g;
    int count = n->phase == HALO_PHASE_ATTN ? g->n_attn : g->n_ffn;
    const uint16_t *base = n->phase == HALO_PHASE_ATTN
                               ? n->placement.attn + (size_t)n->layer * (size_t)g->n_attn
                               : n->placement.ffn + (size_t)n->layer * (size_t)g->n_ffn;
    memcpy(n->row, base, (size_t)count * sizeof *n->row);
    memcpy(n->critical, n->critical_cfg, (size_t)n->n_devices);
    if (n->unreliable && n->trouble)
        for (int d = 1; d < n->n_devices; d++) {
            uint8_t bad = n->trouble[d] >= 256;
            if (n->unreliable[d] != bad) {
                n->unreliable[d] = bad;
                n->sync.reliable_fn(n->sync.plan_ctx, d, !bad);
            }
        }
    /* slow_safe: while every link is clean the hook can move nothing, and the critical set
       matters only once a deadline passes with contributions missing: score then
       (on_deadline), not before the activations go out (issue 15: no loss, no penalty) */
    n->scored = 1;
    if (n->sync.plan_fn && all_reliable(n)) {
        n->scored = 0;
    } else if (n->sync.plan_fn) {
        uint16_t *devices = n->row;
        if (n->phase == HALO_PHASE_ATTN) { /* attention groups stay where their caches are */
            memcpy(n->scratch_row, n->row, (size_t)count * sizeof *n->row);
            devices = n->scratch_row;
        }
        n->sync.plan_fn(n->sync.plan_ctx, n->step, n->layer, n->phase, n->xb, devices, count,
                        n->critical);
        for (int i = 0; i < count; i++)
            HALO_ASSERT(n->row[i] < n->n_devices);
    }
    collect_groups(n);
    memset(n->received, 0, (size_t)n->n_devices);
    memset(n->retried, 0, (size_t)n->n_devices);
    n->deadline_passed = 0;
    n->deadline_graced = 0;
    n->extended = 0;
    n->sync_seq++;
    int waiting = 0;
    halo_transport_batch(n->t, 0, 1);
    int rc = send_activations(n, &waiting, err);
    halo_transport_batch(n->t, 0, 0);
    if (rc != HALO_OK)
        return rc;
    n->sync_start_ns = n->t->ops->now_ns(n->t, 0);
    if (waiting && n->sync.policy == HALO_SYNC_POLICY_RELAXED) {
        n->deadline_ns = sync_deadline(n);
        n->stats.deadline_sum_ns += n->deadline_ns;
        n->stats.deadlines++;
        n->deadline_due_ns = n->first_due_ns = n->sync_start_ns + n->deadline_ns;
        rc = n->t->ops->schedule(n->t, 0, n->deadline_ns, on_deadline, n, &n->deadline_id, err);
        if (rc != HALO_OK)
            return rc;
        n->deadline_armed = 1;
        halo_transport_trace(n->t, 0, "deadline armed", n->sync_start_ns, n->sync_start_ns, 1,
                             (int64_t)n->deadline_ns);
    }
    charge(n, 3.0 * n->mc->dim, 8.0 * n->mc->dim, 0);
    if (compute_block(n, n->layer, n->phase, n->dev_groups, n->dev_start[1], n->xb, n->pos,
                      n->own) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "node 0: the loader could not read a group of layer %d",
                         n->layer);
    n->ready_ns = n->t->ops->now_ns(n->t, 0);
    return HALO_OK;
}

/* Marks device d's answer in `got` (n_devices flags) as in: 1 the first time, else 0 after
 * counting a duplicate. */
static int first_copy(halo_node *n, uint8_t *got, int d) {
    if (got[d]) {
        n->stats.duplicate++;
        return 0;
    }
    got[d] = 1;
    return 1;
}

static void root_on_partial(halo_node *n, const halo_msg *m) {
    uint64_t key = block_key(m->step, m->layer, m->phase);
    uint64_t cur = block_key(n->step, n->layer, n->phase);
    if (!n->in_flight || key != cur) {
        n->stats.stale++;
        if (n->late && key == n->late_key && n->late[m->src] == LATE_MISSING) {
            /* slow, not lost: its delay is a sample, or the deadline would never learn to
               wait for a device slower than it (issue 15) */
            uint64_t now = halo_transport_arrived_ns(n->t, 0);
            n->late[m->src] = 0;
            came_late(n, m->src, n->late_due_ns, now);
            observe_delay(n, m->src, m->phase, now > n->late_start_ns ? now - n->late_start_ns : 0);
        } else if (n->late && key == n->late_key && n->late[m->src] == LATE_RETRIED) {
            /* the second answer of a re-asked device: it was slow, its trouble is not counted */
            n->late[m->src] = 0;
        }
        return;
    }
    int d = m->src;
    int start = n->dev_start[d], cnt = n->dev_start[d + 1] - start;
    if (cnt == 0 || m->n_groups != cnt ||
        memcmp(n->rx_groups, n->dev_groups + start, (size_t)cnt * sizeof *n->rx_groups) != 0) {
        n->stats.malformed++;
        return;
    }
    if (!first_copy(n, n->received, d)) {
        if (n->single && n->retried[d] && (n->single[d] & PROBE_ONE_COPY))
            n->single[d] |= PROBE_SLOW;
        return;
    }
    if (n->extended && !n->retried[d]) /* waited for past the deadline, and it came */
        came_late(n, d, n->first_due_ns, halo_transport_arrived_ns(n->t, 0));
    /* Karn's rule: an answer to a repeated request is no sample, except (slow_safe) the
       first one of a device: without it a device slower than the first deadline would be
       re-asked before it answers at every sync and never get a sample. It is measured from
       the last request: measured from the first, one lost first exchange made the estimate
       the whole initial deadline (10 ms against 0.1 ms answers) and kept every deadline of
       that block kind long for dozens of syncs; a device that is merely slow gets a sample
       too short, and its late answers (below) raise it. */
    if (!n->retried[d] || (n->sync.slow_safe && !n->srtt_ns[2 * d + n->phase])) {
        uint64_t now = halo_transport_arrived_ns(n->t, 0);
        uint64_t from = n->retried[d] ? n->retry_ns : n->sync_start_ns;
        observe_delay(n, d, n->phase, now > from ? now - from : 0);
    }
    if (n->numerics)
        memcpy(n->partials + (size_t)d * (size_t)n->mc->dim, n->rx_values,
               (size_t)n->mc->dim * sizeof(float));
    if (sync_complete(n))
        complete_and_advance(n);
}

/* ==== Mesh: all-gather (distributed-llama's collective; strict sync) ==== */

#define MESH_EMPTY UINT64_MAX /* a slot key no block has */

/* Rows [*lo, *hi) of the classifier that device d computes. */
static void mesh_slice_rows(const halo_node *n, int d, int *lo, int *hi) {
    int v = n->mc->vocab_size, per = v / n->n_devices;
    *lo = d * per;
    *hi = d == n->n_devices - 1 ? v : *lo + per;
}

/* Groups of block (layer, phase) that device d holds; into gids when not NULL. */
static int mesh_groups(const halo_node *n, int d, int layer, int phase, uint16_t *gids) {
    const halo_groups *g = &n->g;
    int count = phase == HALO_PHASE_ATTN ? g->n_attn : g->n_ffn;
    const uint16_t *row = phase == HALO_PHASE_ATTN
                              ? n->mesh_pl.attn + (size_t)layer * (size_t)g->n_attn
                              : n->mesh_pl.ffn + (size_t)layer * (size_t)g->n_ffn;
    int k = 0;
    for (int i = 0; i < count; i++)
        if (row[i] == d) {
            if (gids)
                gids[k] = (uint16_t)i;
            k++;
        }
    return k;
}

/* Partial sums of slot s, device d (numerics only). */
static float *mesh_part(const halo_node *n, int s, int d) {
    return n->mesh_parts + ((size_t)s * (size_t)n->n_devices + (size_t)d) * (size_t)n->mc->dim;
}

/* Which devices' partial sums slot s holds. */
static uint8_t *mesh_got(const halo_node *n, int s) {
    return n->mesh_gots + (size_t)s * (size_t)n->n_devices;
}

/* The slot of block `key`, or -1. */
static int mesh_find(const halo_node *n, uint64_t key) {
    for (int s = 0; s < n->mesh_slots; s++)
        if (n->mesh_keys[s] == key)
            return s;
    return -1;
}

/* Takes a free slot for block `key` (-1 when none is free). */
static int mesh_claim(halo_node *n, uint64_t key) {
    int s = mesh_find(n, MESH_EMPTY);
    if (s >= 0) {
        n->mesh_keys[s] = key;
        memset(mesh_got(n, s), 0, (size_t)n->n_devices);
    }
    return s;
}

/* Makes block `key` the current one, with what arrived for it early; frees the last one. */
static void mesh_enter_block(halo_node *n, uint64_t key) {
    if (n->mesh_cur >= 0)
        n->mesh_keys[n->mesh_cur] = MESH_EMPTY;
    int s = mesh_find(n, key);
    n->mesh_cur = s >= 0 ? s : mesh_claim(n, key);
    HALO_ASSERT(n->mesh_cur >= 0); /* the current slot was just freed */
}

/* The reader now waits for the partial sums of the current block not yet in, peer by peer
   (halo_transport_expect: a world that models a blocking reader holds later data behind them). */
static void mesh_expect_peers(halo_node *n) {
    for (int d = 0; d < n->n_devices; d++)
        if (d != n->idx && !mesh_got(n, n->mesh_cur)[d] &&
            mesh_groups(n, d, n->mesh_layer, n->mesh_phase, NULL) > 0)
            halo_transport_expect(n->t, n->idx, d);
}

/* Normalises, computes this node's groups of the current block and sends the partial sum to
   every peer. */
static int mesh_begin_block(halo_node *n, halo_err *err) {
    int layer = n->mesh_layer, phase = n->mesh_phase;
    size_t dim = (size_t)n->mc->dim;
    if (n->numerics) {
        const float *norm = phase == HALO_PHASE_ATTN ? n->w->rms_att : n->w->rms_ffn;
        halo_rmsnorm_eps(n->xb, n->x, norm + (size_t)layer * dim, n->mc->dim,
                         halo_model_norm_eps(n->model));
    }
    charge(n, 3.0 * (double)dim, 8.0 * (double)dim, 0);
    uint64_t key = block_key(n->mesh_step, layer, phase);
    mesh_enter_block(n, key);
    int k = mesh_groups(n, n->idx, layer, phase, n->mesh_gids);
    if (k == 0) {
        if (n->idx == 0)
            n->ready_ns = n->t->ops->now_ns(n->t, 0);
        mesh_expect_peers(n);
        return HALO_OK;
    }
    float *own = n->numerics ? mesh_part(n, n->mesh_cur, n->idx) : n->own;
    if (compute_block(n, layer, phase, n->mesh_gids, k, n->xb, n->mesh_pos, own) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "node %d: the loader could not read a group of layer %d",
                         n->idx, layer);
    mesh_got(n, n->mesh_cur)[n->idx] = 1;
    halo_msg m = {.kind = HALO_MSG_PARTIAL,
                  .phase = (uint8_t)phase,
                  .encoding = (uint8_t)(n->encoding | (n->numerics ? 0 : HALO_WIRE_ELIDED)),
                  .src = (uint16_t)n->idx,
                  .step = n->mesh_step,
                  .pos = (uint32_t)n->mesh_pos,
                  .layer = (uint16_t)layer,
                  .n_groups = (uint16_t)k,
                  .n_values = (uint32_t)dim};
    int rc = send_to_peers(n, &m, n->mesh_gids, own, err);
    if (rc != HALO_OK)
        return rc;
    if (n->idx == 0)
        n->ready_ns = n->t->ops->now_ns(n->t, 0);
    mesh_expect_peers(n);
    return HALO_OK;
}

/* 1 when every device holding groups of the current block has its partial sum in. */
static int mesh_block_complete(const halo_node *n) {
    for (int d = 0; d < n->n_devices; d++)
        if (!mesh_got(n, n->mesh_cur)[d] &&
            mesh_groups(n, d, n->mesh_layer, n->mesh_phase, NULL) > 0)
            return 0;
    return 1;
}

/* The root's account of a finished block (as the star root keeps it). */
static void mesh_root_metrics(halo_node *n) {
    uint64_t now = n->t->ops->now_ns(n->t, 0);
    uint64_t wait = now > n->ready_ns ? now - n->ready_ns : 0;
    int b = n->mesh_layer * 2 + n->mesh_phase;
    if (wait)
        halo_transport_trace(n->t, 0, "wait", n->ready_ns, now, 0, b);
    n->metrics.wait_ns += wait;
    n->stats.wait_ns += wait;
    n->wait_at[b] += wait;
    n->block_at[b] += now > n->block_t0_ns ? now - n->block_t0_ns : 0;
    n->block_t0_ns = now;
    for (int d = 1; d < n->n_devices; d++)
        if (mesh_groups(n, d, n->mesh_layer, n->mesh_phase, NULL) > 0) {
            n->metrics.expected++;
            n->stats.expected++;
        }
}

static void mesh_root_slice_in(halo_node *n) {
    if (++n->mesh_slices == n->n_devices) {
        n->metrics.end_ns = n->t->ops->now_ns(n->t, 0);
        n->in_flight = 0;
        n->done = 1;
    }
}

/* The last block is summed: this node's slice of the classifier (the root gathers them). */
static int mesh_classifier(halo_node *n, halo_err *err) {
    const halo_model_config *c = n->mc;
    int lo, hi;
    mesh_slice_rows(n, n->idx, &lo, &hi);
    float *out = n->idx == 0 ? n->logits + lo : n->mesh_slice;
    if (n->numerics) {
        halo_rmsnorm_eps(n->xb, n->x, n->w->rms_final, c->dim, halo_model_norm_eps(n->model));
        const halo_mat *cls = halo_model_classifier(n->model);
        halo_act_set(&n->act, n->xb, c->dim);
        node_product(n, pack_slot(n, 1, c->n_layers, 0), out, cls, (size_t)lo, (size_t)(hi - lo), 0,
                     (size_t)c->dim, n->xb, halo_act_get(&n->act, cls), 0);
    }
    charge(n, 2.0 * (hi - lo) * c->dim, n->wbytes * (hi - lo) * c->dim, 1);
    n->mesh_active = 0;
    if (n->idx == 0) {
        mesh_root_slice_in(n);
        return HALO_OK;
    }
    halo_msg m = {.kind = HALO_MSG_LOGITS,
                  .encoding = (uint8_t)(HALO_ENCODING_F32 | (n->numerics ? 0 : HALO_WIRE_ELIDED)),
                  .src = (uint16_t)n->idx,
                  .dst = 0,
                  .step = n->mesh_step,
                  .pos = (uint32_t)n->mesh_pos,
                  .layer = (uint16_t)n->idx,
                  .n_values = (uint32_t)(hi - lo)};
    return send_msg(n, &m, NULL, n->mesh_slice, err);
}

/* Sums every block whose partial sums are all in and starts the next, until one waits. */
static int mesh_advance(halo_node *n, halo_err *err) {
    size_t dim = (size_t)n->mc->dim;
    while (n->mesh_active && mesh_block_complete(n)) {
        for (size_t i = 0; n->numerics && i < dim; i++) { /* device order: one sum everywhere */
            float s = 0;
            for (int d = 0; d < n->n_devices; d++)
                if (mesh_got(n, n->mesh_cur)[d])
                    s += mesh_part(n, n->mesh_cur, d)[i];
            n->x[i] += s;
        }
        charge(n, (double)n->n_devices * (double)dim, 4.0 * (double)n->n_devices * (double)dim, 0);
        if (n->idx == 0)
            mesh_root_metrics(n);
        if (n->mesh_phase == HALO_PHASE_ATTN) {
            n->mesh_phase = HALO_PHASE_FFN;
        } else {
            n->mesh_phase = HALO_PHASE_ATTN;
            n->mesh_layer++;
        }
        int rc =
            n->mesh_layer == n->mc->n_layers ? mesh_classifier(n, err) : mesh_begin_block(n, err);
        if (rc != HALO_OK)
            return rc;
    }
    return HALO_OK;
}

/* Root: sends the residual stream at the token's start to every worker. */
static int mesh_send_state(halo_node *n, halo_err *err) {
    halo_msg m = {.kind = HALO_MSG_STATE,
                  .encoding = (uint8_t)(HALO_ENCODING_F32 | (n->numerics ? 0 : HALO_WIRE_ELIDED)),
                  .src = 0,
                  .step = n->step,
                  .pos = (uint32_t)n->pos,
                  .n_values = (uint32_t)n->mc->dim};
    return send_to_peers(n, &m, NULL, n->x, err);
}

/* Starts a token on this node (the root at halo_node_start_token, a worker on STATE). */
static int mesh_start(halo_node *n, uint32_t step, int pos, halo_err *err) {
    n->mesh_step = step;
    n->mesh_pos = pos;
    n->mesh_layer = 0;
    n->mesh_phase = HALO_PHASE_ATTN;
    n->mesh_active = 1;
    enter_sequence(n, step, (uint32_t)pos);
    int rc = mesh_begin_block(n, err);
    return rc == HALO_OK ? mesh_advance(n, err) : rc;
}

static void mesh_fail(halo_node *n, int rc, const halo_err *err) {
    n->mesh_active = 0;
    if (n->idx == 0)
        root_fail(n, rc, err);
    else
        n->stats.load_failed++;
}

static void mesh_on_state(halo_node *n, const halo_msg *m) {
    if (n->have_last && m->step <= n->mesh_step) {
        n->stats.stale++;
        return;
    }
    n->have_last = 1;
    if (n->numerics)
        memcpy(n->x, n->rx_values, (size_t)n->mc->dim * sizeof(float));
    halo_err err = {0};
    int rc = mesh_start(n, m->step, (int)m->pos, &err);
    if (rc != HALO_OK)
        mesh_fail(n, rc, &err);
}

static void mesh_on_partial(halo_node *n, const halo_msg *m) {
    uint64_t key = block_key(m->step, m->layer, m->phase);
    int d = m->src, cur = n->mesh_cur;
    uint64_t cur_key = cur >= 0 ? n->mesh_keys[cur] : 0;
    if (cur >= 0 && (key < cur_key || (key == cur_key && !n->mesh_active))) {
        n->stats.stale++; /* a block already summed */
        return;
    }
    int k = mesh_groups(n, d, m->layer, m->phase, NULL);
    if (k == 0 || m->n_groups != k) {
        n->stats.malformed++;
        return;
    }
    int s = mesh_find(n, key);
    if (s < 0)
        s = mesh_claim(n, key);
    if (s < 0) { /* beyond what any peer can be ahead: not a block of this run */
        n->stats.malformed++;
        return;
    }
    if (!first_copy(n, mesh_got(n, s), d))
        return;
    if (n->numerics)
        memcpy(mesh_part(n, s, d), n->rx_values, (size_t)n->mc->dim * sizeof(float));
    if (s == cur) {
        halo_err err = {0};
        int rc = mesh_advance(n, &err);
        if (rc != HALO_OK)
            mesh_fail(n, rc, &err);
    }
}

static void mesh_on_logits(halo_node *n, const halo_msg *m) {
    int lo, hi, d = m->src;
    mesh_slice_rows(n, d, &lo, &hi);
    if (!n->in_flight || m->step != n->step || m->layer != d) {
        n->stats.stale++;
        return;
    }
    if (!first_copy(n, n->received, d))
        return;
    if (m->n_values != (uint32_t)(hi - lo)) {
        n->stats.malformed++;
        return;
    }
    if (n->numerics)
        memcpy(n->logits + lo, n->rx_values, (size_t)(hi - lo) * sizeof(float));
    mesh_root_slice_in(n);
}

/* ==== Star: the split classifier (issue 15) ==== */

/* Block key of a token's classifier (after every layer's blocks). */
static uint64_t classifier_key(const halo_node *n, uint32_t step) {
    return block_key(step, n->mc->n_layers, HALO_PHASE_ATTN);
}

/* Sends the final normalised residual to device d: "compute your classifier rows". */
static int send_classify(halo_node *n, int d, halo_err *err) {
    halo_msg m = {.kind = HALO_MSG_STATE,
                  .encoding = (uint8_t)(HALO_ENCODING_F32 | (n->numerics ? 0 : HALO_WIRE_ELIDED)),
                  .src = 0,
                  .dst = (uint16_t)d,
                  .step = n->step,
                  .pos = (uint32_t)n->pos,
                  .n_values = (uint32_t)n->mc->dim};
    return send_msg(n, &m, NULL, n->xb, err);
}

/* Root: the slice of device d is in (d = 0: the root's own). */
static void classifier_slice_in(halo_node *n) {
    if (++n->mesh_slices < n->n_devices)
        return;
    if (n->deadline_armed) {
        (void)n->t->ops->cancel(n->t, n->deadline_id);
        n->deadline_armed = 0;
    }
    n->classifying = 0;
    n->metrics.end_ns = n->t->ops->now_ns(n->t, 0);
    n->in_flight = 0;
    n->done = 1;
}

/* Root: computes the classifier rows of device d's slice into the logits, and charges them. */
static void classifier_rows(halo_node *n, int d) {
    const halo_model_config *c = n->mc;
    int lo, hi;
    mesh_slice_rows(n, d, &lo, &hi);
    if (n->numerics) {
        const halo_mat *cls = halo_model_classifier(n->model);
        halo_act_set(&n->act, n->xb, c->dim);
        node_product(n, pack_slot(n, d == n->idx, c->n_layers, 0), n->logits + lo, cls, (size_t)lo,
                     (size_t)(hi - lo), 0, (size_t)c->dim, n->xb, halo_act_get(&n->act, cls), 0);
    }
    charge(n, 2.0 * (hi - lo) * c->dim, n->wbytes * (hi - lo) * c->dim, 1);
}

/* Root, after the last block: asks every worker for its slice, computes its own. */
static int classifier_start(halo_node *n, halo_err *err) {
    const halo_model_config *c = n->mc;
    if (n->numerics)
        halo_rmsnorm_eps(n->xb, n->x, n->w->rms_final, c->dim, halo_model_norm_eps(n->model));
    charge(n, 3.0 * c->dim, 8.0 * c->dim, 0);
    n->classifying = 1;
    n->mesh_slices = 0;
    n->cls_rounds = 0;
    memset(n->received, 0, (size_t)n->n_devices);
    halo_transport_batch(n->t, 0, 1);
    int rc = HALO_OK;
    for (int d = 1; d < n->n_devices && rc == HALO_OK; d++)
        rc = send_classify(n, d, err);
    halo_transport_batch(n->t, 0, 0);
    if (rc != HALO_OK)
        return rc;
    if (n->sync.policy == HALO_SYNC_POLICY_RELAXED) {
        /* a slice is a few blocks' work: four times the last block's deadline, then doubling */
        uint64_t dl = 4 * (n->deadline_ns ? n->deadline_ns : n->sync.deadline_ns);
        if (n->sync.deadline_max_ns && dl > n->sync.deadline_max_ns)
            dl = n->sync.deadline_max_ns;
        n->deadline_ns = dl;
        rc = n->t->ops->schedule(n->t, 0, dl, on_deadline, n, &n->deadline_id, err);
        if (rc != HALO_OK)
            return rc;
        n->deadline_armed = 1;
    }
    classifier_rows(n, 0);
    n->ready_ns = n->t->ops->now_ns(n->t, 0);
    classifier_slice_in(n);
    return HALO_OK;
}

/* Root: computes device d's classifier slice itself (the root holds the whole classifier). */
static void classifier_slice_local(halo_node *n, int d) {
    classifier_rows(n, d);
    n->received[d] = 1;
    n->stats.cls_local++;
}

/*
 * Root, relaxed: the classifier's deadline passed with slices missing. The classifier is
 * critical: a token is never picked from logits with a slice missing. At the first deadline
 * the missing slices are asked again (a worker answers from its cache); at the second the
 * root computes what is still missing itself, a slice's weights (vocab / n x dim) being
 * cheaper than more round trips of a message of vocab / n floats, which at 10% frame loss
 * and 23 datagrams without parity arrives whole one time in ten (issue 15).
 */
static void classifier_deadline(halo_node *n) {
    halo_err err = {0};
    if (++n->cls_rounds >= 2 && !n->warmup) {
        int missing = 0;
        for (int d = 1; d < n->n_devices; d++)
            missing += !n->received[d];
        for (int d = 1; d < n->n_devices; d++)
            if (!n->received[d]) {
                classifier_slice_local(n, d);
                classifier_slice_in(n); /* the last one finishes the token */
            }
        if (missing)
            return;
    }
    for (int d = 1; d < n->n_devices; d++) {
        if (n->received[d])
            continue;
        int rc = send_classify(n, d, &err);
        if (rc != HALO_OK) {
            root_fail(n, rc, &err);
            return;
        }
        n->stats.retries++;
    }
    if (n->sync.deadline_max_ns && n->deadline_ns < n->sync.deadline_max_ns)
        n->deadline_ns *= 2; /* as the syncs' repeated requests back off */
    int rc = n->t->ops->schedule(n->t, 0, n->deadline_ns, on_deadline, n, &n->deadline_id, &err);
    if (rc != HALO_OK) {
        root_fail(n, rc, &err);
        return;
    }
    n->deadline_armed = 1;
}

/* Root: a worker's logits slice. */
static void classifier_on_logits(halo_node *n, const halo_msg *m) {
    int lo, hi, d = m->src;
    mesh_slice_rows(n, d, &lo, &hi);
    if (!n->in_flight || !n->classifying || m->step != n->step || m->layer != d) {
        n->stats.stale++;
        return;
    }
    if (m->n_values != (uint32_t)(hi - lo)) {
        n->stats.malformed++;
        return;
    }
    if (!first_copy(n, n->received, d))
        return;
    if (n->numerics)
        memcpy(n->logits + lo, n->rx_values, (size_t)(hi - lo) * sizeof(float));
    classifier_slice_in(n);
}

/* Worker: the root asks for this node's classifier rows (again, if the answer was lost). */
static void worker_on_classify(halo_node *n, const halo_msg *m) {
    uint64_t key = classifier_key(n, m->step);
    if (n->have_last && key <= n->last_key) {
        if (key != n->last_key) {
            n->stats.stale++;
            return;
        }
        n->stats.duplicate++;
        if (n->tx_len && n->tx_key == block_key(m->step, n->idx, 0) &&
            n->t->ops->send(n->t, n->idx, 0, n->tx, n->tx_len, NULL) == HALO_OK) {
            n->stats.resent++;
            n->stats.msgs_sent++;
            n->stats.bytes_sent += n->tx_len;
        }
        return;
    }
    n->have_last = 1;
    n->last_key = key;
    const halo_model_config *c = n->mc;
    int lo, hi;
    mesh_slice_rows(n, n->idx, &lo, &hi);
    if (n->numerics) {
        const halo_mat *cls = halo_model_classifier(n->model);
        halo_act_set(&n->act, n->rx_values, c->dim);
        node_product(n, pack_slot(n, 1, c->n_layers, 0), n->mesh_slice, cls, (size_t)lo,
                     (size_t)(hi - lo), 0, (size_t)c->dim, n->rx_values, halo_act_get(&n->act, cls),
                     0);
    }
    charge(n, 2.0 * (hi - lo) * c->dim, n->wbytes * (hi - lo) * c->dim, 1);
    n->stats.computed++;
    halo_msg r = {.kind = HALO_MSG_LOGITS,
                  .encoding = (uint8_t)(HALO_ENCODING_F32 | (n->numerics ? 0 : HALO_WIRE_ELIDED)),
                  .src = (uint16_t)n->idx,
                  .dst = 0,
                  .step = m->step,
                  .pos = m->pos,
                  .layer = (uint16_t)n->idx,
                  .n_values = (uint32_t)(hi - lo)};
    if (send_msg(n, &r, NULL, n->mesh_slice, NULL) != HALO_OK)
        n->stats.malformed++;
}

/* ==== Receiving ==== */

static void on_message(void *ctx, int src, const void *msg, size_t len) {
    halo_node *n = ctx;
    n->stats.msgs_recv++;
    n->stats.bytes_recv += len;
    halo_msg m;
    int mesh = n->collective == HALO_COLLECTIVE_MESH;
    size_t cap = mesh || n->split_cls ? n->rx_cap : (size_t)n->mc->dim;
    if (halo_wire_decode(msg, len, &m, n->rx_groups, (size_t)n->max_groups, n->rx_values, cap,
                         NULL) != HALO_OK ||
        m.src != src || m.dst != n->idx || m.src >= n->n_devices ||
        m.pos >= (uint32_t)n->mc->seq_len || (n->numerics && (m.encoding & HALO_WIRE_ELIDED))) {
        n->stats.malformed++;
        return;
    }
    if (mesh && m.kind == HALO_MSG_LOGITS && n->idx == 0 && m.src != 0) {
        mesh_on_logits(n, &m);
        return;
    }
    if (n->split_cls && m.kind == HALO_MSG_LOGITS && n->idx == 0 && m.src != 0) {
        classifier_on_logits(n, &m);
        return;
    }
    if (m.n_values != (uint32_t)n->mc->dim || m.layer >= n->mc->n_layers) {
        n->stats.malformed++;
        return;
    }
    if (mesh && m.kind == HALO_MSG_STATE && n->idx != 0 && m.src == 0 && m.n_groups == 0) {
        mesh_on_state(n, &m);
        return;
    }
    if (n->split_cls && m.kind == HALO_MSG_STATE && n->idx != 0 && m.src == 0 && m.n_groups == 0) {
        worker_on_classify(n, &m);
        return;
    }
    if (!groups_ok(n, m.phase, n->rx_groups, m.n_groups)) {
        n->stats.malformed++;
        return;
    }
    if (mesh && m.kind == HALO_MSG_PARTIAL)
        mesh_on_partial(n, &m);
    else if (!mesh && n->idx != 0 && m.kind == HALO_MSG_ACTIVATION && m.src == 0)
        worker_on_activation(n, &m);
    else if (!mesh && n->idx == 0 && m.kind == HALO_MSG_PARTIAL && m.src != 0)
        root_on_partial(n, &m);
    else
        n->stats.malformed++;
}

/* ==== Setup and root API ==== */

/* What a node's packed windows may take: twice an even share of the model's float32
   matrices (a node computing more than that, or windows that keep moving, read in place). */
static size_t pack_budget(const halo_model *m, int n_devices) {
    const halo_model_config *c = halo_model_get_config(m);
    double f32 = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const halo_layer *L = halo_model_layer(m, l);
        const halo_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w3, &L->w2};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            if (mats[i]->type == HALO_TYPE_F32)
                f32 += (double)mats[i]->rows * (double)mats[i]->row_bytes;
    }
    const halo_mat *cls = halo_model_classifier(m);
    if (cls->type == HALO_TYPE_F32)
        f32 += (double)cls->rows * (double)cls->row_bytes;
    return (size_t)(2.0 * f32 / (n_devices > 0 ? n_devices : 1));
}

static void *alloc_bytes(halo_node *n, size_t size, int *failed) {
    void *p = calloc(1, size ? size : 1);
    if (!p)
        *failed = 1;
    n->bytes += size;
    return p;
}

void halo_node_set_memplan(halo_node *node, halo_memplan *memplan) {
    node->memplan = memplan;
}

int halo_node_new(halo_node **out, const halo_node_config *cfg, halo_err *err) {
    *out = NULL;
    const halo_model_config *c = halo_model_get_config(cfg->model);
    if (cfg->n_devices < 1 || cfg->n_devices > HALO_MAX_DEVICES || cfg->node_idx < 0 ||
        cfg->node_idx >= cfg->n_devices)
        return HALO_FAIL(err, HALO_ERR_ARG, "node %d of %d devices: out of range", cfg->node_idx,
                         cfg->n_devices);
    if (cfg->encoding < 0 || cfg->encoding >= HALO_ENCODING_COUNT_)
        return HALO_FAIL(err, HALO_ERR_ARG, "node %d: unknown payload encoding %d", cfg->node_idx,
                         cfg->encoding);
    if (cfg->sync.policy != HALO_SYNC_POLICY_STRICT && cfg->sync.policy != HALO_SYNC_POLICY_RELAXED)
        return HALO_FAIL(err, HALO_ERR_ARG, "node %d: unknown sync policy %d", cfg->node_idx,
                         cfg->sync.policy);
    if (cfg->groups->n_layers != c->n_layers || cfg->groups->n_attn != c->n_kv_heads ||
        cfg->groups->hidden_dim != c->hidden_dim || c->n_layers > 32767)
        return HALO_FAIL(err, HALO_ERR_ARG, "node %d: group geometry does not fit the model",
                         cfg->node_idx);
    if (cfg->groups->ffn_size % halo_model_ffn_align(cfg->model) != 0)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "node %d: FFN group size %d is not a multiple of the model's "
                         "quantisation block %d",
                         cfg->node_idx, cfg->groups->ffn_size, halo_model_ffn_align(cfg->model));
    if (cfg->collective == HALO_COLLECTIVE_MESH &&
        (cfg->sync.policy != HALO_SYNC_POLICY_STRICT || cfg->sync.plan_fn || !cfg->mesh_placement))
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "node %d: the mesh collective needs strict sync, a fixed placement and "
                         "no planning hook",
                         cfg->node_idx);
    if (cfg->collective != HALO_COLLECTIVE_STAR && cfg->collective != HALO_COLLECTIVE_MESH)
        return HALO_FAIL(err, HALO_ERR_ARG, "node %d: unknown collective %d", cfg->node_idx,
                         cfg->collective);
    halo_node *n = calloc(1, sizeof *n);
    if (!n)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "node %d: out of memory", cfg->node_idx);
    n->idx = cfg->node_idx;
    n->collective = cfg->collective;
    n->split_cls =
        cfg->split_classifier && cfg->collective == HALO_COLLECTIVE_STAR && cfg->n_devices > 1;
    n->n_devices = cfg->n_devices;
    n->encoding = cfg->encoding;
    n->model = cfg->model;
    n->numerics = halo_model_has_weights(cfg->model);
    n->wbytes = halo_weight_bytes(halo_model_weight_type(cfg->model));
    n->mc = c;
    n->w = halo_model_get_weights(cfg->model);
    n->g = *cfg->groups;
    n->t = cfg->transport;
    n->pool = cfg->pool;
    n->memplan = cfg->memplan;
    n->loader = cfg->loader;
    n->sync = cfg->sync;
    n->sync.critical = NULL;
    n->status = HALO_OK;
    size_t dim = (size_t)c->dim, hidden = (size_t)c->hidden_dim, f = sizeof(float);
    size_t kv = (size_t)c->n_layers * (size_t)c->seq_len * (size_t)halo_model_kv_dim(c);
    size_t nd = (size_t)cfg->n_devices;
    n->max_groups = n->g.n_attn > n->g.n_ffn ? n->g.n_attn : n->g.n_ffn;
    int failed = 0;
    n->x = alloc_bytes(n, dim * f, &failed);
    n->xb = alloc_bytes(n, dim * f, &failed);
    n->own = alloc_bytes(n, dim * f, &failed);
    n->q = alloc_bytes(n, dim * f, &failed);
    n->head_out = alloc_bytes(n, dim * f, &failed);
    n->att = alloc_bytes(n, (size_t)c->seq_len * f, &failed);
    n->hb = alloc_bytes(n, hidden * f, &failed);
    n->hb2 = alloc_bytes(n, hidden * f, &failed);
    n->freq = alloc_bytes(n, (size_t)n->g.head_size / 2 * f, &failed);
    if (n->numerics) { /* a shape-only node keeps no cache: nothing would read it */
        n->key_cache = alloc_bytes(n, kv * f, &failed);
        n->value_cache = alloc_bytes(n, kv * f, &failed);
        n->valid =
            alloc_bytes(n, (size_t)c->n_layers * (size_t)n->g.n_attn * (size_t)c->seq_len, &failed);
    }
    n->rx_groups = alloc_bytes(n, (size_t)n->max_groups * sizeof(uint16_t), &failed);
    n->rx_cap = dim;
    if (n->collective == HALO_COLLECTIVE_MESH) {
        /* the last device's classifier slice is the largest */
        size_t slice = (size_t)c->vocab_size - (size_t)(c->vocab_size / n->n_devices) * (nd - 1);
        n->rx_cap = slice > dim ? slice : dim;
        n->mesh_gids = alloc_bytes(n, (size_t)n->max_groups * sizeof(uint16_t), &failed);
        n->mesh_slots = 2 * c->n_layers + 2;
        n->mesh_cur = -1;
        if (n->numerics)
            n->mesh_parts = alloc_bytes(n, (size_t)n->mesh_slots * nd * dim * f, &failed);
        n->mesh_gots = alloc_bytes(n, (size_t)n->mesh_slots * nd, &failed);
        n->mesh_keys = alloc_bytes(n, (size_t)n->mesh_slots * sizeof(uint64_t), &failed);
        for (int k = 0; n->mesh_keys && k < n->mesh_slots; k++)
            n->mesh_keys[k] = MESH_EMPTY;
        if (n->idx != 0)
            n->mesh_slice = alloc_bytes(n, slice * f, &failed);
    } else if (n->split_cls) {
        size_t slice = (size_t)c->vocab_size - (size_t)(c->vocab_size / n->n_devices) * (nd - 1);
        n->rx_cap = slice > dim ? slice : dim;
        if (n->idx != 0)
            n->mesh_slice = alloc_bytes(n, slice * f, &failed);
    }
    n->rx_values = alloc_bytes(n, n->rx_cap * f, &failed);
    n->tx_cap = halo_wire_size(HALO_ENCODING_F32, (unsigned)n->max_groups, (uint32_t)n->rx_cap);
    n->tx = alloc_bytes(n, n->tx_cap, &failed);
    if (cfg->pack_windows && n->numerics && !n->loader && !failed &&
        halo_winpack_new(&n->winpack, c->n_layers * PACK_PER_LAYER + 1,
                         pack_budget(n->model, n->n_devices), NULL) != HALO_OK)
        failed = 1;
    if (n->loader) {
        size_t blocks = (size_t)c->n_layers * 2;
        n->last_gids = alloc_bytes(n, blocks * (size_t)n->max_groups * sizeof(uint16_t), &failed);
        n->last_count = alloc_bytes(n, blocks * sizeof(int), &failed);
    }
    if (n->idx == 0) {
        n->logits = alloc_bytes(n, (size_t)c->vocab_size * f, &failed);
        n->critical_cfg = alloc_bytes(n, nd, &failed);
        n->row = alloc_bytes(n, (size_t)n->max_groups * sizeof(uint16_t), &failed);
        n->scratch_row = alloc_bytes(n, (size_t)n->max_groups * sizeof(uint16_t), &failed);
        n->srtt_ns = alloc_bytes(n, 2 * nd * sizeof(uint64_t), &failed);
        n->rttvar_ns = alloc_bytes(n, 2 * nd * sizeof(uint64_t), &failed);
        n->retried = alloc_bytes(n, nd, &failed);
        n->lossy_until = alloc_bytes(n, nd * sizeof(uint64_t), &failed);
        if (cfg->sync.slow_safe) {
            n->late = alloc_bytes(n, nd, &failed);
            n->single = alloc_bytes(n, nd, &failed);
            n->trouble = alloc_bytes(n, nd * sizeof(uint32_t), &failed);
            n->lateness = alloc_bytes(n, 2 * nd * sizeof(uint32_t), &failed);
            n->rx_lost = alloc_bytes(n, nd * sizeof(uint64_t), &failed);
            n->gap_sync = alloc_bytes(n, nd * sizeof(uint64_t), &failed);
            if (!failed)
                reset_lateness(n);
            if (cfg->sync.reliable_fn) {
                n->unreliable = alloc_bytes(n, nd, &failed);
                if (n->unreliable)
                    memset(n->unreliable, 2, nd); /* every device is told at the first sync */
            }
        }
        n->critical = alloc_bytes(n, nd, &failed);
        n->received = alloc_bytes(n, nd, &failed);
        n->dev_start = alloc_bytes(n, (nd + 1) * sizeof(int), &failed);
        n->dev_groups = alloc_bytes(n, (size_t)n->max_groups * sizeof(uint16_t), &failed);
        n->partials = alloc_bytes(n, nd * dim * f, &failed);
        n->missing_at = alloc_bytes(n, (size_t)c->n_layers * 2 * sizeof(uint64_t), &failed);
        n->missing_dev = alloc_bytes(n, nd * sizeof(uint64_t), &failed);
        n->wait_at = alloc_bytes(n, (size_t)c->n_layers * 2 * sizeof(uint64_t), &failed);
        n->block_at = alloc_bytes(n, (size_t)c->n_layers * 2 * sizeof(uint64_t), &failed);
        if (!failed && cfg->sync.critical)
            memcpy(n->critical_cfg, cfg->sync.critical, nd);
    }
    int quantised = n->numerics && halo_model_format(n->model) == HALO_MODEL_GGUF;
    int widest = c->dim > c->hidden_dim ? c->dim : c->hidden_dim;
    if (!failed && (halo_act_init(&n->act, widest, quantised, NULL) != HALO_OK ||
                    halo_act_init(&n->win, widest, quantised, NULL) != HALO_OK))
        failed = 1;
    n->bytes += halo_act_buffer_bytes(&n->act) + halo_act_buffer_bytes(&n->win);
    int rc = failed ? HALO_FAIL(err, HALO_ERR_NOMEM, "node %d: out of memory (%zu bytes)", n->idx,
                                n->bytes)
                    : HALO_OK;
    if (rc == HALO_OK && n->idx == 0)
        rc = halo_placement_init(&n->placement, &n->g, n->n_devices, NULL, err);
    if (rc == HALO_OK && n->collective == HALO_COLLECTIVE_MESH) {
        const halo_placement *p = cfg->mesh_placement;
        rc = halo_placement_init(&n->mesh_pl, &n->g, n->n_devices, NULL, err);
        if (rc == HALO_OK && (p->n_devices != n->n_devices || p->groups.n_attn != n->g.n_attn ||
                              p->groups.n_ffn != n->g.n_ffn || p->groups.n_layers != n->g.n_layers))
            rc = HALO_FAIL(err, HALO_ERR_ARG, "node %d: the mesh placement does not fit", n->idx);
        if (rc == HALO_OK)
            rc = halo_placement_check(p, err);
        if (rc == HALO_OK)
            halo_placement_copy(&n->mesh_pl, p);
    }
    if (rc == HALO_OK)
        rc = n->t->ops->attach(n->t, n->idx, on_message, n, err);
    if (rc != HALO_OK) {
        halo_node_free(n);
        return rc;
    }
    halo_model_rope_freq(n->model, n->freq);
    *out = n;
    return HALO_OK;
}

void halo_node_free(halo_node *n) {
    if (!n)
        return;
    void *bufs[] = {
        n->x,           n->xb,          n->own,        n->q,          n->head_out,     n->att,
        n->hb,          n->hb2,         n->freq,       n->key_cache,  n->value_cache,  n->valid,
        n->tx,          n->rx_groups,   n->rx_values,  n->logits,     n->critical_cfg, n->critical,
        n->received,    n->dev_start,   n->dev_groups, n->partials,   n->missing_at,   n->row,
        n->scratch_row, n->srtt_ns,     n->rttvar_ns,  n->retried,    n->wait_at,      n->block_at,
        n->last_gids,   n->last_count,  n->mesh_gids,  n->mesh_parts, n->mesh_gots,    n->mesh_keys,
        n->mesh_slice,  n->lossy_until, n->late,       n->trouble,    n->unreliable,   n->single,
        n->missing_dev, n->lateness,    n->rx_lost,    n->gap_sync};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    halo_winpack_free(n->winpack);
    halo_placement_free(&n->placement);
    halo_act_free(&n->act);
    halo_act_free(&n->win);
    halo_placement_free(&n->mesh_pl);
    free(n);
}

int halo_node_set_placement(halo_node *n, const halo_placement *p, halo_err *err) {
    if (n->idx != 0)
        return HALO_FAIL(err, HALO_ERR_ARG, "node %d: only the root holds a placement", n->idx);
    if (p->n_devices != n->n_devices || p->groups.n_layers != n->g.n_layers ||
        p->groups.n_attn != n->g.n_attn || p->groups.n_ffn != n->g.n_ffn)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "placement for %d devices and %d/%d groups, the cluster has %d devices "
                         "and %d/%d groups",
                         p->n_devices, p->groups.n_attn, p->groups.n_ffn, n->n_devices, n->g.n_attn,
                         n->g.n_ffn);
    int rc = halo_placement_check(p, err);
    if (rc == HALO_OK)
        halo_placement_copy(&n->placement, p);
    return rc;
}

int halo_node_start_token(halo_node *n, int token, int pos, halo_err *err) {
    const halo_model_config *c = n->mc;
    if (n->idx != 0)
        return HALO_FAIL(err, HALO_ERR_ARG, "node %d is not the root", n->idx);
    if (n->in_flight)
        return HALO_FAIL(err, HALO_ERR_ARG, "node 0: a token is still in flight");
    if (token < 0 || token >= c->vocab_size || pos < 0 || pos >= c->seq_len)
        return HALO_FAIL(err, HALO_ERR_ARG, "node 0: token %d at position %d out of range", token,
                         pos);
    n->token = token;
    n->pos = pos;
    n->step = n->next_step++;
    n->layer = 0;
    n->phase = HALO_PHASE_ATTN;
    n->in_flight = 1;
    n->classifying = 0;
    n->done = 0;
    n->status = HALO_OK;
    n->metrics = (halo_token_metrics){
        .step = n->step, .pos = (uint32_t)pos, .start_ns = n->t->ops->now_ns(n->t, 0)};
    n->block_t0_ns = n->metrics.start_ns;
    if (n->numerics)
        halo_mat_row(halo_model_embedding(n->model), token, n->x);
    int rc;
    if (n->collective == HALO_COLLECTIVE_MESH) {
        n->mesh_slices = 0;
        memset(n->received, 0, (size_t)n->n_devices);
        rc = mesh_send_state(n, err);
        if (rc == HALO_OK)
            rc = mesh_start(n, n->step, pos, err);
    } else {
        enter_sequence(n, n->step, (uint32_t)pos);
        rc = advance(n, err);
    }
    if (rc != HALO_OK) {
        n->in_flight = 0;
        n->done = 1;
        n->status = rc;
        if (err)
            n->err = *err;
    }
    return rc;
}

void halo_node_abort_token(halo_node *n, int code) {
    if (!n->in_flight)
        return;
    if (n->deadline_armed) {
        (void)n->t->ops->cancel(n->t, n->deadline_id);
        n->deadline_armed = 0;
    }
    HALO_FAIL(&n->err, code, "node 0: token at position %d abandoned", n->pos);
    n->classifying = 0;
    n->status = code;
    n->in_flight = 0;
    n->done = 1;
}

int halo_node_token_done(const halo_node *n) {
    return n->done;
}

int halo_node_token_status(const halo_node *n, halo_err *err) {
    if (n->status != HALO_OK && err)
        *err = n->err;
    return n->status;
}

const float *halo_node_logits(const halo_node *n) {
    return n->logits;
}

const halo_token_metrics *halo_node_last_metrics(const halo_node *n) {
    return &n->metrics;
}

const halo_node_stats *halo_node_get_stats(const halo_node *n) {
    return &n->stats;
}

void halo_node_set_warmup(halo_node *n, int on) {
    HALO_ASSERT(n->idx == 0 && !n->in_flight);
    n->warmup = on != 0;
    if (on)
        return;
    /* what the pass taught the root was first-use costs, not the cluster: start over */
    size_t nd = (size_t)n->n_devices, blocks = (size_t)n->mc->n_layers * 2;
    memset(n->srtt_ns, 0, 2 * nd * sizeof *n->srtt_ns);
    memset(n->rttvar_ns, 0, 2 * nd * sizeof *n->rttvar_ns);
    memset(n->lossy_until, 0, nd * sizeof *n->lossy_until);
    if (n->late)
        memset(n->late, 0, nd);
    if (n->trouble)
        memset(n->trouble, 0, nd * sizeof *n->trouble);
    reset_lateness(n);
    if (n->unreliable)
        memset(n->unreliable, 2, nd);
    memset(n->missing_at, 0, blocks * sizeof *n->missing_at);
    memset(n->missing_dev, 0, nd * sizeof *n->missing_dev);
    memset(n->wait_at, 0, blocks * sizeof *n->wait_at);
    memset(n->block_at, 0, blocks * sizeof *n->block_at);
    n->deadline_ns = 0;
    n->stats = (halo_node_stats){0};
}

halo_winpack_stats halo_node_packed(const halo_node *n) {
    return halo_winpack_get_stats(n->winpack);
}

uint64_t halo_node_missing_at(const halo_node *n, int layer, int phase) {
    HALO_ASSERT(n->idx == 0 && layer >= 0 && layer < n->mc->n_layers && phase >= 0 && phase < 2);
    return n->missing_at[layer * 2 + phase];
}

uint64_t halo_node_missing_from(const halo_node *n, int d) {
    HALO_ASSERT(n->idx == 0 && d >= 0 && d < n->n_devices);
    return n->missing_dev[d];
}

int halo_node_awaiting(const halo_node *n, int d) {
    HALO_ASSERT(n->idx == 0 && d >= 0 && d < n->n_devices);
    return n->in_flight && d > 0 && n->dev_start[d + 1] != n->dev_start[d] && !n->received[d];
}

uint64_t halo_node_wait_at(const halo_node *n, int layer, int phase) {
    HALO_ASSERT(n->idx == 0 && layer >= 0 && layer < n->mc->n_layers && phase >= 0 && phase < 2);
    return n->wait_at[layer * 2 + phase];
}

uint64_t halo_node_block_at(const halo_node *n, int layer, int phase) {
    HALO_ASSERT(n->idx == 0 && layer >= 0 && layer < n->mc->n_layers && phase >= 0 && phase < 2);
    return n->block_at[layer * 2 + phase];
}

void halo_node_get_link(const halo_node *n, int d, halo_node_link *out) {
    HALO_ASSERT(n->idx == 0 && d > 0 && d < n->n_devices);
    for (int ph = 0; ph < 2; ph++) {
        out->srtt_ns[ph] = n->srtt_ns[2 * d + ph];
        out->rttvar_ns[ph] = n->rttvar_ns[2 * d + ph];
    }
}

size_t halo_node_bytes(const halo_node *n) {
    return n->bytes;
}
