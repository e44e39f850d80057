/*
 * Measured importance spread (core/importance_sigma.h) and its use by shape-only runs: the
 * measurement on the bundled model gives finite sigmas in a sane range and quantiles in
 * order; the compiled-in table is interpolated and clamped as documented; the
 * engine.synthetic_sigma key takes a number or `measured`, and bad values are named (with
 * file:line in a scenario); synthetic scores are deterministic for a seed and a sigma.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/engine.h"
#include "core/file.h"
#include "core/importance.h"
#include "core/importance_sigma.h"
#include "core/plan.h"
#include "core/tokenizer.h"
#include "core/wire.h"
#include "sim/scenario.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void measurement_gives_finite_sigmas_in_a_sane_range(void) {
    halo_model *m = tu_bundled_model();
    halo_tokenizer *tok = NULL;
    char *text = NULL;
    size_t len = 0;
    ASSERT_OK(halo_tokenizer_load(&tok, tu_src_path("models/tok512.bin"), 512, NULL));
    ASSERT_OK(halo_file_read_text(tu_src_path("data/tinystories-valid-dev.txt"), 1 << 20, &text,
                                  &len, NULL));
    halo_importance_sigma_row *rows = NULL;
    int n = 0;
    ASSERT_OK(halo_importance_sigma_measure(m, tok, text, 3, 48, &rows, &n, NULL));
    /* 5 layers x (attention by query head and by KV head + FFN groups of 1..128 neurons) */
    ASSERT_EQ(n, 5 * (2 + 8));
    for (int i = 0; i < n; i++) {
        const halo_importance_sigma_row *r = &rows[i];
        ASSERT(isfinite(r->sigma) && r->sigma > 0.05 && r->sigma < 5.0);
        ASSERT(r->blocks > 0);
        for (int q = 1; q < HALO_IMPORTANCE_SIGMA_N_Q; q++)
            ASSERT(r->q[q - 1] <= r->q[q]);
        ASSERT(r->crit_measured > 0 && r->crit_measured <= 1);
        ASSERT(r->crit_lognormal > 0 && r->crit_lognormal <= 1);
        if (i > 0 && rows[i - 1].phase == r->phase && rows[i - 1].layer == r->layer)
            ASSERT(rows[i - 1].n_groups < r->n_groups);
    }
    /* single neurons are far more unequal than groups of 32 */
    ASSERT(rows[n - 1].n_groups == 172 && rows[n - 1].sigma > 2 * rows[n - 4].sigma);
    free(rows);
    /* a shape has nothing to measure */
    halo_model *shape = NULL;
    halo_model_config sc = tu_model_shape("tiny");
    ASSERT_OK(halo_model_new_shape(&shape, &sc, HALO_WEIGHT_F32, NULL));
    halo_err err = {0};
    ASSERT_EQ(halo_importance_sigma_measure(shape, tok, text, 1, 8, &rows, &n, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "shape-only");
    halo_model_free(shape);
    free(text);
    halo_tokenizer_free(tok);
    halo_model_free(m);
}

static void table_is_interpolated_and_clamped(void) {
    /* measured points (sim/validation/importance-sigma.csv): FFN layer 0 at 172 and 86
       groups, layer 1 at 172; attention layer 0 at 8 groups */
    ASSERT_NEAR(halo_importance_sigma_lookup(HALO_PHASE_FFN, 0.0, 172), 1.4318, 1e-9);
    ASSERT_NEAR(halo_importance_sigma_lookup(HALO_PHASE_ATTN, 0.0, 8), 0.4558, 1e-9);
    /* finer than measured: the finest measured; coarser: the coarsest */
    ASSERT_NEAR(halo_importance_sigma_lookup(HALO_PHASE_FFN, 0.0, 344), 1.4318, 1e-9);
    ASSERT_NEAR(halo_importance_sigma_lookup(HALO_PHASE_ATTN, 0.0, 32), 0.4558, 1e-9);
    ASSERT_NEAR(halo_importance_sigma_lookup(HALO_PHASE_FFN, 0.0, 1),
                halo_importance_sigma_lookup(HALO_PHASE_FFN, 0.0, 2), 1e-12);
    /* linear in log(groups) between measured counts */
    double mid = halo_importance_sigma_lookup(HALO_PHASE_FFN, 0.0, 122); /* ~ sqrt(86 * 172) */
    ASSERT(mid > 0.9000 && mid < 1.4318);
    /* linear in depth between measured layers (5 layers: depth 0.125 is halfway 0..1) */
    ASSERT_NEAR(halo_importance_sigma_lookup(HALO_PHASE_FFN, 0.125, 172), (1.4318 + 1.5200) / 2,
                1e-9);
    ASSERT_NEAR(halo_importance_sigma_lookup(HALO_PHASE_FFN, 7.0, 172),
                halo_importance_sigma_lookup(HALO_PHASE_FFN, 1.0, 172), 1e-12);
    for (int p = HALO_PHASE_ATTN; p <= HALO_PHASE_FFN; p++)
        for (double d = 0; d <= 1.0; d += 0.05)
            for (int g = 1; g < 2000; g = g * 3 + 1) {
                double s = halo_importance_sigma_lookup(p, d, g);
                ASSERT(isfinite(s) && s > 0.1 && s < 3.0);
            }
}

static void the_key_takes_a_number_or_measured(void) {
    halo_engine_config c;
    halo_engine_config_init(&c);
    ASSERT(c.synthetic_sigma == HALO_ENGINE_SIGMA_MEASURED); /* the default */
    ASSERT_OK(halo_engine_set(&c, "synthetic_sigma", "1.5", NULL));
    ASSERT_NEAR(c.synthetic_sigma, 1.5, 0);
    char json[4096];
    ASSERT(halo_engine_config_json(&c, json, sizeof json) < sizeof json);
    ASSERT_STR_CONTAINS(json, "\"synthetic_sigma\": 1.5,");
    ASSERT_OK(halo_engine_set(&c, "synthetic_sigma", "measured", NULL));
    ASSERT(c.synthetic_sigma == HALO_ENGINE_SIGMA_MEASURED);
    ASSERT(halo_engine_is_set(&c, "synthetic_sigma"));
    ASSERT(halo_engine_config_json(&c, json, sizeof json) < sizeof json);
    ASSERT_STR_CONTAINS(json, "\"synthetic_sigma\": \"measured\",");

    static const struct {
        const char *value, *needle;
    } bad[] = {{"0", "0 is not in (0, 10]"},
               {"11", "11 is not in (0, 10]"},
               {"wide", "expected a number, got 'wide'"},
               {"Measured", "expected a number, got 'Measured'"}};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        halo_err err = {0};
        ASSERT_EQ(halo_engine_set(&c, "synthetic_sigma", bad[i].value, &err), HALO_ERR_ARG);
        ASSERT_STR_CONTAINS(err.msg, bad[i].needle);
    }
    halo_engine_config_free(&c);
    /* in a scenario file the message names the file and line */
    const char *p = tu_tmp_path("sigma.yaml");
    const char *text = "model: {shape: llama2-7b}\n"
                       "devices: [{profile: rpi4b, count: 2, link: gige}]\n"
                       "engine:\n"
                       "  baseline: halo\n"
                       "  synthetic_sigma: wide\n"
                       "workload: {tokens: 2}\n";
    tu_write_file(p, text, strlen(text));
    halo_scenario *sc = NULL;
    halo_err err = {0};
    ASSERT_EQ(halo_scenario_load(&sc, p, 0, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "sigma.yaml:5: engine.synthetic_sigma: expected a number, got "
                                 "'wide'");
}

/* A synthetic hook for model m on *g (groups of 32, initialised here), with the devices,
   threshold, spread, placement and seed of ic. */
static halo_importance *synthetic_importance(const halo_model *m, halo_groups *g,
                                             halo_importance_config ic) {
    ASSERT_OK(halo_groups_init(g, halo_model_get_config(m), 32, NULL));
    ic.model = m;
    ic.groups = g;
    ic.scoring = HALO_SCORING_SYNTHETIC;
    halo_importance *imp = NULL;
    ASSERT_OK(halo_importance_new(&imp, &ic, NULL));
    return imp;
}

/* Critical groups chosen by a synthetic hook on the 7B shape over a few syncs. */
static uint64_t synthetic_run(const halo_model *m, double sigma, uint64_t seed, uint8_t *crit_out) {
    halo_groups g;
    halo_importance *imp = synthetic_importance(
        m, &g,
        (halo_importance_config){
            .n_devices = 8, .tau = 0.9, .synthetic_sigma = sigma, .seed = seed});
    uint16_t dev[512];
    for (int step = 0; step < 4; step++)
        for (int l = 0; l < g.n_layers; l += 7)
            for (int phase = HALO_PHASE_ATTN; phase <= HALO_PHASE_FFN; phase++) {
                int n = phase == HALO_PHASE_ATTN ? g.n_attn : g.n_ffn;
                for (int i = 0; i < n; i++)
                    dev[i] = (uint16_t)(i % 8);
                uint8_t crit[8] = {0};
                halo_importance_plan(imp, (uint32_t)step, l, phase, NULL, dev, n, crit);
                for (int d = 0; d < 8; d++)
                    crit_out[d] |= crit[d];
            }
    uint64_t c = halo_importance_get_stats(imp)->critical;
    halo_importance_free(imp);
    return c;
}

/* Moves of FFN groups by one plan of a synthetic hook (placement on) over 4 devices. */
static int moved_groups(halo_importance *imp, const halo_groups *g, uint16_t *dev) {
    for (int i = 0; i < g->n_ffn; i++)
        dev[i] = (uint16_t)(i % 4);
    uint8_t crit[4] = {0};
    halo_importance_plan(imp, 0, 1, HALO_PHASE_FFN, NULL, dev, g->n_ffn, crit);
    int moved = 0;
    for (int i = 0; i < g->n_ffn; i++)
        moved += dev[i] != i % 4;
    return moved;
}

/* Socket roots tell the hook which links lose (halo_importance_set_reliable): critical
   groups move only while one does, and then off that device. */
static void placement_moves_groups_only_while_a_link_loses(void) {
    halo_model *m = tu_shape_model("llama2-7b", HALO_WEIGHT_Q40);
    halo_groups g;
    halo_importance *imp = synthetic_importance(
        m, &g, (halo_importance_config){.n_devices = 4, .tau = 0.5, .place = 1, .seed = 3});
    static uint16_t dev[4096];
    ASSERT(g.n_ffn <= 4096);
    ASSERT(moved_groups(imp, &g, dev) > 0); /* static reliability: only the root is reliable */
    for (int d = 1; d < 4; d++)
        halo_importance_set_reliable(imp, d, 1);
    ASSERT_EQ(moved_groups(imp, &g, dev), 0); /* clean links: nothing moves */
    uint64_t exposed = halo_importance_get_stats(imp)->critical_exposed;
    halo_importance_set_reliable(imp, 2, 0);
    ASSERT(moved_groups(imp, &g, dev) > 0);
    /* device 2 got the lowest-scoring quarter of the groups: at tau 0.5 no critical one */
    ASSERT_EQ(halo_importance_get_stats(imp)->critical_exposed, exposed);
    halo_importance_set_reliable(imp, 2, 1);
    ASSERT_EQ(moved_groups(imp, &g, dev), 0);
    halo_importance_free(imp);
    halo_model_free(m);
}

static void synthetic_scores_are_deterministic_for_a_sigma(void) {
    halo_model *m = tu_shape_model("llama2-7b", HALO_WEIGHT_Q40);
    uint8_t a[8] = {0}, b[8] = {0}, o[8] = {0};
    uint64_t ca = synthetic_run(m, 1.5, 7, a), cb = synthetic_run(m, 1.5, 7, b);
    ASSERT_EQ(ca, cb);
    ASSERT(memcmp(a, b, sizeof a) == 0);
    /* a wider spread concentrates the mass: fewer groups are critical */
    uint64_t narrow = synthetic_run(m, 0.5, 7, o), wide = synthetic_run(m, 2.0, 7, o);
    ASSERT(wide < narrow);
    /* measured = the table's sigmas (FFN ~1.5 at 344 groups, attention ~0.45 at 32) */
    uint64_t meas = synthetic_run(m, HALO_ENGINE_SIGMA_MEASURED, 7, o);
    ASSERT_EQ(meas, synthetic_run(m, HALO_ENGINE_SIGMA_MEASURED, 7, o));
    ASSERT(meas != synthetic_run(m, 1.0, 7, o));
    halo_err err = {0};
    halo_groups g;
    ASSERT_OK(halo_groups_init(&g, halo_model_get_config(m), 32, NULL));
    halo_importance_config ic = {.model = m,
                                 .groups = &g,
                                 .n_devices = 8,
                                 .scoring = HALO_SCORING_SYNTHETIC,
                                 .tau = 0.9,
                                 .synthetic_sigma = -1};
    halo_importance *imp = NULL;
    ASSERT_EQ(halo_importance_new(&imp, &ic, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "synthetic sigma -1 not in [0, 10]");
    halo_model_free(m);
}

TEST_MAIN(TEST(measurement_gives_finite_sigmas_in_a_sane_range),
          TEST(table_is_interpolated_and_clamped), TEST(the_key_takes_a_number_or_measured),
          TEST(synthetic_scores_are_deterministic_for_a_sigma),
          TEST(placement_moves_groups_only_while_a_link_loses))
