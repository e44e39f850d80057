/*
 * The memory plan of a memory-limited device (core/memplan.h), and the importance hook's
 * placement that keeps moves (hence storage reads) to a minimum (core/importance.h).
 */
#include "core/importance.h"
#include "core/memplan.h"
#include "core/model.h"
#include "core/predictor.h"
#include "core/wire.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <stdlib.h>
#include <string.h>

/* The "tiny" test shape in FFN groups of 4 neurons: 4 layers, 2 attention groups (head
 * size 8, kv_mul 1) and 8 FFN groups, dim 16, f32. */
static halo_groups geometry(void) {
    halo_model_config cfg = tu_model_shape("tiny");
    halo_groups g;
    ASSERT_OK(halo_groups_init(&g, &cfg, 4, NULL));
    ASSERT(g.n_layers == 4 && g.n_attn == 2 && g.n_ffn == 8 && g.kv_mul == 1);
    ASSERT(g.head_size == 8 && g.hidden_dim == 32 && cfg.dim == 16);
    return g;
}

enum {
    DIM = 16
};

/* The geometry split equally over two devices; the caller frees it. */
static halo_placement two_devices(void) {
    halo_groups g = geometry();
    halo_placement p = {0};
    ASSERT_OK(halo_placement_init(&p, &g, 2, NULL, NULL));
    return p;
}

static const uint64_t ATTN_BYTES = 4 * 4 * 8 * DIM; /* (2 kv_mul + 2) hs dim floats */
static const uint64_t FFN_BYTES = 4 * 3 * 4 * DIM;  /* 3 G dim floats */

static halo_memplan *plan_for(const halo_placement *p, int device, uint64_t budget, int prefetch) {
    halo_memplan_config c = {.placement = p,
                             .device = device,
                             .dim = DIM,
                             .weight_bytes = 4,
                             .budget_bytes = budget,
                             .prefetch = prefetch};
    halo_memplan *m = NULL;
    halo_err err = {0};
    ASSERT_OK_ERR(halo_memplan_new(&m, &c, &err), err);
    return m;
}

/* The groups of block (layer, phase) that device d holds in placement p. */
static int share_of(const halo_placement *p, int d, int layer, int phase, uint16_t *gids) {
    const halo_groups *g = &p->groups;
    int n = phase == HALO_PHASE_ATTN ? g->n_attn : g->n_ffn, k = 0;
    const uint16_t *row = phase == HALO_PHASE_ATTN ? p->attn + (size_t)layer * (size_t)g->n_attn
                                                   : p->ffn + (size_t)layer * (size_t)g->n_ffn;
    for (int i = 0; i < n; i++)
        if (row[i] == d)
            gids[k++] = (uint16_t)i;
    return k;
}

/* One token of device d computing its share block by block; sums the storage costs. */
static halo_cost token(halo_memplan *m, const halo_placement *p, int d) {
    halo_cost sum = {0};
    uint16_t gids[64];
    for (int l = 0; l < p->groups.n_layers; l++)
        for (int ph = 0; ph < 2; ph++) {
            halo_cost c = {0};
            halo_memplan_block(m, l, ph, gids, share_of(p, d, l, ph, gids), &c);
            sum.load_bytes += c.load_bytes;
            sum.prefetch_bytes += c.prefetch_bytes;
            sum.uses_prefetch += c.uses_prefetch;
        }
    return sum;
}

static void group_sizes_count_every_matrix(void) {
    halo_groups g = geometry();
    ASSERT_EQ(halo_memplan_attn_bytes(&g, DIM, 4), ATTN_BYTES);
    ASSERT_EQ(halo_memplan_ffn_bytes(&g, DIM, 4, 0), FFN_BYTES);
    g.hidden_dim = 30; /* the last group has 2 neurons */
    g.n_ffn = 8;
    ASSERT_EQ(halo_memplan_ffn_bytes(&g, DIM, 4, 7), FFN_BYTES / 2);
    ASSERT_EQ(halo_memplan_ffn_bytes(&g, DIM, 0.5625, 0), 3 * 4 * DIM * 0.5625);
}

static void a_share_that_fits_reads_nothing(void) {
    halo_placement p = two_devices();
    /* device 1: one attention group and 4 FFN groups per layer */
    uint64_t share = 4 * (ATTN_BYTES + 4 * FFN_BYTES);
    halo_memplan *m = plan_for(&p, 1, share, 1);
    halo_memplan_info in;
    halo_memplan_get_info(m, &in);
    ASSERT_EQ(in.share_bytes, share);
    ASSERT_EQ(in.pinned_bytes, share);
    ASSERT_EQ(in.streamed_bytes, 0);
    ASSERT_EQ(in.n_blocks, 8);
    ASSERT_EQ(in.n_pinned, 8);
    for (int t = 0; t < 3; t++) {
        halo_cost c = token(m, &p, 1);
        ASSERT_EQ(c.load_bytes, 0);
        ASSERT_EQ(c.prefetch_bytes, 0);
    }
    halo_memplan_free(m);
    halo_placement_free(&p);
}

static void a_tight_budget_pins_blocks_and_streams_the_rest(void) {
    halo_placement p = two_devices();
    uint64_t attn = ATTN_BYTES, ffn = 4 * FFN_BYTES; /* device 1's blocks: 2048 and 3072 */
    /* room for the two stream buffers (2 x 768) and three blocks: attn0, ffn0, attn1 */
    uint64_t budget = 2 * ffn + 2 * attn + ffn + 100;
    for (int prefetch = 0; prefetch < 2; prefetch++) {
        halo_memplan *m = plan_for(&p, 1, budget, prefetch);
        halo_memplan_info in;
        halo_memplan_get_info(m, &in);
        ASSERT_EQ(in.prefetch, prefetch);
        ASSERT_EQ(in.buffer_bytes, (prefetch ? 2 : 1) * ffn);
        /* pinned in block order while they fit the room left by the buffers */
        uint64_t room = budget - in.buffer_bytes, pinned = 0, first_bytes = 0;
        int n_pinned = 0;
        for (int b = 0; b < 8; b++) {
            uint64_t s = b % 2 ? ffn : attn;
            if (pinned + s <= room) {
                pinned += s;
                n_pinned++;
            } else if (!first_bytes) {
                first_bytes = s; /* the first streamed block */
            }
        }
        ASSERT_EQ(in.pinned_bytes, pinned);
        ASSERT_EQ(in.n_pinned, n_pinned);
        ASSERT(in.pinned_bytes + in.buffer_bytes <= budget);
        ASSERT_EQ(in.streamed_bytes, in.share_bytes - in.pinned_bytes);
        ASSERT(in.streamed_bytes > 0);
        /* every token reads the streamed bytes exactly once: on demand without read-ahead;
           with it, ahead of need (the pinned first block starts the read of the first
           streamed one), and the first token also reads the next one's first streamed block */
        for (int t = 0; t < 4; t++) {
            halo_cost c = token(m, &p, 1);
            if (!prefetch) {
                ASSERT_EQ(c.load_bytes, in.streamed_bytes);
                ASSERT_EQ(c.prefetch_bytes, 0);
                ASSERT_EQ(c.uses_prefetch, 0);
            } else if (t == 0) {
                ASSERT_EQ(c.load_bytes, 0);
                ASSERT_EQ(c.prefetch_bytes, in.streamed_bytes + first_bytes);
            } else {
                ASSERT_EQ(c.prefetch_bytes, in.streamed_bytes);
                ASSERT_EQ(c.load_bytes, 0);
                ASSERT_EQ(c.uses_prefetch, 8 - n_pinned);
            }
        }
        halo_memplan_free(m);
    }
    halo_placement_free(&p);
}

static void a_lost_activation_turns_the_next_read_into_a_demand_read(void) {
    halo_placement p = two_devices();
    uint64_t ffn = 4 * FFN_BYTES;
    halo_memplan *m = plan_for(&p, 1, 2 * ffn + 100, 1); /* nothing pinned: all streamed */
    uint16_t gids[16];
    (void)token(m, &p, 1); /* warm: block 0 of the next token is read ahead */
    halo_cost c = {0};
    int n = share_of(&p, 1, 0, HALO_PHASE_ATTN, gids);
    halo_memplan_block(m, 0, HALO_PHASE_ATTN, gids, n, &c);
    ASSERT_EQ(c.load_bytes, 0);
    ASSERT_EQ(c.uses_prefetch, 1);
    ASSERT_EQ(c.prefetch_bytes, ffn); /* block 1 (FFN of layer 0) is read ahead */
    /* block 1's activation is lost: the device next computes block 2, which was not read
       ahead; it drops block 1 and reads block 3 ahead, and the pipeline goes on */
    c = (halo_cost){0};
    n = share_of(&p, 1, 1, HALO_PHASE_ATTN, gids);
    halo_memplan_block(m, 1, HALO_PHASE_ATTN, gids, n, &c);
    ASSERT_EQ(c.load_bytes, ATTN_BYTES);
    ASSERT_EQ(c.uses_prefetch, 0);
    ASSERT_EQ(c.prefetch_bytes, ffn);
    c = (halo_cost){0};
    n = share_of(&p, 1, 1, HALO_PHASE_FFN, gids);
    halo_memplan_block(m, 1, HALO_PHASE_FFN, gids, n, &c);
    ASSERT_EQ(c.load_bytes, 0);
    ASSERT_EQ(c.uses_prefetch, 1);
    ASSERT_EQ(c.prefetch_bytes, ATTN_BYTES);
    halo_memplan_free(m);
    halo_placement_free(&p);
}

static void a_moved_group_is_read_unless_the_whole_model_fits(void) {
    halo_placement p = two_devices();
    uint64_t share = 4 * (ATTN_BYTES + 4 * FFN_BYTES);
    uint16_t foreign[2] = {0, 1}; /* device 0's FFN groups */
    halo_memplan *m = plan_for(&p, 1, share, 1);
    halo_cost c = {0};
    halo_memplan_block(m, 2, HALO_PHASE_FFN, foreign, 2, &c);
    ASSERT_EQ(c.load_bytes, 2 * FFN_BYTES);
    halo_memplan_free(m);
    m = plan_for(&p, 1, 2 * share, 1); /* the whole model */
    c = (halo_cost){0};
    halo_memplan_block(m, 2, HALO_PHASE_FFN, foreign, 2, &c);
    ASSERT_EQ(c.load_bytes, 0);
    halo_memplan_free(m);
    halo_placement_free(&p);
}

static void small_budgets_drop_read_ahead_then_fail_naming_the_device(void) {
    halo_placement p = two_devices();
    uint64_t ffn = 4 * FFN_BYTES;
    halo_memplan *m = plan_for(&p, 1, 2 * ffn - 1, 1);
    halo_memplan_info in;
    halo_memplan_get_info(m, &in);
    ASSERT_EQ(in.prefetch, 0);
    ASSERT_EQ(in.buffer_bytes, ffn);
    halo_cost c = token(m, &p, 1);
    ASSERT_EQ(c.load_bytes, in.streamed_bytes);
    ASSERT_EQ(c.prefetch_bytes, 0);
    halo_memplan_free(m);
    m = plan_for(&p, 1, ATTN_BYTES, 1); /* one group at a time still works */
    c = token(m, &p, 1);
    ASSERT_EQ(c.load_bytes, in.share_bytes);
    halo_memplan_free(m);
    halo_memplan_config cfg = {
        .placement = &p, .device = 1, .dim = DIM, .weight_bytes = 4, .budget_bytes = 100};
    halo_err err = {0};
    ASSERT_EQ(halo_memplan_new(&m, &cfg, &err), HALO_ERR_ARG);
    ASSERT(m == NULL);
    ASSERT(strstr(err.msg, "device 1") != NULL);
    cfg.device = 2;
    ASSERT_EQ(halo_memplan_new(&m, &cfg, &err), HALO_ERR_ARG);
    halo_placement_free(&p);
}

/*
 * The importance hook's FFN placement: every device keeps its count, and the groups are
 * dealt in descending score order, reliable devices first, then the others in device order.
 */
static void placement_deals_groups_by_score_reliable_devices_first(void) {
    halo_model *model = tu_bundled_model();
    const halo_model_config *mc = halo_model_get_config(model);
    halo_groups g;
    ASSERT_OK(halo_groups_init(&g, mc, 8, NULL)); /* 768 / 8 = 96 FFN groups */

    enum {
        ND = 4
    };

    uint8_t reliable[ND] = {1, 0, 1, 0};
    halo_importance_config ic = {.model = model,
                                 .groups = &g,
                                 .n_devices = ND,
                                 .scoring = HALO_SCORING_ORACLE,
                                 .tau = 0.9,
                                 .reliable = reliable,
                                 .place = 1};
    halo_importance *imp = NULL;
    ASSERT_OK(halo_importance_new(&imp, &ic, NULL));
    float *xb = malloc((size_t)mc->dim * sizeof *xb);
    float *scores = malloc((size_t)g.n_ffn * sizeof *scores);
    float *scratch = malloc(((size_t)mc->hidden_dim + (size_t)mc->dim) * sizeof *scratch);
    uint16_t *dev = malloc((size_t)g.n_ffn * sizeof *dev),
             *before = malloc((size_t)g.n_ffn * sizeof *before);
    ASSERT(xb && scores && scratch && dev && before);
    for (int trial = 0; trial < 20; trial++) {
        for (int i = 0; i < mc->dim; i++)
            xb[i] = sinf(0.37f * (float)(i + 1) * (float)(trial + 1));
        int layer = trial % mc->n_layers;
        halo_oracle_score_ffn(model, &g, layer, xb, scratch, scores);
        for (int i = 0; i < g.n_ffn; i++)
            before[i] = dev[i] = (uint16_t)(i * ND / g.n_ffn);
        uint8_t critical[ND] = {0};
        halo_importance_plan(imp, (uint32_t)trial, layer, HALO_PHASE_FFN, xb, dev, g.n_ffn,
                             critical);
        int count_before[ND] = {0}, count_after[ND] = {0};
        float lo[ND], hi[ND];
        for (int d = 0; d < ND; d++) {
            lo[d] = INFINITY;
            hi[d] = -INFINITY;
        }
        for (int i = 0; i < g.n_ffn; i++) {
            count_before[before[i]]++;
            count_after[dev[i]]++;
            lo[dev[i]] = scores[i] < lo[dev[i]] ? scores[i] : lo[dev[i]];
            hi[dev[i]] = scores[i] > hi[dev[i]] ? scores[i] : hi[dev[i]];
        }
        for (int d = 0; d < ND; d++)
            ASSERT_EQ(count_after[d], count_before[d]);
        /* dealing order 0, 2 (reliable), then 1, 3: each device's worst beats the next's best */
        const int deal[ND] = {0, 2, 1, 3};
        for (int k = 0; k + 1 < ND; k++)
            ASSERT(lo[deal[k]] >= hi[deal[k + 1]]);
        /* the reliable devices hold the best groups: critical, hence awaited */
        ASSERT(critical[0] && critical[2]);
    }
    free(xb);
    free(scores);
    free(scratch);
    free(dev);
    free(before);
    halo_importance_free(imp);
    halo_model_free(model);
}

TEST_MAIN(TEST(group_sizes_count_every_matrix), TEST(a_share_that_fits_reads_nothing),
          TEST(a_tight_budget_pins_blocks_and_streams_the_rest),
          TEST(a_lost_activation_turns_the_next_read_into_a_demand_read),
          TEST(a_moved_group_is_read_unless_the_whole_model_fits),
          TEST(small_budgets_drop_read_ahead_then_fail_naming_the_device),
          TEST(placement_deals_groups_by_score_reliable_devices_first))
