/*
 * The importance predictor: before a block runs, it scores every neuron group's expected
 * contribution for the current token from the block's normalised input xb (which the root
 * holds when the sync starts), at a small fraction of the block's cost.
 *
 * LLaMA's SwiGLU has no exact zeros, so the predictor estimates magnitudes: for FFN neuron j,
 * h_j = silu(w1_j . xb) * (w3_j . xb) is approximated through low-rank factors of W1 and W3
 * (rank r, fitted offline by `halo calibrate`), and neuron j's contribution to the output is
 * |h_j| * ||W2[:, j]||. A group's score is the root of the sum of its neurons' squared
 * scores, so the file does not depend on the group size. Attention groups are scored from
 * the low-rank query/key/value projections in the same way (or, in files without attention
 * factors, all get equal scores).
 *
 * The oracle importance (the norm of a group's true partial sum) is also provided, to
 * measure the predictor.
 *
 * File format (little-endian): magic "HALOPRED", uint32 version, uint64 model hash
 * (halo_model_hash), int32 dim, hidden_dim, n_layers, rank, flags, then per layer the
 * float32 factors (see predictor.c), then a CRC-32 of everything before it. Loading checks
 * every field and refuses a file made for another model.
 */
#ifndef HALO_PREDICTOR_H
#define HALO_PREDICTOR_H

#include "core/model.h"
#include "core/plan.h"
#include "core/status.h"

typedef struct halo_predictor halo_predictor;

/*
 * Loads the predictor at `path` for `model` (which it keeps a reference to). Errors:
 * HALO_ERR_IO, HALO_ERR_FORMAT (bad magic, version, sizes, checksum; "made for another
 * model" when the hash differs), HALO_ERR_NOMEM.
 */
int halo_predictor_load(halo_predictor **out, const char *path, const halo_model *model,
                        halo_err *err);

/* Frees; NULL is a no-op. */
void halo_predictor_free(halo_predictor *p);

/* Rank of the low-rank factors. */
int halo_predictor_rank(const halo_predictor *p);

/*
 * Predicted importance of the FFN groups of `layer` (scores[g->n_ffn], >= 0) for the
 * block's normalised input xb (dim floats). Uses the predictor's scratch: not thread-safe.
 */
void halo_predictor_score_ffn(halo_predictor *p, const halo_groups *g, int layer,
                              const float *xb, float *scores);

/* The same for the attention groups of `layer` (scores[g->n_attn]). */
void halo_predictor_score_attn(halo_predictor *p, const halo_groups *g, int layer,
                               const float *xb, float *scores);

/* Multiply-adds the predictor spends on one layer (FFN and attention scoring). */
double halo_predictor_flops(const halo_predictor *p);

/*
 * Oracle: the true importance of every FFN group of `layer` for input xb: the L2 norm of
 * the group's partial sum W2[:, group] h_group. `model` must have weights; `scratch` holds
 * hidden_dim + dim floats.
 */
void halo_oracle_score_ffn(const halo_model *model, const halo_groups *g, int layer,
                           const float *xb, float *scratch, float *scores);

/*
 * The smallest set of groups whose scores cover a fraction `tau` (0..1] of the total:
 * marks critical[i] = 1 for them (0 for the others) and returns how many. Ties keep the
 * lower index first; tau >= 1 marks every group.
 */
int halo_select_critical(const float *scores, int n, double tau, unsigned char *critical);

#endif /* HALO_PREDICTOR_H */
