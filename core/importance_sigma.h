/*
 * Measured importance spread: how unequal the groups of one block are on a real model, as
 * the sigma of a log-normal, for the synthetic scores of shape-only runs (core/importance.h,
 * engine key synthetic_sigma: measured).
 *
 * halo_importance_sigma_measure runs a model with weights over stories (teacher-forced, as
 * halo_eval_text encodes them) and, at every position, layer and block, takes the oracle
 * importance of each group (the L2 norm of the group's partial sum; core/predictor.h) at
 * several group counts: attention by query head and by KV head (the plan's attention
 * groups), FFN groups of 1, 2, 4, ... neurons. Within one block at one position the log
 * scores are centred on their mean; sigma is the pooled standard deviation of these
 * residuals over all positions (what a log-normal draw per group and block, as
 * HALO_SCORING_SYNTHETIC makes, has to match). Whether the log-normal fits is shown by the
 * residuals' quantiles in units of sigma (a normal gives -1.645, -0.674, 0, 0.674, 1.645)
 * and by the share of groups halo_select_critical marks at tau 0.9, measured and under the
 * fitted log-normal (seeded draws of the same number of groups).
 *
 * halo_importance_sigma_lookup reads the table measured on the bundled stories260K with
 * tok512 over data/tinystories-valid-dev.txt (compiled in; sim/validation/importance-sigma.csv
 * is the same measurement with its fit columns, tools/importance_sigma.c produces both).
 *
 * This module reads no files and prints nothing; the measurement is deterministic.
 */
#ifndef HALO_IMPORTANCE_SIGMA_H
#define HALO_IMPORTANCE_SIGMA_H

#include "core/model.h"
#include "core/status.h"
#include "core/tokenizer.h"

enum {
    HALO_IMPORTANCE_SIGMA_N_Q = 5, /* quantiles 5, 25, 50, 75, 95% */
};

/* One measured block kind, layer and group count. */
typedef struct halo_importance_sigma_row {
    int phase;      /* HALO_PHASE_ATTN (0) or HALO_PHASE_FFN (1) */
    int layer;      /* 0 .. n_layers-1 */
    int n_layers;   /* of the measured model */
    int n_groups;   /* groups per block */
    int group_size; /* neurons (FFN) or query heads (attention) per group */
    double sigma;   /* pooled within-block standard deviation of log importance */
    double q[HALO_IMPORTANCE_SIGMA_N_Q]; /* residual quantiles / sigma (5, 25, 50, 75, 95%) */
    double crit_measured;                /* share of groups critical at tau 0.9, measured */
    double crit_lognormal;               /* the same under the fitted log-normal */
    long blocks;                         /* blocks measured (positions) */
} halo_importance_sigma_row;

/*
 * Measures `model` (must have weights) over the first `max_stories` stories of `text`
 * (NUL-terminated; < 0: all), each at most `max_positions` positions (<= 0: the context).
 * *rows (heap; the caller frees it with free()) gets *n_rows rows ordered by phase, layer,
 * then increasing n_groups. Errors: HALO_ERR_ARG (no weights, no story), HALO_ERR_NOMEM.
 */
int halo_importance_sigma_measure(const halo_model *model, const halo_tokenizer *tok,
                                  const char *text, long max_stories, int max_positions,
                                  halo_importance_sigma_row **rows, int *n_rows, halo_err *err);

/*
 * The measured sigma for a block of kind `phase` at relative depth `depth` (layer /
 * (n_layers - 1), 0 for a one-layer model; clamped to [0, 1]) with `n_groups` groups, from
 * the compiled-in table: linear in depth between the measured layers, linear in
 * log(n_groups) between the measured group counts, and outside the measured counts the
 * nearest one (no extrapolation: a finer grouping than measured gets the finest measured
 * sigma).
 */
double halo_importance_sigma_lookup(int phase, double depth, int n_groups);

#endif /* HALO_IMPORTANCE_SIGMA_H */
