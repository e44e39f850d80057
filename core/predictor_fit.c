/*
 * Fitting and measuring the importance predictor (core/predictor_fit.h): the statistics
 * pass, the GSL fits, the measurement pass and the figures of the report. The command that
 * drives it and prints the figures is app/cmd_calibrate.c.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, strdup */

#include "core/predictor_fit.h"

#include "core/arena.h"
#include "core/eval.h"
#include "core/forward.h"
#include "core/plan.h"
#include "core/rng.h"
#include "core/wire.h"

#include <errno.h>
#include <gsl/gsl_blas.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    N_SIZES = HALO_PREDICTOR_FIT_N_SIZES,
    N_TAUS = HALO_PREDICTOR_FIT_N_TAUS,
    MAX_CANDS = 24,
};

static const int SIZES[N_SIZES] = {8, 16, 32};
static const double TAUS[N_TAUS] = {0.5, 0.8, 0.9};
static const int COMPARE_RANKS[] = {4, 8, 16, 32, 64};

static const char *const METHOD_NAMES[HALO_PREDICTOR_FIT_METHOD_COUNT] = {"svd", "aware",
                                                                          "aware-w2"};
static const char *const ATTN_NAMES[HALO_PREDICTOR_FIT_ATTN_COUNT] = {"factors", "prior", "none"};
static const char *const SOLVER_NAMES[HALO_PREDICTOR_FIT_SOLVER_COUNT] = {"auto", "dense",
                                                                          "iterative"};
static const int ATTN_FLAGS[HALO_PREDICTOR_FIT_ATTN_COUNT] = {HALO_PREDICTOR_ATTN,
                                                              HALO_PREDICTOR_ATTN_PRIOR, 0};

/* ==== State ==== */

/* Recall of one scorer for one kind of group, summed over tokens. */
typedef struct recall_acc {
    double recall[N_TAUS]; /* sum of |predicted top k & oracle's critical| / k */
    double mass[N_TAUS];   /* sum of the oracle mass the predicted top k holds */
    long n;                /* tokens */
} recall_acc;

typedef struct cand {
    int method, rank, flags;
    halo_arena arena;          /* the buffers below (p aside) */
    float *ffn, *attn, *prior; /* as halo_predictor_factors */
    halo_predictor *p;
    recall_acc *ffn_acc;  /* (n_layers, N_SIZES) */
    recall_acc *attn_acc; /* (n_layers) */
    uint64_t score_ns[2]; /* time spent scoring, per block kind (enum halo_phase) */
    float *pred_attn;     /* (n_kv) this layer's attention scores, until the oracle's */
    halo_predictor_fit_recall *layers; /* (n_layers) the report's per-layer figures */
} cand;

struct halo_predictor_fit {
    const halo_model *model;
    const halo_model_config *c;
    const halo_weights *w;
    const halo_tokenizer *tok;
    const char *text;
    char *name; /* names the text in messages */
    long max_stories;
    halo_state *run;  /* single-threaded, observed through hooks */
    halo_arena arena; /* every buffer of the passes and the scratch below */
    halo_groups groups[N_SIZES];
    int dim, hidden, n_layers, kv_dim, n_kv;
    int state;  /* 0: new; 1: run started; 2: run succeeded */
    int solver; /* enum halo_predictor_fit_solver, from the config */

    int pass;         /* 1: fit statistics; 2: measurement */
    long story;       /* index of the story being run (0-based) */
    long first, last; /* this pass runs stories first..last-1 */
    long tokens[3];   /* tokens run in pass 1 and 2 */
    double pos_sum;   /* sum of (pos + 1) over measured tokens (attention FLOPs) */
    float *zero;      /* (vocab_size) logits of the stories a pass skips */
    long n_stories;
    long held; /* stories 1..held are measured, held+1..n_stories fitted on */
    halo_predictor_fit_progress_fn progress;
    void *progress_ctx;
    halo_predictor_fit_clock_fn clock;
    void *clock_ctx;

    /* pass 1 */
    double *c_att, *c_ffn;       /* (n_layers, dim, dim): sums of xb xb^T */
    double *static_ffn[N_SIZES]; /* (n_layers, n_ffn): sums of oracle scores */
    double *static_attn;         /* (n_layers, n_kv) */

    /* pass 2 */
    cand cands[MAX_CANDS];
    int n_cands, chosen;
    recall_acc *static_ffn_acc, *chance_ffn_acc;                    /* (n_layers, N_SIZES) */
    recall_acc *static_attn_acc, *chance_attn_acc, *equal_attn_acc; /* (n_layers) */
    uint64_t block_ns[2], t_start; /* time in the blocks, per kind (enum halo_phase) */
    uint64_t clock_cost_ns;        /* cost of one clock reading, subtracted from every interval */

    halo_pool *pool;             /* the oracle's threads (untimed work only) */
    halo_oracle_ffn *oracle_ffn; /* the FFN oracle of every group size */

    /* scratch */
    float *oracle[N_SIZES + 1]; /* (n_ffn of G=1) per group size, then attention */
    float *pred[N_SIZES];       /* (n_ffn) */
    float *fixed;               /* (max groups) static or equal scores */
    unsigned char *crit[N_SIZES + 1][N_TAUS];
    int k[N_SIZES + 1][N_TAUS];
    int *order; /* (max groups) */

    /* the outcome */
    halo_predictor_fit_cand report_cands[MAX_CANDS];
    halo_predictor_fit_report report;
};

void halo_predictor_fit_config_init(halo_predictor_fit_config *cfg) {
    *cfg = (halo_predictor_fit_config){.method = HALO_PREDICTOR_FIT_AWARE,
                                       .rank = HALO_PREDICTOR_FIT_DEFAULT_RANK,
                                       .attn = HALO_PREDICTOR_FIT_ATTN_PRIOR};
}

const char *halo_predictor_fit_method_name(int method) {
    HALO_ASSERT(method >= 0 && method < HALO_PREDICTOR_FIT_METHOD_COUNT);
    return METHOD_NAMES[method];
}

const char *halo_predictor_fit_solver_name(int solver) {
    HALO_ASSERT(solver >= 0 && solver < HALO_PREDICTOR_FIT_SOLVER_COUNT);
    return SOLVER_NAMES[solver];
}

const char *halo_predictor_fit_attn_name(int attn) {
    HALO_ASSERT(attn >= 0 && attn < HALO_PREDICTOR_FIT_ATTN_COUNT);
    return ATTN_NAMES[attn];
}

static int attn_of_flags(int flags) {
    return flags & HALO_PREDICTOR_ATTN         ? HALO_PREDICTOR_FIT_ATTN_FACTORS
           : flags & HALO_PREDICTOR_ATTN_PRIOR ? HALO_PREDICTOR_FIT_ATTN_PRIOR
                                               : HALO_PREDICTOR_FIT_ATTN_NONE;
}

void halo_predictor_fit_free(halo_predictor_fit *f) {
    halo_predictor_fit *x = f;
    if (!x)
        return;
    halo_state_free(x->run);
    halo_oracle_ffn_free(x->oracle_ffn);
    halo_pool_free(x->pool);
    free(x->name);
    for (int i = 0; i < x->n_cands; i++) {
        halo_predictor_free(x->cands[i].p);
        halo_arena_free(&x->cands[i].arena);
    }
    halo_arena_free(&x->arena);
    free(x);
}

static void carve_state(void *obj, halo_arena *a) {
    halo_predictor_fit *x = obj;
    size_t L = (size_t)x->n_layers, dd = (size_t)x->dim * (size_t)x->dim;
    size_t max_groups = (size_t)(x->hidden > x->n_kv ? x->hidden : x->n_kv);
    x->zero = halo_arena_take(a, (size_t)x->c->vocab_size, sizeof(float));
    x->c_att = halo_arena_take(a, L * dd, sizeof(double));
    x->c_ffn = halo_arena_take(a, L * dd, sizeof(double));
    x->static_attn = halo_arena_take(a, L * (size_t)x->n_kv, sizeof(double));
    for (int s = 0; s < N_SIZES; s++) {
        x->static_ffn[s] = halo_arena_take(a, L * (size_t)x->groups[s].n_ffn, sizeof(double));
        x->pred[s] = halo_arena_take(a, max_groups, sizeof(float));
    }
    x->static_ffn_acc = halo_arena_take(a, L * N_SIZES, sizeof(recall_acc));
    x->chance_ffn_acc = halo_arena_take(a, L * N_SIZES, sizeof(recall_acc));
    x->static_attn_acc = halo_arena_take(a, L, sizeof(recall_acc));
    x->chance_attn_acc = halo_arena_take(a, L, sizeof(recall_acc));
    x->equal_attn_acc = halo_arena_take(a, L, sizeof(recall_acc));
    for (int s = 0; s <= N_SIZES; s++) {
        x->oracle[s] = halo_arena_take(a, max_groups, sizeof(float));
        for (int t = 0; t < N_TAUS; t++)
            x->crit[s][t] = halo_arena_take(a, max_groups, 1);
    }
    x->fixed = halo_arena_take(a, max_groups, sizeof(float));
    x->order = halo_arena_take(a, max_groups, sizeof(int));
}

static int alloc_state(halo_predictor_fit *x, halo_err *err) {
    int rc = halo_state_new(&x->run, x->model, NULL, err);
    for (int s = 0; rc == HALO_OK && s < N_SIZES; s++)
        rc =
            halo_groups_init(&x->groups[s], x->c, SIZES[s] < x->hidden ? SIZES[s] : x->hidden, err);
    if (rc != HALO_OK)
        return rc;
    return halo_arena_init(&x->arena, carve_state, x, "predictor fit", err);
}

/* ==== Recall ==== */

/*
 * The oracle's critical sets of kind `kind` (a group size index, or N_SIZES: attention).
 * Written with explicit pointers: gcc 12.2 at -O1 deleted the call of an earlier version
 * (that indexed x->k[kind] inside) from after_block as if it had no effect (clang, and gcc
 * with -fno-ipa-modref -fno-ipa-pure-const, kept it). add_recall asserts the result.
 */
static void oracle_sets(const float *oracle, int n, unsigned char *const *crit, int *k) {
    for (int t = 0; t < N_TAUS; t++)
        k[t] = halo_select_critical(oracle, n, TAUS[t], crit[t]);
}

static void add_recall(halo_predictor_fit *x, recall_acc *a, int kind, const float *pred, int n) {
    halo_rank_groups(pred, n, x->order);
    double total = 0;
    for (int i = 0; i < n; i++)
        total += (double)x->oracle[kind][i];
    for (int t = 0; t < N_TAUS; t++) {
        int k = x->k[kind][t], hit = 0;
        HALO_ASSERT(k >= 1 && k <= n); /* tau > 0 and n >= 1: never an empty set */
        double mass = 0;
        for (int i = 0; i < k; i++) {
            hit += x->crit[kind][t][x->order[i]];
            mass += (double)x->oracle[kind][x->order[i]];
        }
        a->recall[t] += k > 0 ? (double)hit / k : 1.0;
        a->mass[t] += total > 0 ? mass / total : 1.0;
    }
    a->n++;
}

/* Expected recall of a random ranking: k / n. */
static void add_chance(const halo_predictor_fit *x, recall_acc *a, int kind, int n) {
    for (int t = 0; t < N_TAUS; t++) {
        a->recall[t] += (double)x->k[kind][t] / n;
        a->mass[t] += (double)x->k[kind][t] / n;
    }
    a->n++;
}

/* ==== Hooks ==== */

/* The caller's clock; 0 without one (nothing is timed then). */
static uint64_t now_ns(const halo_predictor_fit *x) {
    return x->clock ? x->clock(x->clock_ctx) : 0;
}

/* Nanoseconds since t0, less the cost of reading the clock (measured once). */
static uint64_t elapsed(const halo_predictor_fit *x, uint64_t t0) {
    if (!x->clock)
        return 0;
    uint64_t d = now_ns(x) - t0;
    return d > x->clock_cost_ns ? d - x->clock_cost_ns : 0;
}

/* The smallest interval two consecutive clock readings show, over many tries. */
static uint64_t clock_cost_ns(const halo_predictor_fit *x) {
    if (!x->clock)
        return 0;
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 10000; i++) {
        uint64_t t0 = now_ns(x), d = now_ns(x) - t0;
        if (d < best)
            best = d;
    }
    return best;
}

static void add_outer(double *c, const float *xb, int dim) {
    for (int i = 0; i < dim; i++)
        for (int j = 0; j < dim; j++)
            c[(size_t)i * (size_t)dim + (size_t)j] += (double)xb[i] * (double)xb[j];
}

/* The predictor's G = 8 scores aggregated to larger groups: the root of the sum of squares
 * (what scoring with that group size computes, up to rounding). */
static void regroup(const float *fine, int fine_size, float *coarse, const halo_groups *g) {
    for (int f = 0; f < g->n_ffn; f++) {
        int a = halo_groups_ffn_start(g, f) / fine_size;
        int b =
            (halo_groups_ffn_start(g, f) + halo_groups_ffn_len(g, f) + fine_size - 1) / fine_size;
        float s = 0;
        for (int i = a; i < b; i++)
            s += fine[i] * fine[i];
        coarse[f] = sqrtf(s);
    }
}

/* The oracle's FFN scores of every group size into x->oracle[0..N_SIZES). */
static void oracle_ffn(halo_predictor_fit *x, int layer, const float *xb) {
    halo_oracle_ffn_score(x->oracle_ffn, layer, xb, x->oracle);
}

static void before_block(void *arg, int layer, int phase, const float *xb) {
    halo_predictor_fit *x = arg;
    size_t L = (size_t)layer;
    if (x->pass == 1) {
        size_t dd = (size_t)x->dim * (size_t)x->dim;
        if (phase == HALO_PHASE_ATTN) {
            add_outer(x->c_att + L * dd, xb, x->dim);
            return;
        }
        add_outer(x->c_ffn + L * dd, xb, x->dim);
        oracle_ffn(x, layer, xb);
        for (int s = 0; s < N_SIZES; s++) {
            const halo_groups *g = &x->groups[s];
            for (int f = 0; f < g->n_ffn; f++)
                x->static_ffn[s][L * (size_t)g->n_ffn + (size_t)f] += (double)x->oracle[s][f];
        }
        return;
    }
    if (phase == HALO_PHASE_ATTN) {
        for (int i = 0; i < x->n_cands; i++) {
            cand *k = &x->cands[i];
            uint64_t t0 = now_ns(x);
            halo_predictor_score_attn(k->p, &x->groups[0], layer, xb, k->pred_attn);
            k->score_ns[HALO_PHASE_ATTN] += elapsed(x, t0);
        }
        x->t_start = now_ns(x);
        return;
    }
    /* FFN: the oracle first (untimed), then each candidate (timed), then the bookkeeping. */
    oracle_ffn(x, layer, xb);
    for (int s = 0; s < N_SIZES; s++)
        oracle_sets(x->oracle[s], x->groups[s].n_ffn, x->crit[s], x->k[s]);
    for (int i = 0; i < x->n_cands; i++) {
        cand *k = &x->cands[i];
        uint64_t t0 = now_ns(x);
        halo_predictor_score_ffn(k->p, &x->groups[0], layer, xb, x->pred[0]);
        k->score_ns[HALO_PHASE_FFN] += elapsed(x, t0);
        for (int s = 0; s < N_SIZES; s++) {
            if (s > 0)
                regroup(x->pred[0], x->groups[0].ffn_size, x->pred[s], &x->groups[s]);
            add_recall(x, &k->ffn_acc[L * N_SIZES + (size_t)s], s, x->pred[s], x->groups[s].n_ffn);
        }
    }
    for (int s = 0; s < N_SIZES; s++) {
        const halo_groups *g = &x->groups[s];
        for (int f = 0; f < g->n_ffn; f++)
            x->fixed[f] = (float)x->static_ffn[s][L * (size_t)g->n_ffn + (size_t)f];
        add_recall(x, &x->static_ffn_acc[L * N_SIZES + (size_t)s], s, x->fixed, g->n_ffn);
        add_chance(x, &x->chance_ffn_acc[L * N_SIZES + (size_t)s], s, g->n_ffn);
    }
    x->t_start = now_ns(x);
}

static void after_block(void *arg, int layer, int phase, const float *out) {
    halo_predictor_fit *x = arg;
    size_t L = (size_t)layer;
    if (x->pass == 2)
        x->block_ns[phase] += elapsed(x, x->t_start);
    if (phase != HALO_PHASE_ATTN)
        return;
    float *oracle = x->oracle[N_SIZES];
    halo_oracle_score_attn(x->model, &x->groups[0], layer, out, oracle);
    if (x->pass == 1) {
        for (int k = 0; k < x->n_kv; k++)
            x->static_attn[L * (size_t)x->n_kv + (size_t)k] += (double)oracle[k];
        return;
    }
    oracle_sets(x->oracle[N_SIZES], x->n_kv, x->crit[N_SIZES], x->k[N_SIZES]);
    for (int i = 0; i < x->n_cands; i++)
        add_recall(x, &x->cands[i].attn_acc[L], N_SIZES, x->cands[i].pred_attn, x->n_kv);
    for (int k = 0; k < x->n_kv; k++)
        x->fixed[k] = (float)x->static_attn[L * (size_t)x->n_kv + (size_t)k];
    add_recall(x, &x->static_attn_acc[L], N_SIZES, x->fixed, x->n_kv);
    for (int k = 0; k < x->n_kv; k++)
        x->fixed[k] = 1.0f;
    add_recall(x, &x->equal_attn_acc[L], N_SIZES, x->fixed, x->n_kv);
    add_chance(x, &x->chance_attn_acc[L], N_SIZES, x->n_kv);
}

static int forward_cb(void *arg, int token, int pos, const float **logits, halo_err *err) {
    halo_predictor_fit *x = arg;
    (void)err;
    if (x->story < x->first || x->story >= x->last) {
        *logits = x->zero;
        return HALO_OK;
    }
    halo_forward_hooks hooks = {x, before_block, after_block};
    *logits = halo_forward_hooked(x->run, token, pos, &hooks);
    x->tokens[x->pass]++;
    if (x->pass == 2)
        x->pos_sum += pos + 1;
    return HALO_OK;
}

static int count_cb(void *arg, int token, int pos, const float **logits, halo_err *err) {
    (void)token;
    (void)pos;
    (void)err;
    *logits = ((halo_predictor_fit *)arg)->zero;
    return HALO_OK;
}

static void progress_cb(void *arg, long stories, long tokens) {
    halo_predictor_fit *x = arg;
    (void)tokens;
    x->story = stories;
    if (x->progress && stories > x->first && stories <= x->last)
        x->progress(x->progress_ctx, x->pass, stories, x->first + 1, x->last);
}

/* Runs pass `pass` over stories first..last-1 of the text. */
static int run_pass(halo_predictor_fit *x, int pass, long first, long last, halo_err *err) {
    x->pass = pass;
    x->story = 0;
    x->first = first;
    x->last = last;
    halo_eval_config ec = {.tok = x->tok,
                           .seq_len = x->c->seq_len,
                           .vocab_size = x->c->vocab_size,
                           .max_stories = last,
                           .forward = forward_cb,
                           .forward_ctx = x,
                           .progress = progress_cb,
                           .progress_ctx = x};
    halo_eval_result r;
    int rc = halo_eval_text(&ec, x->text, &r, err);
    if (x->progress)
        x->progress(x->progress_ctx, pass, 0, first + 1, last);
    return rc;
}

/* ==== Fitting ==== */

/* Top r left singular vectors of A (m x n) into U (m x r), zero columns past A's rank. */
static int left_singular(const gsl_matrix *A, int r, gsl_matrix *U) {
    size_t m = A->size1, n = A->size2;
    int transpose = m < n;
    size_t rows = transpose ? n : m, cols = transpose ? m : n;
    gsl_matrix *work = gsl_matrix_alloc(rows, cols);
    gsl_matrix *V = gsl_matrix_alloc(cols, cols);
    gsl_vector *S = gsl_vector_alloc(cols), *tmp = gsl_vector_alloc(cols);
    int rc = -1;
    if (work && V && S && tmp) {
        if (transpose)
            gsl_matrix_transpose_memcpy(work, A);
        else
            gsl_matrix_memcpy(work, A);
        /* A = work S V^T, singular values in decreasing order. For A^T = U' S V'^T, A's left
         * singular vectors are the columns of V'. */
        if (gsl_linalg_SV_decomp(work, V, S, tmp) == GSL_SUCCESS) {
            const gsl_matrix *left = transpose ? V : work;
            gsl_matrix_set_zero(U);
            for (size_t k = 0; k < (size_t)r && k < cols; k++)
                for (size_t i = 0; i < m; i++)
                    gsl_matrix_set(U, i, k, gsl_matrix_get(left, i, k));
            rc = 0;
        }
    }
    gsl_matrix_free(work);
    gsl_matrix_free(V);
    gsl_vector_free(S);
    gsl_vector_free(tmp);
    return rc;
}

/* B = C^{1/2} up to a right rotation: Q diag(sqrt(max(lambda, 0))) for C = Q diag(lambda) Q^T
 * (enough here: only the left singular vectors of W B are used). */
static int half_power(const double *c, long n_samples, int dim, gsl_matrix *B) {
    gsl_matrix *C = gsl_matrix_alloc((size_t)dim, (size_t)dim);
    gsl_matrix *Q = gsl_matrix_alloc((size_t)dim, (size_t)dim);
    gsl_vector *lambda = gsl_vector_alloc((size_t)dim);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc((size_t)dim);
    int rc = -1;
    if (C && Q && lambda && ws) {
        for (size_t i = 0; i < (size_t)dim; i++)
            for (size_t j = 0; j < (size_t)dim; j++)
                gsl_matrix_set(C, i, j, c[i * (size_t)dim + j] / (double)n_samples);
        if (gsl_eigen_symmv(C, lambda, Q, ws) == GSL_SUCCESS) {
            for (size_t i = 0; i < (size_t)dim; i++)
                for (size_t j = 0; j < (size_t)dim; j++) {
                    double l = gsl_vector_get(lambda, j);
                    gsl_matrix_set(B, i, j, gsl_matrix_get(Q, i, j) * sqrt(l > 0 ? l : 0));
                }
            rc = 0;
        }
    }
    gsl_matrix_free(C);
    gsl_matrix_free(Q);
    gsl_vector_free(lambda);
    gsl_eigen_symmv_free(ws);
    return rc;
}

/* ---- Subspace iteration: the top r left singular vectors of A = D W C^1/2 without A ----
 *
 * A's left singular vectors are the eigenvectors of M = A A^T = D W C W^T D (rows x rows),
 * which is applied to a block of k = r + ITER_EXTRA vectors as three thin products (W^T, C,
 * W), never formed. Each step orthonormalises the block Q, takes G = W^T D Q and H = C G,
 * whose k x k product G^T H = Q^T M Q gives the Ritz values (its eigenvalues) and vectors,
 * and starts the next block from D W H = M Q. It stops when the top r Ritz values move by
 * less than ITER_TOL of the largest, or after ITER_MAX steps; the result is Q times the top r
 * Ritz vectors. The cost per step is 2 rows dim k + dim^2 k multiply-adds, against the
 * dense path's full SVD of A (rows dim min(rows, dim), and dim^3 for C^1/2), which takes
 * hours on a TinyLlama-sized layer with GSL. */
enum {
    ITER_EXTRA = 10, /* vectors beyond r in the block: the gap they add speeds convergence */
    ITER_MAX = 60,
};

static const double ITER_TOL = 1e-12;
/* Dense below this many multiply-adds of the full SVD (rows dim min(rows, dim)); the bundled
 * model's largest is 8e5 (its q4_0 conversion's W1, 192 x 64 x 64), a 110M model's (dim 768,
 * hidden 2048) 1.2e9. */
static const double DENSE_MAX_WORK = 2.5e8;

/* Blocks are n x k, row-major (element (i, c) at i k + c): every inner loop below runs over
 * the k columns of one row, contiguous and free of reductions, so it vectorises; each element
 * is still summed in a fixed order (the same result every run). */

/* Orthonormalises the k columns of Q (n x k) by modified Gram-Schmidt, twice for stability; a
 * column that vanishes (a rank below k) becomes zero. */
static void orthonormalise(double *Q, size_t n, size_t k) {
    for (int pass = 0; pass < 2; pass++)
        for (size_t a = 0; a < k; a++) {
            for (size_t b = 0; b < a; b++) {
                double dot = 0;
                for (size_t i = 0; i < n; i++)
                    dot += Q[i * k + a] * Q[i * k + b];
                for (size_t i = 0; i < n; i++)
                    Q[i * k + a] -= dot * Q[i * k + b];
            }
            double norm = 0;
            for (size_t i = 0; i < n; i++)
                norm += Q[i * k + a] * Q[i * k + a];
            norm = sqrt(norm);
            double inv = norm > 1e-300 ? 1.0 / norm : 0.0;
            for (size_t i = 0; i < n; i++)
                Q[i * k + a] *= inv;
        }
}

/* Y (rows x k) = D W Z for Z (dim x k), through acc (k doubles). */
static void apply_w(const float *w, size_t rows, size_t dim, const double *d, const double *Z,
                    size_t k, double *Y, double *acc) {
    for (size_t i = 0; i < rows; i++) {
        const float *wi = w + i * dim;
        memset(acc, 0, k * sizeof *acc);
        for (size_t j = 0; j < dim; j++) {
            double wij = (double)wi[j];
            const double *z = Z + j * k;
            for (size_t c = 0; c < k; c++)
                acc[c] += wij * z[c];
        }
        double di = d ? d[i] : 1.0;
        for (size_t c = 0; c < k; c++)
            Y[i * k + c] = di * acc[c];
    }
}

/* G (dim x k) = W^T D Q for Q (rows x k), through q (k doubles). */
static void apply_wt(const float *w, size_t rows, size_t dim, const double *d, const double *Q,
                     size_t k, double *G, double *q) {
    memset(G, 0, dim * k * sizeof *G);
    for (size_t i = 0; i < rows; i++) {
        const float *wi = w + i * dim;
        double di = d ? d[i] : 1.0;
        for (size_t c = 0; c < k; c++)
            q[c] = di * Q[i * k + c];
        for (size_t j = 0; j < dim; j++) {
            double wij = (double)wi[j];
            double *g = G + j * k;
            for (size_t c = 0; c < k; c++)
                g[c] += wij * q[c];
        }
    }
}

/* H (dim x k) = C G with C = c / n (symmetric), or G itself when c is NULL. */
static void apply_c(const double *c, long n, size_t dim, const double *G, size_t k, double *H) {
    if (!c) {
        memcpy(H, G, dim * k * sizeof *H);
        return;
    }
    memset(H, 0, dim * k * sizeof *H);
    for (size_t a = 0; a < dim; a++) {
        const double *ca = c + a * dim;
        double *h = H + a * k;
        for (size_t b = 0; b < dim; b++) {
            double cab = ca[b] / (double)n;
            const double *g = G + b * k;
            for (size_t v = 0; v < k; v++)
                h[v] += cab * g[v];
        }
    }
}

/*
 * The top r left singular vectors of D W C^1/2 (C = c / n; c NULL: the identity) into U
 * (rows x r), by subspace iteration from a fixed random start (the same result every run).
 * Returns 0, or -1 when out of memory or the small eigenproblem fails.
 */
static int left_singular_iter(const float *w, int rows_i, int dim_i, const double *d,
                              const double *c, long n, int r, gsl_matrix *U) {
    size_t rows = (size_t)rows_i, dim = (size_t)dim_i, lim = rows < dim ? rows : dim;
    size_t k = (size_t)r + ITER_EXTRA < lim ? (size_t)r + ITER_EXTRA : lim;
    double *Q = malloc(rows * k * sizeof *Q), *G = malloc(dim * k * sizeof *G);
    double *H = malloc(dim * k * sizeof *H), *prev = calloc(k, sizeof *prev);
    double *tk = malloc(k * k * sizeof *tk), *acc = malloc(k * sizeof *acc);
    gsl_matrix *T = gsl_matrix_alloc(k, k), *S = gsl_matrix_alloc(k, k);
    gsl_vector *theta = gsl_vector_alloc(k);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc(k);
    int rc = Q && G && H && prev && tk && acc && T && S && theta && ws ? 0 : -1;
    if (rc == 0) {
        halo_rng rng;
        halo_rng_init(&rng, 0x5eed5u);
        for (size_t i = 0; i < dim * k; i++)
            H[i] = halo_rng_f64(&rng) - 0.5;
        apply_w(w, rows, dim, d, H, k, Q, acc);
    }
    for (int step = 0; rc == 0 && step < ITER_MAX; step++) {
        orthonormalise(Q, rows, k);
        apply_wt(w, rows, dim, d, Q, k, G, acc);
        apply_c(c, n, dim, G, k, H);
        memset(tk, 0, k * k * sizeof *tk); /* G^T H = Q^T M Q */
        for (size_t j = 0; j < dim; j++)
            for (size_t a = 0; a < k; a++) {
                double gja = G[j * k + a];
                for (size_t b = 0; b < k; b++)
                    tk[a * k + b] += gja * H[j * k + b];
            }
        for (size_t a = 0; a < k; a++)
            for (size_t b = 0; b < k; b++) /* symmetric up to rounding: take the mean */
                gsl_matrix_set(T, a, b, 0.5 * (tk[a * k + b] + tk[b * k + a]));
        if (gsl_eigen_symmv(T, theta, S, ws) != GSL_SUCCESS ||
            gsl_eigen_symmv_sort(theta, S, GSL_EIGEN_SORT_VAL_DESC) != GSL_SUCCESS) {
            rc = -1;
            break;
        }
        double moved = 0, top = fabs(gsl_vector_get(theta, 0));
        for (size_t j = 0; j < (size_t)r && j < k; j++) {
            double t = gsl_vector_get(theta, j);
            moved = fmax(moved, fabs(t - prev[j]));
            prev[j] = t;
        }
        if (step > 0 && moved <= ITER_TOL * top)
            break; /* Q's Ritz vectors below are the result */
        if (step + 1 < ITER_MAX)
            apply_w(w, rows, dim, d, H, k, Q, acc); /* M Q: the next block */
    }
    /* Here Q is orthonormal and S holds its Ritz vectors: U = Q S, top r columns. */
    if (rc == 0) {
        gsl_matrix_set_zero(U);
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < (size_t)r && j < k; j++) {
                double u = 0;
                for (size_t a = 0; a < k; a++)
                    u += Q[i * k + a] * gsl_matrix_get(S, a, j);
                gsl_matrix_set(U, i, j, u);
            }
    }
    free(Q);
    free(G);
    free(H);
    free(prev);
    free(tk);
    free(acc);
    gsl_matrix_free(T);
    gsl_matrix_free(S);
    gsl_vector_free(theta);
    if (ws)
        gsl_eigen_symmv_free(ws);
    return rc;
}

/* Is a fit of this size done by subspace iteration? */
static int iterative(int solver, int rows, int dim, int r) {
    if (solver != HALO_PREDICTOR_FIT_SOLVER_AUTO)
        return solver == HALO_PREDICTOR_FIT_SOLVER_ITERATIVE;
    double lim = rows < dim ? rows : dim;
    return (double)rows * dim * lim > DENSE_MAX_WORK && r + ITER_EXTRA < lim / 2;
}

/*
 * Fits W (rows x dim) ~ U V (U: rows x r into u, V: r x dim into v) with row weights d
 * (NULL: none) and input whitening C^1/2, C = c / n (c NULL: plain SVD): U_r = top left
 * singular vectors of D W C^1/2, U = D^-1 U_r, V = U_r^T D W. The dense path takes B, C^1/2
 * up to a rotation (half_power; NULL when c is), the iterative one c and n.
 */
static int fit_matrix(const float *w, int rows, int dim, const double *d, const gsl_matrix *B,
                      const double *c, long n, int solver, int r, float *u, float *v) {
    gsl_matrix *U = gsl_matrix_alloc((size_t)rows, (size_t)r);
    double *acc = calloc((size_t)r * (size_t)dim, sizeof *acc);
    int rc = U && acc ? 0 : -1;
    if (rc == 0 && iterative(solver, rows, dim, r)) {
        rc = left_singular_iter(w, rows, dim, d, c, n, r, U);
    } else if (rc == 0) {
        gsl_matrix *DW = gsl_matrix_alloc((size_t)rows, (size_t)dim);
        gsl_matrix *A = gsl_matrix_alloc((size_t)rows, (size_t)dim);
        rc = DW && A ? 0 : -1;
        for (size_t i = 0; rc == 0 && i < (size_t)rows; i++)
            for (size_t j = 0; j < (size_t)dim; j++)
                gsl_matrix_set(DW, i, j, (d ? d[i] : 1.0) * (double)w[i * (size_t)dim + j]);
        if (rc == 0 && B)
            rc = gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, 1.0, DW, B, 0.0, A) == GSL_SUCCESS ? 0
                                                                                               : -1;
        else if (rc == 0)
            rc = gsl_matrix_memcpy(A, DW) == GSL_SUCCESS ? 0 : -1;
        if (rc == 0)
            rc = left_singular(A, r, U);
        gsl_matrix_free(DW);
        gsl_matrix_free(A);
    }
    if (rc == 0) {
        for (size_t i = 0; i < (size_t)rows; i++)
            for (size_t k = 0; k < (size_t)r; k++)
                u[i * (size_t)r + k] = (float)(gsl_matrix_get(U, i, k) / (d ? d[i] : 1.0));
        /* V = U^T D W, each element summed over the rows in ascending order. */
        for (size_t i = 0; i < (size_t)rows; i++) {
            const float *wi = w + i * (size_t)dim;
            double di = d ? d[i] : 1.0;
            for (size_t k = 0; k < (size_t)r; k++) {
                double uik = gsl_matrix_get(U, i, k);
                double *a = acc + k * (size_t)dim;
                for (size_t j = 0; j < (size_t)dim; j++)
                    a[j] += uik * (di * (double)wi[j]);
            }
        }
        for (size_t k = 0; k < (size_t)r * (size_t)dim; k++)
            v[k] = (float)acc[k];
    }
    gsl_matrix_free(U);
    free(acc);
    return rc;
}

/* The sizes of a candidate's buffers, from the fit's, and where to store them. */
typedef struct cand_carving {
    const halo_predictor_fit *x;
    cand *k;
} cand_carving;

static void carve_cand(void *obj, halo_arena *a) {
    const cand_carving *c = obj;
    const halo_predictor_fit *x = c->x;
    cand *k = c->k;
    size_t L = (size_t)x->n_layers, r = (size_t)k->rank, dim = (size_t)x->dim;
    size_t nf = 2 * (r * dim + (size_t)x->hidden * r), na = r * dim + (size_t)x->kv_dim * r;
    k->ffn = halo_arena_take(a, L * nf, sizeof(float));
    k->attn = k->flags & HALO_PREDICTOR_ATTN ? halo_arena_take(a, L * na, sizeof(float)) : NULL;
    k->prior = k->flags & HALO_PREDICTOR_ATTN_PRIOR
                   ? halo_arena_take(a, L * (size_t)x->n_kv, sizeof(float))
                   : NULL;
    k->ffn_acc = halo_arena_take(a, L * N_SIZES, sizeof(recall_acc));
    k->attn_acc = halo_arena_take(a, L, sizeof(recall_acc));
    k->pred_attn = halo_arena_take(a, (size_t)x->n_kv, sizeof(float));
    k->layers = halo_arena_take(a, L, sizeof(halo_predictor_fit_recall));
}

/* Matrix m as contiguous float32 rows: the mapping itself for a float32 checkpoint, else
   dequantised into *buf (allocated on first use, the caller frees). NULL when out of memory. */
static const float *as_floats(const halo_mat *m, float **buf) {
    if (m->type == HALO_TYPE_F32 && m->row_bytes == (size_t)m->cols * sizeof(float))
        return m->data;
    if (!*buf)
        *buf = malloc((size_t)m->rows * (size_t)m->cols * sizeof **buf);
    if (!*buf)
        return NULL;
    for (int r = 0; r < m->rows; r++)
        halo_mat_row(m, r, *buf + (size_t)r * (size_t)m->cols);
    return *buf;
}

/* Fits candidate k (method, rank, flags set) from the pass-1 statistics. */
static int fit_cand(halo_predictor_fit *x, cand *k, halo_err *err) {
    size_t L = (size_t)x->n_layers, r = (size_t)k->rank, dim = (size_t)x->dim;
    size_t hidden = (size_t)x->hidden, kv_dim = (size_t)x->kv_dim, dd = dim * dim;
    size_t nf = 2 * (r * dim + hidden * r), na = r * dim + kv_dim * r;
    cand_carving carving = {x, k};
    int rc = halo_arena_init(&k->arena, carve_cand, &carving, "predictor fit", err);
    if (rc != HALO_OK)
        return rc;
    double *d = calloc(hidden, sizeof *d);
    gsl_matrix *B_ffn = gsl_matrix_alloc(dim, dim), *B_att = gsl_matrix_alloc(dim, dim);
    if (!d || !B_ffn || !B_att) {
        free(d);
        gsl_matrix_free(B_ffn);
        gsl_matrix_free(B_att);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "predictor fit: out of memory");
    }
    int aware = k->method != HALO_PREDICTOR_FIT_SVD, oom = 0;
    float *b1 = NULL, *b2 = NULL, *b3 = NULL, *bv = NULL;
    for (size_t l = 0; l < L && rc == 0; l++) {
        const halo_layer *lw = halo_model_layer(x->model, (int)l);
        const float *w1 = as_floats(&lw->w1, &b1), *w3 = as_floats(&lw->w3, &b3);
        const float *wv = as_floats(&lw->wv, &bv);
        if (!w1 || !w3 || !wv) {
            oom = rc = 1;
            break;
        }
        /* C^1/2 for the dense path only, and for attention only with value factors */
        if (aware && !iterative(x->solver, x->hidden, x->dim, k->rank))
            rc = half_power(x->c_ffn + l * dd, x->tokens[1], x->dim, B_ffn);
        if (rc == 0 && aware && k->attn && !iterative(x->solver, x->kv_dim, x->dim, k->rank))
            rc = half_power(x->c_att + l * dd, x->tokens[1], x->dim, B_att);
        const double *rows = NULL;
        if (k->method == HALO_PREDICTOR_FIT_AWARE_W2) {
            const float *w2 = as_floats(&lw->w2, &b2);
            if (!w2) {
                oom = rc = 1;
                break;
            }
            for (size_t j = 0; j < hidden; j++) {
                double s = 0;
                for (size_t i = 0; i < dim; i++)
                    s += (double)w2[i * hidden + j] * (double)w2[i * hidden + j];
                d[j] = sqrt(s) > 1e-12 ? sqrt(s) : 1e-12;
            }
            rows = d;
        }
        float *f = k->ffn + l * nf;
        float *v1 = f, *u1 = v1 + r * dim, *v3 = u1 + hidden * r, *u3 = v3 + r * dim;
        const gsl_matrix *bf = aware ? B_ffn : NULL, *ba = aware ? B_att : NULL;
        const double *cf = aware ? x->c_ffn + l * dd : NULL, *ca = aware ? x->c_att + l * dd : NULL;
        long n = x->tokens[1];
        if (rc == 0)
            rc = fit_matrix(w1, x->hidden, x->dim, rows, bf, cf, n, x->solver, k->rank, u1, v1) ||
                 fit_matrix(w3, x->hidden, x->dim, rows, bf, cf, n, x->solver, k->rank, u3, v3);
        if (rc == 0 && k->attn) {
            float *vv = k->attn + l * na, *uv = vv + r * dim;
            rc = fit_matrix(wv, x->kv_dim, x->dim, NULL, ba, ca, n, x->solver, k->rank, uv, vv);
        }
    }
    free(d);
    free(b1);
    free(b2);
    free(b3);
    free(bv);
    gsl_matrix_free(B_ffn);
    gsl_matrix_free(B_att);
    if (oom)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "predictor fit: out of memory");
    /* The prior: each attention group's mean oracle importance on the fit stories. */
    for (size_t i = 0; k->prior && i < L * (size_t)x->n_kv; i++)
        k->prior[i] = (float)(x->static_attn[i] / (double)x->tokens[1]);
    if (rc != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "predictor fit: the %s fit of rank %d failed (a GSL decomposition did "
                         "not converge or ran out of memory; non-finite weights?)",
                         METHOD_NAMES[k->method], k->rank);
    return HALO_OK;
}

static halo_predictor_factors factors_of(const cand *k) {
    return (halo_predictor_factors){k->rank, k->flags, k->ffn, k->attn, k->prior};
}

/* Writes candidate k to a file in `dir` and loads it back: the measurement then runs the
 * very code and bytes a user of the file runs. */
static int load_cand(halo_predictor_fit *x, cand *k, const char *dir, int idx, halo_err *err) {
    char path[4200];
    (void)snprintf(path, sizeof path, "%s/cand%d.pred", dir, idx);
    halo_predictor_factors f = factors_of(k);
    int rc = halo_predictor_write(path, x->model, &f, err);
    if (rc == HALO_OK)
        rc = halo_predictor_load(&k->p, path, x->model, err);
    (void)remove(path);
    return rc;
}

/* Fits every candidate and loads it back through a file in a fresh temporary directory.
 * GSL reports through return codes meanwhile, never aborts. */
static int fit_all(halo_predictor_fit *x, halo_err *err) {
    char dir[4096];
    const char *tmp = getenv("TMPDIR");
    (void)snprintf(dir, sizeof dir, "%s/halo-calibrate-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int rc = HALO_OK;
    for (int i = 0; rc == HALO_OK && i < x->n_cands; i++) {
        rc = fit_cand(x, &x->cands[i], err);
        if (rc == HALO_OK)
            rc = load_cand(x, &x->cands[i], dir, i, err);
    }
    (void)gsl_set_error_handler(old);
    (void)rmdir(dir);
    return rc;
}

/* ==== Report ==== */

static double acc_recall(const recall_acc *a, int t) {
    return a && a->n ? a->recall[t] / (double)a->n : (double)NAN;
}

static double acc_mass(const recall_acc *a, int t) {
    return a && a->n ? a->mass[t] / (double)a->n : (double)NAN;
}

/* The figures of one layer (ffn: that layer's N_SIZES accumulators). */
static halo_predictor_fit_recall layer_recall(const recall_acc *ffn, const recall_acc *attn) {
    halo_predictor_fit_recall s;
    memset(&s, 0, sizeof s);
    for (int t = 0; t < N_TAUS; t++) {
        for (int g = 0; g < N_SIZES; g++) {
            s.ffn[g][t] = acc_recall(&ffn[g], t);
            s.ffn_mass[g][t] = acc_mass(&ffn[g], t);
        }
        s.attn[t] = acc_recall(attn, t);
        s.attn_mass[t] = acc_mass(attn, t);
    }
    return s;
}

/* The mean over layers (each layer's figure divided by n_layers, summed in layer order). */
static halo_predictor_fit_recall summarise(const halo_predictor_fit *x, const recall_acc *ffn,
                                           const recall_acc *attn) {
    halo_predictor_fit_recall s;
    memset(&s, 0, sizeof s);
    for (int l = 0; l < x->n_layers; l++)
        for (int t = 0; t < N_TAUS; t++) {
            for (int g = 0; g < N_SIZES; g++) {
                s.ffn[g][t] += acc_recall(&ffn[l * N_SIZES + g], t) / x->n_layers;
                s.ffn_mass[g][t] += acc_mass(&ffn[l * N_SIZES + g], t) / x->n_layers;
            }
            s.attn[t] += acc_recall(&attn[l], t) / x->n_layers;
            s.attn_mass[t] += acc_mass(&attn[l], t) / x->n_layers;
        }
    return s;
}

/* Multiply-adds of one layer: projections and FFN, and the attention over `mean_pos`
 * cached positions (scores and weighted sum). */
static double layer_macs(const halo_predictor_fit *x, double mean_pos) {
    double dim = x->dim, hidden = x->hidden, kv = x->kv_dim;
    double proj = 2 * dim * dim + 2 * kv * dim, ffn = 3 * dim * hidden;
    return proj + ffn + mean_pos * 2 * dim;
}

/* Mean nanoseconds per layer and position; NaN without a clock. */
static double per_layer_ns(const halo_predictor_fit *x, uint64_t ns) {
    double n = (double)x->tokens[2] * x->n_layers;
    return x->clock && n > 0 ? (double)ns / n : (double)NAN;
}

static void make_report(halo_predictor_fit *x) {
    halo_predictor_fit_report *r = &x->report;
    memset(r, 0, sizeof *r);
    r->n_stories = x->n_stories;
    r->n_heldout = x->held;
    r->fit_positions = x->tokens[1];
    r->heldout_positions = x->tokens[2];
    r->n_layers = x->n_layers;
    for (int g = 0; g < N_SIZES; g++) {
        r->nominal_group_size[g] = SIZES[g];
        r->group_size[g] = x->groups[g].ffn_size;
        r->n_ffn_groups[g] = x->groups[g].n_ffn;
    }
    r->n_attn_groups = x->n_kv;
    for (int t = 0; t < N_TAUS; t++)
        r->taus[t] = TAUS[t];
    r->fixed = summarise(x, x->static_ffn_acc, x->static_attn_acc);
    r->chance = summarise(x, x->chance_ffn_acc, x->chance_attn_acc);
    r->equal_attn = summarise(x, x->chance_ffn_acc, x->equal_attn_acc);
    r->mean_positions = x->tokens[2] ? x->pos_sum / (double)x->tokens[2] : 0;
    r->layer_macs = layer_macs(x, 0);
    r->layer_macs_with_attention = layer_macs(x, r->mean_positions);
    r->attn_block_ns = per_layer_ns(x, x->block_ns[HALO_PHASE_ATTN]);
    r->ffn_block_ns = per_layer_ns(x, x->block_ns[HALO_PHASE_FFN]);
    uint64_t blocks = x->block_ns[0] + x->block_ns[1];
    for (int i = 0; i < x->n_cands; i++) {
        cand *k = &x->cands[i];
        for (int l = 0; l < x->n_layers; l++)
            k->layers[l] = layer_recall(&k->ffn_acc[(size_t)l * N_SIZES], &k->attn_acc[l]);
        x->report_cands[i] = (halo_predictor_fit_cand){
            .method = k->method,
            .rank = k->rank,
            .attn = attn_of_flags(k->flags),
            .macs = halo_predictor_flops(k->p),
            .time_ratio =
                blocks ? (double)(k->score_ns[0] + k->score_ns[1]) / (double)blocks : (double)NAN,
            .ffn_time_ratio = x->block_ns[HALO_PHASE_FFN] ? (double)k->score_ns[HALO_PHASE_FFN] /
                                                                (double)x->block_ns[HALO_PHASE_FFN]
                                                          : (double)NAN,
            .score_ns = per_layer_ns(x, k->score_ns[0] + k->score_ns[1]),
            .mean = summarise(x, k->ffn_acc, k->attn_acc),
            .layers = k->layers};
    }
    r->n_cands = x->n_cands;
    r->chosen = x->chosen;
    r->cands = x->report_cands;
    const cand *ch = &x->cands[x->chosen];
    r->file_bytes = halo_predictor_file_bytes(x->c, ch->rank, ch->flags);
}

/* ==== The fit ==== */

int halo_predictor_fit_new(halo_predictor_fit **out, const halo_model *model,
                           const halo_tokenizer *tok, const char *text, const char *text_name,
                           long max_stories, halo_err *err) {
    *out = NULL;
    HALO_ASSERT(model && tok && text);
    halo_predictor_fit *x = calloc(1, sizeof *x);
    if (!x)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "predictor fit: out of memory");
    x->model = model;
    x->c = halo_model_get_config(model);
    x->w = halo_model_get_weights(model);
    x->tok = tok;
    x->text = text;
    x->max_stories = max_stories;
    x->dim = x->c->dim;
    x->hidden = x->c->hidden_dim;
    x->n_layers = x->c->n_layers;
    x->kv_dim = halo_model_kv_dim(x->c);
    x->n_kv = x->c->n_kv_heads;
    x->name = strdup(text_name ? text_name : "text");
    int rc = x->name ? HALO_OK : HALO_FAIL(err, HALO_ERR_NOMEM, "predictor fit: out of memory");
    if (rc == HALO_OK)
        rc = alloc_state(x, err);
    if (rc != HALO_OK)
        goto fail;
    /* Count the stories (tokenization only). */
    halo_eval_config ec = {.tok = tok,
                           .seq_len = x->c->seq_len,
                           .vocab_size = x->c->vocab_size,
                           .max_stories = max_stories,
                           .forward = count_cb,
                           .forward_ctx = x};
    halo_eval_result r;
    rc = halo_eval_text(&ec, text, &r, err);
    if (rc != HALO_OK)
        goto fail;
    x->n_stories = r.stories;
    if (x->n_stories < 2) {
        rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                       "%s: %ld stor%s; at least 2 are needed (one to fit, one to measure)",
                       x->name, x->n_stories, x->n_stories == 1 ? "y" : "ies");
        goto fail;
    }
    *out = x;
    return HALO_OK;
fail:
    halo_predictor_fit_free(x);
    return rc;
}

long halo_predictor_fit_n_stories(const halo_predictor_fit *f) {
    return f->n_stories;
}

static int add_cand(halo_predictor_fit *x, int method, int rank, int flags) {
    for (int i = 0; i < x->n_cands; i++)
        if (x->cands[i].method == method && x->cands[i].rank == rank && x->cands[i].flags == flags)
            return i;
    HALO_ASSERT(x->n_cands < MAX_CANDS);
    x->cands[x->n_cands] = (cand){.method = method, .rank = rank, .flags = flags};
    return x->n_cands++;
}

/* The number of held-out stories the config asks for, or an error naming the config. */
static int check_config(const halo_predictor_fit *x, const halo_predictor_fit_config *cfg,
                        long *held, halo_err *err) {
    int max_rank = x->dim < x->hidden ? x->dim : x->hidden;
    if (cfg->method < 0 || cfg->method >= HALO_PREDICTOR_FIT_METHOD_COUNT)
        return HALO_FAIL(err, HALO_ERR_ARG, "predictor fit: method %d is not one of 0..%d",
                         cfg->method, HALO_PREDICTOR_FIT_METHOD_COUNT - 1);
    if (cfg->threads < 0 || cfg->threads > 1024)
        return HALO_FAIL(err, HALO_ERR_ARG, "predictor fit: threads %d is not in 0..1024",
                         cfg->threads);
    if (cfg->solver < 0 || cfg->solver >= HALO_PREDICTOR_FIT_SOLVER_COUNT)
        return HALO_FAIL(err, HALO_ERR_ARG, "predictor fit: solver %d is not one of 0..%d",
                         cfg->solver, HALO_PREDICTOR_FIT_SOLVER_COUNT - 1);
    if (cfg->attn < 0 || cfg->attn >= HALO_PREDICTOR_FIT_ATTN_COUNT)
        return HALO_FAIL(err, HALO_ERR_ARG, "predictor fit: attn %d is not one of 0..%d", cfg->attn,
                         HALO_PREDICTOR_FIT_ATTN_COUNT - 1);
    if (cfg->rank < 1 || cfg->rank > max_rank)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "predictor fit: rank %d is out of range 1..%d (min(dim, hidden_dim) of "
                         "the model)",
                         cfg->rank, max_rank);
    if (cfg->fit_from != 0 && cfg->fit_from < 2)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "predictor fit: fit_from %ld leaves no story to measure (0 or >= 2)",
                         cfg->fit_from);
    long h = cfg->fit_from ? cfg->fit_from - 1 : lround(0.7 * (double)x->n_stories);
    if (h < 1)
        h = 1;
    if (h >= x->n_stories) {
        if (cfg->fit_from)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "predictor fit: fit_from %ld leaves no story to fit on (%s has %ld)",
                             cfg->fit_from, x->name, x->n_stories);
        h = x->n_stories - 1;
    }
    *held = h;
    return HALO_OK;
}

int halo_predictor_fit_run(halo_predictor_fit *f, const halo_predictor_fit_config *cfg,
                           halo_err *err) {
    halo_predictor_fit *x = f;
    HALO_ASSERT(x->state == 0);
    x->state = 1;
    long held = 0;
    int rc = check_config(x, cfg, &held, err);
    if (rc != HALO_OK)
        return rc;
    x->held = held;
    x->progress = cfg->progress;
    x->progress_ctx = cfg->progress_ctx;
    x->clock = cfg->clock_ns;
    x->clock_ctx = cfg->clock_ctx;
    x->solver = cfg->solver;
    const halo_groups *gs[N_SIZES];
    for (int i = 0; i < N_SIZES; i++)
        gs[i] = &x->groups[i];
    rc = halo_pool_new(&x->pool, cfg->threads, err);
    if (rc == HALO_OK)
        rc = halo_oracle_ffn_new(&x->oracle_ffn, x->model, gs, N_SIZES, x->pool, err);
    if (rc != HALO_OK)
        return rc;
    /* Pass 1: statistics of the fit stories. */
    rc = run_pass(x, 1, held, x->n_stories, err);
    if (rc != HALO_OK)
        return rc;
    if (x->tokens[1] == 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: the fit stories hold no position", x->name);
    /* The candidates: the chosen predictor, and with compare every method and rank. */
    int max_rank = x->dim < x->hidden ? x->dim : x->hidden;
    x->chosen = add_cand(x, cfg->method, cfg->rank, ATTN_FLAGS[cfg->attn]);
    if (cfg->compare)
        for (int m = 0; m < HALO_PREDICTOR_FIT_METHOD_COUNT; m++)
            for (size_t i = 0; i < sizeof COMPARE_RANKS / sizeof COMPARE_RANKS[0]; i++)
                (void)add_cand(x, m, COMPARE_RANKS[i] < max_rank ? COMPARE_RANKS[i] : max_rank,
                               HALO_PREDICTOR_ATTN);
    rc = fit_all(x, err);
    if (rc != HALO_OK)
        return rc;
    /* Pass 2: measurement on the held-out stories. */
    x->clock_cost_ns = clock_cost_ns(x);
    rc = run_pass(x, 2, 0, held, err);
    if (rc != HALO_OK)
        return rc;
    make_report(x);
    x->state = 2;
    return HALO_OK;
}

const halo_predictor_fit_report *halo_predictor_fit_get_report(const halo_predictor_fit *f) {
    HALO_ASSERT(f->state == 2);
    return &f->report;
}

halo_predictor_factors halo_predictor_fit_factors(const halo_predictor_fit *f) {
    HALO_ASSERT(f->state == 2);
    return factors_of(&f->cands[f->chosen]);
}

int halo_predictor_fit_write(const halo_predictor_fit *f, const char *path, halo_err *err) {
    halo_predictor_factors fac = halo_predictor_fit_factors(f);
    return halo_predictor_write(path, f->model, &fac, err);
}
