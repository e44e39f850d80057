/*
 * The HALO policy hook.
 */
#include "core/importance.h"

#include "core/arena.h"
#include "core/importance_sigma.h"
#include "core/wire.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct halo_importance {
    halo_importance_config cfg;
    halo_groups g;       /* one block holds this struct and the buffers below */
    uint8_t *reliable;   /* (n_devices) */
    float *scores;       /* (max groups) */
    unsigned char *crit; /* (max groups) */
    int *order;          /* (max groups) group indices by descending score */
    int *slots;          /* (n_devices) groups each device holds in this block */
    float *scratch;      /* oracle scoring only: hidden_dim + dim */
    double *sigma;       /* (n_layers, 2): synthetic scores' sigma per layer and block kind */
    halo_rng rng;
    int dynamic; /* halo_importance_set_reliable was called */
    halo_importance_stats stats;
};

static void carve(void *obj, halo_arena *a) {
    halo_importance *m = obj;
    size_t maxg = (size_t)(m->g.n_attn > m->g.n_ffn ? m->g.n_attn : m->g.n_ffn);
    size_t nd = (size_t)m->cfg.n_devices;
    const halo_model_config *mc = halo_model_get_config(m->cfg.model);
    m->reliable = halo_arena_take(a, nd, sizeof *m->reliable);
    m->scores = halo_arena_take(a, maxg, sizeof *m->scores);
    m->crit = halo_arena_take(a, maxg, sizeof *m->crit);
    m->order = halo_arena_take(a, maxg, sizeof *m->order);
    m->slots = halo_arena_take(a, nd, sizeof *m->slots);
    size_t n_scratch = (size_t)mc->hidden_dim + (size_t)mc->dim;
    m->sigma = halo_arena_take(a, 2 * (size_t)m->g.n_layers, sizeof *m->sigma);
    m->scratch = m->cfg.scoring == HALO_SCORING_ORACLE
                     ? halo_arena_take(a, n_scratch, sizeof *m->scratch)
                     : NULL;
}

int halo_importance_new(halo_importance **out, const halo_importance_config *cfg, halo_err *err) {
    *out = NULL;
    if (!(cfg->tau > 0.0 && cfg->tau <= 1.0))
        return HALO_FAIL(err, HALO_ERR_ARG, "importance: tau %g not in (0, 1]", cfg->tau);
    if (cfg->scoring == HALO_SCORING_PREDICTOR && !cfg->predictor)
        return HALO_FAIL(err, HALO_ERR_ARG, "importance: the predictor scoring needs a predictor");
    if ((cfg->scoring == HALO_SCORING_PREDICTOR || cfg->scoring == HALO_SCORING_ORACLE) &&
        !halo_model_has_weights(cfg->model))
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "importance: a shape-only model has no activations to score; use "
                         "synthetic scores");
    if (cfg->scoring < HALO_SCORING_PREDICTOR || cfg->scoring > HALO_SCORING_UNIFORM)
        return HALO_FAIL(err, HALO_ERR_ARG, "importance: unknown scoring %d", cfg->scoring);
    if (!(cfg->synthetic_sigma >= 0.0 && cfg->synthetic_sigma <= 10.0))
        return HALO_FAIL(err, HALO_ERR_ARG, "importance: synthetic sigma %g not in [0, 10]",
                         cfg->synthetic_sigma);
    if (cfg->n_devices < 1 || cfg->n_devices > HALO_MAX_DEVICES)
        return HALO_FAIL(err, HALO_ERR_ARG, "importance: %d devices", cfg->n_devices);
    halo_importance proto = {.cfg = *cfg, .g = *cfg->groups};
    halo_importance *m = halo_arena_new(sizeof proto, &proto, carve, "importance", NULL, err);
    if (!m)
        return HALO_ERR_NOMEM;
    m->cfg.groups = &m->g;
    if (cfg->reliable)
        memcpy(m->reliable, cfg->reliable, (size_t)cfg->n_devices);
    m->reliable[0] = 1;
    m->cfg.reliable = NULL;
    for (int l = 0; l < m->g.n_layers; l++) {
        double depth = m->g.n_layers > 1 ? (double)l / (m->g.n_layers - 1) : 0.0;
        for (int phase = HALO_PHASE_ATTN; phase <= HALO_PHASE_FFN; phase++)
            m->sigma[2 * l + phase] =
                cfg->synthetic_sigma > 0
                    ? cfg->synthetic_sigma
                    : halo_importance_sigma_lookup(
                          phase, depth, phase == HALO_PHASE_ATTN ? m->g.n_attn : m->g.n_ffn);
    }
    halo_rng_init_stream(&m->rng, cfg->seed, cfg->run, 0, 0x696d70 /* imp */);
    *out = m;
    return HALO_OK;
}

void halo_importance_free(halo_importance *m) {
    free(m); /* the object and its buffers are one block */
}

const halo_importance_stats *halo_importance_get_stats(const halo_importance *m) {
    return &m->stats;
}

static void score(halo_importance *m, int layer, int phase, const float *xb, int n) {
    switch (m->cfg.scoring) {
    case HALO_SCORING_PREDICTOR:
        if (phase == 0)
            halo_predictor_score_attn(m->cfg.predictor, &m->g, layer, xb, m->scores);
        else
            halo_predictor_score_ffn(m->cfg.predictor, &m->g, layer, xb, m->scores);
        /* the predictor's per-layer cost, split evenly over the two blocks */
        m->stats.predictor_flops += halo_predictor_flops(m->cfg.predictor) / 2;
        break;
    case HALO_SCORING_ORACLE:
        if (phase == 0) /* no cheap exact attention oracle: treat heads alike */
            for (int i = 0; i < n; i++)
                m->scores[i] = 1.0f;
        else
            halo_oracle_score_ffn(m->cfg.model, &m->g, layer, xb, m->scratch, m->scores);
        break;
    case HALO_SCORING_SYNTHETIC: {
        double sigma = m->sigma[2 * layer + phase];
        for (int i = 0; i < n; i++) {
            /* Box-Muller from two uniform draws */
            double u1 = halo_rng_f64(&m->rng), u2 = halo_rng_f64(&m->rng);
            double z = sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-300)) * cos(6.283185307179586 * u2);
            m->scores[i] = (float)exp(sigma * z);
        }
        break;
    }
    default:
        for (int i = 0; i < n; i++)
            m->scores[i] = 1.0f;
    }
}

/* Sorts order[0..n) by descending score, stable (insertion sort: n is a few hundred). */
static void order_by_score(halo_importance *m, int n) {
    for (int i = 0; i < n; i++) {
        int k = i;
        while (k > 0 && m->scores[m->order[k - 1]] < m->scores[i]) {
            m->order[k] = m->order[k - 1];
            k--;
        }
        m->order[k] = i;
    }
}

void halo_importance_set_reliable(void *ctx, int device, int reliable) {
    halo_importance *m = ctx;
    if (!m->dynamic) { /* from now on the calls say it */
        memset(m->reliable, 1, (size_t)m->cfg.n_devices);
        m->dynamic = 1;
    }
    if (device > 0 && device < m->cfg.n_devices)
        m->reliable[device] = reliable != 0;
}

void halo_importance_plan(void *ctx, uint32_t step, int layer, int phase, const float *xb,
                          uint16_t *devices, int n, uint8_t *critical) {
    halo_importance *m = ctx;
    (void)step;
    score(m, layer, phase, xb, n);
    int n_crit = halo_select_critical(m->scores, n, m->cfg.tau, m->crit);
    m->stats.syncs++;
    m->stats.groups += (uint64_t)n;
    m->stats.critical += (uint64_t)n_crit;
    int place = m->cfg.place;
    if (place && m->dynamic) { /* only while some link loses */
        place = 0;
        for (int d = 1; d < m->cfg.n_devices; d++)
            place |= !m->reliable[d];
    }
    if (phase == 1 && place) {
        /* Same number of groups per device; the best groups go to reliable devices. */
        int nd = m->cfg.n_devices;
        memset(m->slots, 0, (size_t)nd * sizeof *m->slots);
        for (int i = 0; i < n; i++)
            m->slots[devices[i]]++;
        order_by_score(m, n);
        int k = 0;
        for (int pass = 0; pass < 2; pass++) /* reliable devices first, then the others */
            for (int d = 0; d < nd; d++) {
                if ((pass == 0) != (m->reliable[d] != 0))
                    continue;
                for (int s = 0; s < m->slots[d]; s++) {
                    int i = m->order[k++];
                    m->stats.moved += devices[i] != d;
                    devices[i] = (uint16_t)d;
                }
            }
    }
    for (int i = 0; i < n; i++) {
        int d = devices[i];
        int must_wait = m->crit[i] || (phase == 0 && m->cfg.attention_critical);
        if (must_wait)
            critical[d] = 1; /* a slow reliable device is waited for too */
        if (m->crit[i] && !m->reliable[d])
            m->stats.critical_exposed++;
    }
}
