/*
 * Memory plan of a memory-limited device (see memplan.h for the policy).
 */
#include "core/memplan.h"

#include "core/arena.h"
#include "core/wire.h"

#include <stdlib.h>

struct halo_memplan {
    halo_groups g;
    int dim;
    double wbytes;
    int n_blocks;        /* 2 * n_layers; one block holds this struct and the arrays below */
    uint64_t *share;     /* (n_blocks) bytes of this device's share of each block */
    uint8_t *pinned;     /* (n_blocks) */
    uint8_t *own_attn;   /* (n_layers, n_attn): group in this device's share */
    uint8_t *own_ffn;    /* (n_layers, n_ffn) */
    uint64_t attn_bytes; /* one attention group */
    int everything;      /* the budget holds every group of the model: nothing is read */
    int prefetch;
    int ahead; /* block read ahead and not used yet, or -1 */
    halo_memplan_info info;
};

uint64_t halo_memplan_attn_bytes(const halo_groups *g, int dim, double weight_bytes) {
    /* (kv_mul + 2) * hs rows of Wq, Wk, Wv and kv_mul * hs columns of Wo, each of dim */
    double w = (2.0 * g->kv_mul + 2.0) * g->head_size * (double)dim;
    return (uint64_t)(w * weight_bytes + 0.5);
}

uint64_t halo_memplan_ffn_bytes(const halo_groups *g, int dim, double weight_bytes, int f) {
    double w = 3.0 * halo_groups_ffn_len(g, f) * (double)dim; /* W1, W3 rows, W2 columns */
    return (uint64_t)(w * weight_bytes + 0.5);
}

static uint64_t group_bytes(const halo_memplan *m, int phase, int gid) {
    return phase == HALO_PHASE_ATTN ? m->attn_bytes
                                    : halo_memplan_ffn_bytes(&m->g, m->dim, m->wbytes, gid);
}

void halo_memplan_free(halo_memplan *m) {
    free(m); /* the plan and its arrays are one block */
}

static void carve(void *obj, halo_arena *a) {
    halo_memplan *m = obj;
    size_t na = (size_t)m->g.n_layers * (size_t)m->g.n_attn;
    size_t nf = (size_t)m->g.n_layers * (size_t)m->g.n_ffn;
    m->share = halo_arena_take(a, (size_t)m->n_blocks, sizeof *m->share);
    m->pinned = halo_arena_take(a, (size_t)m->n_blocks, sizeof *m->pinned);
    m->own_attn = halo_arena_take(a, na, sizeof *m->own_attn);
    m->own_ffn = halo_arena_take(a, nf, sizeof *m->own_ffn);
}

int halo_memplan_new(halo_memplan **out, const halo_memplan_config *cfg, halo_err *err) {
    *out = NULL;
    const halo_placement *p = cfg->placement;
    if (cfg->device < 0 || cfg->device >= p->n_devices)
        return HALO_FAIL(err, HALO_ERR_ARG, "memory plan: no device %d (of %d)", cfg->device,
                         p->n_devices);
    if (cfg->dim < 1 || !(cfg->weight_bytes > 0))
        return HALO_FAIL(err, HALO_ERR_ARG, "memory plan: bad dim %d or weight size %g", cfg->dim,
                         cfg->weight_bytes);
    halo_memplan proto = {.g = p->groups,
                          .dim = cfg->dim,
                          .wbytes = cfg->weight_bytes,
                          .n_blocks = 2 * p->groups.n_layers,
                          .ahead = -1};
    halo_memplan *m = halo_arena_new(sizeof proto, &proto, carve, "memory plan", NULL, err);
    if (!m)
        return HALO_ERR_NOMEM;
    m->attn_bytes = halo_memplan_attn_bytes(&m->g, m->dim, m->wbytes);

    /* The share, block by block, and the whole model's group bytes. */
    uint64_t model_bytes = 0, largest_group = 0, largest_block = 0, share = 0;
    for (int l = 0; l < m->g.n_layers; l++) {
        for (int a = 0; a < m->g.n_attn; a++) {
            size_t i = (size_t)l * (size_t)m->g.n_attn + (size_t)a;
            model_bytes += m->attn_bytes;
            if (p->attn[i] == cfg->device) {
                m->own_attn[i] = 1;
                m->share[2 * l + HALO_PHASE_ATTN] += m->attn_bytes;
                largest_group = m->attn_bytes > largest_group ? m->attn_bytes : largest_group;
            }
        }
        for (int f = 0; f < m->g.n_ffn; f++) {
            size_t i = (size_t)l * (size_t)m->g.n_ffn + (size_t)f;
            uint64_t b = halo_memplan_ffn_bytes(&m->g, m->dim, m->wbytes, f);
            model_bytes += b;
            if (p->ffn[i] == cfg->device) {
                m->own_ffn[i] = 1;
                m->share[2 * l + HALO_PHASE_FFN] += b;
                largest_group = b > largest_group ? b : largest_group;
            }
        }
    }
    halo_memplan_info *in = &m->info;
    for (int b = 0; b < m->n_blocks; b++) {
        share += m->share[b];
        largest_block = m->share[b] > largest_block ? m->share[b] : largest_block;
        in->n_blocks += m->share[b] > 0;
    }
    in->share_bytes = share;
    uint64_t budget = cfg->budget_bytes;
    if (budget < largest_group) {
        halo_memplan_free(m);
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "device %d: a memory budget of %llu bytes cannot hold one of its neuron "
                         "groups (%llu bytes)",
                         cfg->device, (unsigned long long)budget,
                         (unsigned long long)largest_group);
    }
    m->everything = budget >= model_bytes;
    if (share <= budget) {
        for (int b = 0; b < m->n_blocks; b++)
            m->pinned[b] = 1;
        in->pinned_bytes = share;
        in->n_pinned = in->n_blocks;
    } else {
        m->prefetch = cfg->prefetch && budget >= 2 * largest_block;
        in->buffer_bytes =
            m->prefetch ? 2 * largest_block : (budget >= largest_block ? largest_block : budget);
        uint64_t room = budget - in->buffer_bytes;
        for (int b = 0; b < m->n_blocks; b++) {
            if (m->share[b] == 0 || in->pinned_bytes + m->share[b] > room)
                continue;
            m->pinned[b] = 1;
            in->pinned_bytes += m->share[b];
            in->n_pinned++;
        }
        in->streamed_bytes = share - in->pinned_bytes;
    }
    in->prefetch = m->prefetch;
    *out = m;
    return HALO_OK;
}

/* The next streamed block of the share after b (wrapping; b itself last), or -1. */
static int next_streamed(const halo_memplan *m, int b) {
    for (int k = 1; k <= m->n_blocks; k++) {
        int c = (b + k) % m->n_blocks;
        if (!m->pinned[c] && m->share[c] > 0)
            return c;
    }
    return -1;
}

void halo_memplan_block(halo_memplan *m, int layer, int phase, const uint16_t *gids, int count,
                        halo_cost *cost) {
    if (m->everything)
        return;
    int b = 2 * layer + phase;
    const uint8_t *own = phase == HALO_PHASE_ATTN
                             ? m->own_attn + (size_t)layer * (size_t)m->g.n_attn
                             : m->own_ffn + (size_t)layer * (size_t)m->g.n_ffn;
    double load = 0;
    int uses = 0;
    for (int i = 0; i < count; i++) {
        if (own[gids[i]] && m->pinned[b])
            continue;
        if (own[gids[i]] && m->ahead == b) {
            uses = 1;
            continue;
        }
        load += (double)group_bytes(m, phase, gids[i]);
    }
    cost->load_bytes += load;
    cost->uses_prefetch |= uses;
    if (m->ahead == b)
        m->ahead = -1;
    /* This block's data is in memory: the other buffer should hold the next streamed block.
       If it holds another (a block whose activation was lost), that one is dropped. */
    int next = m->prefetch ? next_streamed(m, b) : -1;
    if (next >= 0 && m->ahead != next) {
        cost->prefetch_bytes += (double)m->share[next];
        m->ahead = next;
    }
}

void halo_memplan_get_info(const halo_memplan *m, halo_memplan_info *out) {
    *out = m->info;
}
