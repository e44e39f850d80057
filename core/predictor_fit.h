/*
 * Fitting the importance predictor (core/predictor.h) of a model on a text of stories, and
 * measuring it on stories it was not fitted on: what `halo calibrate` runs, as a library
 * (halo_predictor_fit, which links GSL for its SVD and eigensolvers; halo_core does not).
 *
 * The stories of the text are split in two: stories 1..H are held out (measured) and
 * stories H+1..N are fitted on (config fit_from = H+1; by default the last 30%). Two passes
 * of the hooked forward (halo_forward_hooked, core/forward.h) run over them:
 *  1. fit stories: the second moments C = E[xb xb^T] of each block's normalised input, per
 *     layer, and the mean oracle score of every group (the "fixed" baseline: one ranking per
 *     layer, whatever the token);
 *  2. held-out stories: for every token, layer and block, the oracle's critical groups at
 *     50/80/90% of the importance mass (k groups), how many of them each candidate
 *     predictor ranks among its k best, and (with a clock) the time each candidate spends
 *     scoring beside the time the block itself takes.
 *
 * Fitting methods, per layer, for W1 and W3 (and Wv for the attention scores); each gives
 * W ~ U V of rank r:
 *  svd       truncated SVD of W (U V = U_r S_r V_r^T, the best rank r in Frobenius norm);
 *  aware     activation-aware: the W~ of rank r minimising E||(W - W~) xb||^2 over the
 *            calibration inputs: the projection of W on the top r left singular vectors
 *            of W C^{1/2} (U = U_r, V = U_r^T W; no inverse of C is needed);
 *  aware-w2  as aware, with the FFN rows weighted by ||W2[:, j]|| (the weight of neuron j
 *            in its score): the top left singular vectors of D W C^{1/2}, D = diag of the
 *            norms, give U = D^-1 U_r, V = U_r^T D W.
 * Attention groups are scored by the value factors (fitted like W1, W3), by a prior (the mean
 * oracle importance of each group on the fit stories) or equally (config attn).
 * With config compare, every method at ranks 4, 8, 16, 32 and 64 (each at most
 * min(dim, hidden_dim); attention value factors) is fitted and measured in the same pass.
 *
 * Every candidate is written to a predictor file in a temporary directory ($TMPDIR, else
 * /tmp) and loaded back before it is measured, so the measurement runs the very code and
 * bytes a user of the file runs; the directory is removed again.
 *
 * Fitting is deterministic: the same model, tokenizer, text and config give the same
 * factors and the same file bytes (timing only changes the reported times). This module
 * prints nothing and reads no clock of its own: progress and time come through callbacks.
 * Only the oracle runs over threads (config threads); the timed forward pass and scoring run
 * on the calling thread. While fitting, it turns GSL's global error handler off (and
 * restores it), so it must not run concurrently with other GSL users in the process.
 */
#ifndef HALO_PREDICTOR_FIT_H
#define HALO_PREDICTOR_FIT_H

#include "core/model.h"
#include "core/predictor.h"
#include "core/status.h"
#include "core/tokenizer.h"

#include <stdint.h>

enum halo_predictor_fit_method {
    HALO_PREDICTOR_FIT_SVD,      /* truncated SVD of the weights */
    HALO_PREDICTOR_FIT_AWARE,    /* activation-aware (whitened by the inputs' second moments) */
    HALO_PREDICTOR_FIT_AWARE_W2, /* activation-aware, FFN rows weighted by ||W2[:, j]|| */
    HALO_PREDICTOR_FIT_METHOD_COUNT
};

/* How the fitted predictor scores attention groups (the predictor file's flags). */
enum halo_predictor_fit_attn {
    HALO_PREDICTOR_FIT_ATTN_FACTORS, /* low-rank value factors (HALO_PREDICTOR_ATTN) */
    HALO_PREDICTOR_FIT_ATTN_PRIOR,   /* a fixed score per group (HALO_PREDICTOR_ATTN_PRIOR) */
    HALO_PREDICTOR_FIT_ATTN_NONE,    /* all groups score equally (no flag) */
    HALO_PREDICTOR_FIT_ATTN_COUNT
};

/* How the top singular vectors of a fit are found. */
enum halo_predictor_fit_solver {
    HALO_PREDICTOR_FIT_SOLVER_AUTO,      /* dense for small matrices, iterative for large ones */
    HALO_PREDICTOR_FIT_SOLVER_DENSE,     /* GSL's full SVD (and eigendecomposition): exact */
    HALO_PREDICTOR_FIT_SOLVER_ITERATIVE, /* subspace iteration for the top r only */
    HALO_PREDICTOR_FIT_SOLVER_COUNT
};

enum {
    HALO_PREDICTOR_FIT_N_SIZES = 3, /* FFN group sizes measured: 8, 16, 32 neurons */
    HALO_PREDICTOR_FIT_N_TAUS = 3,  /* importance mass fractions: 0.5, 0.8, 0.9 */
    /* The rank measured as the best trade-off for the bundled model (docs/predictor.md). */
    HALO_PREDICTOR_FIT_DEFAULT_RANK = 16,
};

/*
 * Reports progress: called after each story a pass runs, with `story` the 1-based number of
 * the story just done and first..last (1-based, inclusive) the stories of the pass; then
 * once when the pass ends (also when it failed), with story = 0. `pass` is 1 (fitting:
 * statistics of the fit stories) or 2 (measuring the held-out stories).
 */
typedef void (*halo_predictor_fit_progress_fn)(void *ctx, int pass, long story, long first,
                                               long last);

/* A clock in nanoseconds, monotonic over one halo_predictor_fit_run (`halo calibrate` passes
 * the thread's CPU time, which a preempted interval does not inflate). */
typedef uint64_t (*halo_predictor_fit_clock_fn)(void *ctx);

/* What to fit (plain data; halo_predictor_fit_config_init gives the defaults). */
typedef struct halo_predictor_fit_config {
    int method;    /* enum halo_predictor_fit_method (default aware) */
    int rank;      /* of the factors, 1..min(dim, hidden_dim) (default 16) */
    int attn;      /* enum halo_predictor_fit_attn (default prior) */
    long fit_from; /* fit on stories fit_from..N, measure 1..fit_from-1; >= 2, or 0: the last
                      30% are fitted on (at least 1 story each side) */
    int compare;   /* nonzero: also fit and measure every method at ranks 4..64 */
    int solver;    /* enum halo_predictor_fit_solver (default auto) */
    int threads;   /* the oracle's threads, 0..1024, 0 = one per core (default 0); the timed
                      forward and scoring stay on the calling thread */
    halo_predictor_fit_progress_fn progress; /* optional */
    void *progress_ctx;
    halo_predictor_fit_clock_fn clock_ns; /* optional; NULL: nothing is timed (times NaN) */
    void *clock_ctx;
} halo_predictor_fit_config;

/* Recall of one scorer, by FFN group size (index into group_size) and mass fraction (index
 * into taus). Each figure is a mean over tokens (and, in a mean, then over layers); NaN when
 * no token was measured. */
typedef struct halo_predictor_fit_recall {
    /* share of the oracle's critical groups (the fewest holding the fraction tau of the true
     * importance; k of them) among the scorer's top k */
    double ffn[HALO_PREDICTOR_FIT_N_SIZES][HALO_PREDICTOR_FIT_N_TAUS];
    double attn[HALO_PREDICTOR_FIT_N_TAUS];
    /* share of the true importance mass that the scorer's top k hold */
    double ffn_mass[HALO_PREDICTOR_FIT_N_SIZES][HALO_PREDICTOR_FIT_N_TAUS];
    double attn_mass[HALO_PREDICTOR_FIT_N_TAUS];
} halo_predictor_fit_recall;

/* One fitted and measured predictor. */
typedef struct halo_predictor_fit_cand {
    int method;            /* enum halo_predictor_fit_method */
    int rank;              /* of the factors */
    int attn;              /* enum halo_predictor_fit_attn */
    double macs;           /* multiply-adds per layer (halo_predictor_flops) */
    double time_ratio;     /* scoring time / time of the blocks scored; NaN without a clock */
    double ffn_time_ratio; /* FFN scoring time / FFN block time; NaN without a clock */
    double score_ns;       /* scoring time per layer and position, ns; NaN without a clock */
    halo_predictor_fit_recall mean;          /* mean over layers */
    const halo_predictor_fit_recall *layers; /* (n_layers) per layer */
} halo_predictor_fit_cand;

/* The outcome of halo_predictor_fit_run (owned by the fit object). */
typedef struct halo_predictor_fit_report {
    long n_stories;         /* stories in the text (at most max_stories) */
    long n_heldout;         /* stories 1..n_heldout measured, n_heldout+1..n_stories fitted on */
    long fit_positions;     /* positions run on the fit stories */
    long heldout_positions; /* positions measured */
    int n_layers;
    int nominal_group_size[HALO_PREDICTOR_FIT_N_SIZES]; /* 8, 16, 32 */
    int group_size[HALO_PREDICTOR_FIT_N_SIZES];         /* the same, at most hidden_dim */
    int n_ffn_groups[HALO_PREDICTOR_FIT_N_SIZES];       /* FFN groups per layer at that size */
    int n_attn_groups;                                  /* attention groups per layer (KV heads) */
    double taus[HALO_PREDICTOR_FIT_N_TAUS];             /* 0.5, 0.8, 0.9 */
    halo_predictor_fit_recall fixed;      /* one fixed ranking per layer: the mean oracle score
                                             on the fit stories */
    halo_predictor_fit_recall chance;     /* a random ranking: k / groups */
    halo_predictor_fit_recall equal_attn; /* attention groups all scored equally (its FFN
                                             figures are chance) */
    double mean_positions;                /* mean cached positions (pos + 1) over measured tokens */
    double layer_macs;                    /* multiply-adds of a layer: projections and FFN */
    double layer_macs_with_attention;     /* the same plus attention over mean_positions */
    double attn_block_ns; /* attention block per layer and position; NaN w/o clock */
    double ffn_block_ns;  /* FFN block per layer and position; NaN without a clock */
    int n_cands;          /* 1, or more with compare */
    int chosen;           /* index of the configured predictor in cands */
    const halo_predictor_fit_cand *cands; /* (n_cands) */
    uint64_t file_bytes; /* size of the chosen predictor's file (halo_predictor_file_bytes) */
} halo_predictor_fit_report;

typedef struct halo_predictor_fit halo_predictor_fit;

/* Fills *cfg with the defaults: aware, rank 16, attention prior, the last 30% fitted on,
 * no comparison, no callbacks. */
void halo_predictor_fit_config_init(halo_predictor_fit_config *cfg);

/* "svd", "aware", "aware-w2" (static strings; `method` must be in range, asserted). */
const char *halo_predictor_fit_method_name(int method);

/* "auto", "dense", "iterative" (static strings; `solver` must be in range, asserted). */
const char *halo_predictor_fit_solver_name(int solver);

/* "factors", "prior", "none" (static strings; `attn` must be in range, asserted). */
const char *halo_predictor_fit_attn_name(int attn);

/*
 * Prepares a fit of `model`'s predictor on `text` (NUL-terminated stories separated by lines
 * holding only <|endoftext|>, as core/eval.h reads them): allocates every buffer and counts
 * the stories (tokenization only), the first `max_stories` of them (< 0: all). `text_name`
 * (e.g. the file's path; NULL: "text") names the text in messages. The model, tokenizer and
 * text (none NULL) are borrowed and must outlive the object; text_name is copied.
 * Errors: HALO_ERR_ARG (a shape-only model: fitting needs weights), HALO_ERR_FORMAT (fewer
 * than 2 stories: one is needed to fit, one to measure), HALO_ERR_NOMEM. *out is NULL on
 * failure.
 */
int halo_predictor_fit_new(halo_predictor_fit **out, const halo_model *model,
                           const halo_tokenizer *tok, const char *text, const char *text_name,
                           long max_stories, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_predictor_fit_free(halo_predictor_fit *f);

/* Stories counted by halo_predictor_fit_new (>= 2). */
long halo_predictor_fit_n_stories(const halo_predictor_fit *f);

/*
 * Fits and measures: pass 1 over the fit stories, the fit of every candidate (the
 * configured predictor, and with cfg->compare the comparison set), pass 2 over the held-out
 * stories. Calls cfg->progress (if set) as its typedef says, and cfg->clock_ns (if set)
 * around every block and scoring of pass 2. Runs once per object (asserted).
 * Errors: HALO_ERR_ARG (method, attn, solver, threads or rank out of range; fit_from neither 0 nor
 * >= 2, or leaving no story to fit on), HALO_ERR_FORMAT (the fit stories hold no position; a GSL
 * decomposition failed, which non-finite weights cause), HALO_ERR_IO (the temporary
 * directory or files), HALO_ERR_NOMEM. After an error the object can only be freed.
 */
int halo_predictor_fit_run(halo_predictor_fit *f, const halo_predictor_fit_config *cfg,
                           halo_err *err);

/*
 * The figures of the run: valid after halo_predictor_fit_run returned HALO_OK, owned by the
 * object and valid until halo_predictor_fit_free.
 */
const halo_predictor_fit_report *halo_predictor_fit_get_report(const halo_predictor_fit *f);

/*
 * The factors of the configured predictor (the arrays owned by the object, valid until
 * halo_predictor_fit_free); after a successful halo_predictor_fit_run only (asserted).
 */
halo_predictor_factors halo_predictor_fit_factors(const halo_predictor_fit *f);

/*
 * Writes the configured predictor to `path` with halo_predictor_write (atomically: `path` is
 * either untouched or complete); after a successful halo_predictor_fit_run only (asserted).
 * Errors: those of halo_predictor_write (HALO_ERR_IO, HALO_ERR_NOMEM).
 */
int halo_predictor_fit_write(const halo_predictor_fit *f, const char *path, halo_err *err);

#endif /* HALO_PREDICTOR_FIT_H */
