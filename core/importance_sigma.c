/*
 * Measured importance spread (core/importance_sigma.h).
 */
#include "core/importance_sigma.h"

#include "core/eval.h"
#include "core/forward.h"
#include "core/mat.h"
#include "core/plan.h"
#include "core/predictor.h"
#include "core/rng.h"
#include "core/wire.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== Measurement ==== */

enum {
    MAX_CONFIGS = 24,       /* group counts per block kind at most */
    HIST_BINS = 8000,       /* residual histogram: [-HIST_MAX, HIST_MAX) in HIST_BINS bins */
    LOGNORMAL_DRAWS = 2000, /* seeded blocks drawn to find the log-normal's critical share */
};

#define HIST_MAX    20.0
#define TAU_CHECK   0.9
#define SCORE_FLOOR 1e-30

typedef struct acc {
    double sum_sq; /* squared residuals of log scores */
    long dof;      /* sum of (n - 1) */
    long crit;     /* groups critical at TAU_CHECK */
    long groups;   /* groups seen */
    long blocks;   /* blocks seen */
    int *hist;     /* (HIST_BINS) residual counts */
} acc;

typedef struct kind_cfg {
    int phase, n_groups, group_size;
    halo_groups g; /* FFN: the grouping oracle scores */
} kind_cfg;

typedef struct measure {
    const halo_model *model;
    const halo_model_config *mc;
    halo_state *state;
    kind_cfg cfg[MAX_CONFIGS];
    int n_cfg;
    acc *accs;           /* (n_layers, n_cfg) */
    float *scratch;      /* hidden_dim + dim */
    float *scores;       /* (hidden_dim) at least */
    float *yh;           /* (n_heads, dim): each query head's share of Wo att */
    float *y;            /* (dim) */
    double *logs;        /* (hidden_dim) at least */
    unsigned char *crit; /* (hidden_dim) at least */
    int pos_limit;
} measure;

static void add_block(measure *m, acc *a, const float *scores, int n) {
    double mean = 0;
    for (int i = 0; i < n; i++) {
        m->logs[i] = log((double)scores[i] > SCORE_FLOOR ? (double)scores[i] : SCORE_FLOOR);
        mean += m->logs[i];
    }
    mean /= n;
    for (int i = 0; i < n; i++) {
        double r = m->logs[i] - mean;
        a->sum_sq += r * r;
        int b = (int)floor((r + HIST_MAX) / (2 * HIST_MAX) * HIST_BINS);
        a->hist[b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b]++;
    }
    a->dof += n - 1;
    a->crit += halo_select_critical(scores, n, TAU_CHECK, m->crit);
    a->groups += n;
    a->blocks++;
}

static double norm(const float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * (double)v[i];
    return sqrt(s);
}

static void on_before(void *ctx, int layer, int phase, const float *xb) {
    measure *m = ctx;
    if (phase != HALO_PHASE_FFN)
        return;
    for (int k = 0; k < m->n_cfg; k++) {
        const kind_cfg *kc = &m->cfg[k];
        if (kc->phase != HALO_PHASE_FFN)
            continue;
        halo_oracle_score_ffn(m->model, &kc->g, layer, xb, m->scratch, m->scores);
        add_block(m, &m->accs[layer * m->n_cfg + k], m->scores, kc->n_groups);
    }
}

static void on_after(void *ctx, int layer, int phase, const float *att) {
    measure *m = ctx;
    if (phase != HALO_PHASE_ATTN)
        return;
    const halo_layer *L = halo_model_layer(m->model, layer);
    int dim = m->mc->dim, hs = halo_model_head_size(m->mc);
    for (int h = 0; h < m->mc->n_heads; h++)
        halo_mat_vec(NULL, m->yh + (size_t)h * (size_t)dim, &L->wo, 0, h * hs, att + h * hs, NULL,
                     dim, hs, 0);
    for (int k = 0; k < m->n_cfg; k++) {
        const kind_cfg *kc = &m->cfg[k];
        if (kc->phase != HALO_PHASE_ATTN)
            continue;
        for (int gi = 0; gi < kc->n_groups; gi++) {
            memset(m->y, 0, (size_t)dim * sizeof *m->y);
            for (int j = 0; j < kc->group_size; j++) {
                const float *v = m->yh + (size_t)(gi * kc->group_size + j) * (size_t)dim;
                for (int i = 0; i < dim; i++)
                    m->y[i] += v[i];
            }
            m->scores[gi] = (float)norm(m->y, dim);
        }
        add_block(m, &m->accs[layer * m->n_cfg + k], m->scores, kc->n_groups);
    }
}

static int forward(void *ctx, int token, int pos, const float **logits, halo_err *err) {
    measure *m = ctx;
    (void)err;
    halo_forward_hooks hooks = {.ctx = m, .before = on_before, .after = on_after};
    *logits = halo_forward_hooked(m->state, token, pos, &hooks);
    return HALO_OK;
}

/* The group counts measured: attention by query head and by KV head, FFN groups of 1, 2, 4,
 * ... neurons while a block has at least two groups. */
static int plan_configs(measure *m, halo_err *err) {
    const halo_model_config *mc = m->mc;
    int kv_mul = mc->n_heads / mc->n_kv_heads;
    m->cfg[m->n_cfg++] = (kind_cfg){HALO_PHASE_ATTN, mc->n_heads, 1, {0}};
    if (kv_mul > 1)
        m->cfg[m->n_cfg++] = (kind_cfg){HALO_PHASE_ATTN, mc->n_kv_heads, kv_mul, {0}};
    /* attention rows go by increasing group count */
    if (m->n_cfg == 2) {
        kind_cfg t = m->cfg[0];
        m->cfg[0] = m->cfg[1];
        m->cfg[1] = t;
    }
    int first_ffn = m->n_cfg;
    for (int s = 1; (mc->hidden_dim + s - 1) / s >= 2 && m->n_cfg < MAX_CONFIGS; s *= 2) {
        kind_cfg *kc = &m->cfg[m->n_cfg++];
        int rc = halo_groups_init(&kc->g, mc, s, err);
        if (rc != HALO_OK)
            return rc;
        *kc = (kind_cfg){HALO_PHASE_FFN, kc->g.n_ffn, s, kc->g};
    }
    /* FFN rows by increasing group count too (decreasing size) */
    for (int i = first_ffn, j = m->n_cfg - 1; i < j; i++, j--) {
        kind_cfg t = m->cfg[i];
        m->cfg[i] = m->cfg[j];
        m->cfg[j] = t;
    }
    return HALO_OK;
}

static double hist_quantile(const int *hist, long total, double p) {
    long need = (long)ceil(p * (double)total), run = 0;
    for (int b = 0; b < HIST_BINS; b++) {
        run += hist[b];
        if (run >= need && run > 0)
            return ((b + 0.5) / HIST_BINS) * 2 * HIST_MAX - HIST_MAX;
    }
    return HIST_MAX;
}

/* The share of groups critical at TAU_CHECK when n scores are drawn log-normal(0, sigma). */
static double lognormal_crit(double sigma, int n, float *scores, unsigned char *crit) {
    halo_rng rng;
    halo_rng_init_stream(&rng, 1, 0, (uint64_t)n, 0x7369676d /* sigm */);
    long c = 0;
    for (int d = 0; d < LOGNORMAL_DRAWS; d++) {
        for (int i = 0; i < n; i++) {
            double u1 = halo_rng_f64(&rng), u2 = halo_rng_f64(&rng);
            double z = sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-300)) * cos(6.283185307179586 * u2);
            scores[i] = (float)exp(sigma * z);
        }
        c += halo_select_critical(scores, n, TAU_CHECK, crit);
    }
    return (double)c / ((double)LOGNORMAL_DRAWS * n);
}

static void measure_free(measure *m) {
    halo_state_free(m->state);
    if (m->accs)
        for (int i = 0; i < m->mc->n_layers * m->n_cfg; i++)
            free(m->accs[i].hist);
    free(m->accs);
    free(m->scratch);
    free(m->scores);
    free(m->yh);
    free(m->y);
    free(m->logs);
    free(m->crit);
}

int halo_importance_sigma_measure(const halo_model *model, const halo_tokenizer *tok,
                                  const char *text, long max_stories, int max_positions,
                                  halo_importance_sigma_row **rows, int *n_rows, halo_err *err) {
    *rows = NULL;
    *n_rows = 0;
    if (!halo_model_has_weights(model))
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "importance sigma: a shape-only model has no "
                         "activations to measure");
    measure m = {.model = model, .mc = halo_model_get_config(model)};
    const halo_model_config *mc = m.mc;
    int rc = plan_configs(&m, err);
    if (rc != HALO_OK)
        return rc;
    size_t nl = (size_t)mc->n_layers, nc = (size_t)m.n_cfg;
    size_t hid = (size_t)mc->hidden_dim, dim = (size_t)mc->dim;
    size_t maxg = hid > (size_t)mc->n_heads ? hid : (size_t)mc->n_heads;
    m.accs = calloc(nl * nc, sizeof *m.accs);
    m.scratch = malloc((hid + dim) * sizeof *m.scratch);
    m.scores = malloc(maxg * sizeof *m.scores);
    m.yh = malloc((size_t)mc->n_heads * dim * sizeof *m.yh);
    m.y = malloc(dim * sizeof *m.y);
    m.logs = malloc(maxg * sizeof *m.logs);
    m.crit = malloc(maxg);
    int nomem = !m.accs || !m.scratch || !m.scores || !m.yh || !m.y || !m.logs || !m.crit;
    for (size_t i = 0; !nomem && i < nl * nc; i++)
        nomem = !(m.accs[i].hist = calloc(HIST_BINS, sizeof *m.accs[i].hist));
    if (nomem) {
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "importance sigma: out of memory");
        goto done;
    }
    rc = halo_state_new(&m.state, model, NULL, err);
    if (rc != HALO_OK)
        goto done;
    halo_eval_config ec = {
        .tok = tok,
        .seq_len = max_positions > 0 && max_positions < mc->seq_len ? max_positions : mc->seq_len,
        .vocab_size = mc->vocab_size,
        .max_stories = max_stories,
        .forward = forward,
        .forward_ctx = &m};
    halo_eval_result er;
    rc = halo_eval_text(&ec, text, &er, err);
    if (rc != HALO_OK)
        goto done;
    if (er.tokens == 0) {
        rc = HALO_FAIL(err, HALO_ERR_ARG, "importance sigma: the text holds no story");
        goto done;
    }
    halo_importance_sigma_row *out = calloc(nl * nc, sizeof *out);
    if (!out) {
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "importance sigma: out of memory");
        goto done;
    }
    static const double qp[HALO_IMPORTANCE_SIGMA_N_Q] = {0.05, 0.25, 0.5, 0.75, 0.95};
    int n = 0;
    for (int phase = HALO_PHASE_ATTN; phase <= HALO_PHASE_FFN; phase++)
        for (int l = 0; l < mc->n_layers; l++)
            for (int k = 0; k < m.n_cfg; k++) {
                if (m.cfg[k].phase != phase)
                    continue;
                const acc *a = &m.accs[(size_t)l * nc + (size_t)k];
                halo_importance_sigma_row *r = &out[n++];
                r->phase = phase;
                r->layer = l;
                r->n_layers = mc->n_layers;
                r->n_groups = m.cfg[k].n_groups;
                r->group_size = m.cfg[k].group_size;
                r->sigma = a->dof > 0 ? sqrt(a->sum_sq / (double)a->dof) : 0.0;
                for (int q = 0; q < HALO_IMPORTANCE_SIGMA_N_Q; q++)
                    r->q[q] =
                        hist_quantile(a->hist, a->groups, qp[q]) / (r->sigma > 0 ? r->sigma : 1.0);
                r->crit_measured = a->groups ? (double)a->crit / (double)a->groups : 0.0;
                r->crit_lognormal = lognormal_crit(r->sigma, r->n_groups, m.scores, m.crit);
                r->blocks = a->blocks;
            }
    *rows = out;
    *n_rows = n;
done:
    measure_free(&m);
    return rc;
}

/* ==== The compiled-in table ==== */

typedef struct sigma_entry {
    int phase, layer, n_layers, n_groups;
    double sigma;
} sigma_entry;

/*
 * Measured on models/stories260K.bin with models/tok512.bin over the first 40 stories of
 * data/tinystories-valid-dev.txt: `halo_importance_sigma --c` (tools/importance_sigma.c)
 * prints these rows; sim/validation/importance-sigma.csv holds them with the fit columns.
 * Ordered by phase, layer, increasing n_groups.
 */
static const sigma_entry table[] = {
#include "core/importance_sigma_table.inc"
};

static const int n_table = (int)(sizeof table / sizeof table[0]);

/* Sigma of (phase, layer) at n_groups: linear in log(n_groups), clamped at the ends. */
static double at_layer(int phase, int layer, int n_groups) {
    const sigma_entry *lo = NULL, *hi = NULL;
    for (int i = 0; i < n_table; i++) {
        const sigma_entry *e = &table[i];
        if (e->phase != phase || e->layer != layer)
            continue;
        if (e->n_groups <= n_groups)
            lo = e;
        if (e->n_groups >= n_groups && !hi)
            hi = e;
    }
    if (!lo)
        return hi->sigma;
    if (!hi || hi->n_groups == lo->n_groups)
        return lo->sigma;
    double w = (log(n_groups) - log(lo->n_groups)) / (log(hi->n_groups) - log(lo->n_groups));
    return lo->sigma + w * (hi->sigma - lo->sigma);
}

double halo_importance_sigma_lookup(int phase, double depth, int n_groups) {
    HALO_ASSERT((phase == HALO_PHASE_ATTN || phase == HALO_PHASE_FFN) && n_groups >= 1);
    int n_layers = table[0].n_layers;
    double d = depth > 0 ? (depth < 1 ? depth : 1) : 0; /* NaN goes to 0 too */
    double x = d * (n_layers - 1);
    int l0 = (int)floor(x);
    if (l0 >= n_layers - 1)
        l0 = n_layers - 1;
    int l1 = l0 + 1 < n_layers ? l0 + 1 : l0;
    double w = x - l0;
    return (1 - w) * at_layer(phase, l0, n_groups) + w * at_layer(phase, l1, n_groups);
}
