/*
 * The importance predictor: before a block runs, it scores every neuron group's expected
 * contribution for the current token from the block's normalised input xb (which the root
 * holds when the sync starts), at a small fraction of the block's cost.
 *
 * LLaMA's SwiGLU has no exact zeros, so the predictor estimates magnitudes: for FFN neuron j,
 * h_j = silu(w1_j . xb) * (w3_j . xb) is approximated through low-rank factors of W1 and W3
 * (rank r, fitted offline by core/predictor_fit.h), and neuron j's contribution to the output is
 * |h_j| * ||W2[:, j]||. A group's score is the root of the sum of its neurons' squared
 * scores, so the file does not depend on the group size. Attention groups are scored from
 * the low-rank query/key/value projections in the same way (or, in files without attention
 * factors, all get equal scores).
 *
 * The oracle importance (the norm of a group's true partial sum) is also provided, to
 * measure the predictor.
 *
 * File format (little-endian): magic "HALOPRED", uint32 version, uint64 model hash
 * (halo_model_hash; files made before 2026-12-07 hold halo_model_hash_fnv1a, accepted too),
 * int32 dim, hidden_dim, n_layers, rank, flags (40 bytes), then per layer
 * the float32 factors
 *     V1 (rank, dim), U1 (hidden_dim, rank), V3 (rank, dim), U3 (hidden_dim, rank),
 *     then with HALO_PREDICTOR_ATTN: Vv (rank, dim), Uv (kv_dim, rank),
 *     or with HALO_PREDICTOR_ATTN_PRIOR: prior (n_kv_heads), finite and >= 0
 * (row-major; W1 ~ U1 V1, W3 ~ U3 V3, Wv ~ Uv Vv), then a uint32 CRC-32 (halo_crc32) of
 * everything before it. Loading checks every field and refuses a file made for another model.
 *
 * Attention groups are scored in one of three ways, by the flags:
 *  - HALO_PREDICTOR_ATTN: as if the group's query heads attended to the current token only:
 *    with v~ = Uv Vv xb and M_g = the sum over the group's query heads h of Wo[:, h's
 *    columns] (dim, head_size), score_g = ||M_g v~_g|| (as sqrt(v~_g^T (M_g^T M_g) v~_g),
 *    the Gram matrix precomputed at load);
 *  - HALO_PREDICTOR_ATTN_PRIOR: a fixed score per layer and group (`halo calibrate` stores
 *    the mean oracle importance on its text), whatever the input;
 *  - neither: every group scores 1.
 * The two flags exclude each other. On the bundled model the prior ranks attention groups
 * best and the value factors no better than chance (docs/predictor.md): an attention
 * group's output depends on the whole context, which the current token's input cannot show.
 * The column norms of W2 and the Gram matrices come from the model at load time.
 */
#ifndef HALO_PREDICTOR_H
#define HALO_PREDICTOR_H

#include "core/model.h"
#include "core/plan.h"
#include "core/pool.h"
#include "core/status.h"

#include <stdint.h>

#define HALO_PREDICTOR_VERSION      1
#define HALO_PREDICTOR_HEADER_BYTES 40

/* Bits of the flags field (at most one of the two). */
enum {
    HALO_PREDICTOR_ATTN = 1,      /* the file holds attention value factors (Vv, Uv) */
    HALO_PREDICTOR_ATTN_PRIOR = 2 /* the file holds a fixed attention score per group */
};

typedef struct halo_predictor halo_predictor;

/*
 * Loads the predictor at `path` for `model` (which it keeps a reference to: the model must
 * outlive the predictor). Every scratch buffer is allocated here; scoring allocates nothing.
 * Errors: HALO_ERR_IO (cannot open or read), HALO_ERR_FORMAT (bad magic, version, flags,
 * dims that differ from the model's, rank outside 1..min(dim, hidden_dim), a size that is
 * not exactly what the header implies, checksum, non-finite factor; "made for another
 * model" when the hash differs; every message names the file), HALO_ERR_ARG (a shape-only
 * model: the predictor needs weights), HALO_ERR_NOMEM. *out is NULL on failure.
 */
int halo_predictor_load(halo_predictor **out, const char *path, const halo_model *model,
                        halo_err *err);

/* Frees; NULL is a no-op. */
void halo_predictor_free(halo_predictor *p);

/* Rank of the low-rank factors. */
int halo_predictor_rank(const halo_predictor *p);

/* The file's flags (how attention groups are scored). */
int halo_predictor_flags(const halo_predictor *p);

/*
 * Predicted importance of the FFN groups of `layer` (scores[g->n_ffn], >= 0) for the
 * block's normalised input xb (dim floats). Uses the predictor's scratch: not thread-safe.
 */
void halo_predictor_score_ffn(halo_predictor *p, const halo_groups *g, int layer, const float *xb,
                              float *scores);

/*
 * The same for the attention groups of `layer` (scores[g->n_attn]); xb is the attention
 * block's normalised input. Value factors, the prior or 1 for every group, by the flags.
 */
void halo_predictor_score_attn(halo_predictor *p, const halo_groups *g, int layer, const float *xb,
                               float *scores);

/* Multiply-adds the predictor spends on one layer (FFN and attention scoring; the
 * elementwise SwiGLU and weighting counted as one each per neuron). */
double halo_predictor_flops(const halo_predictor *p);

/*
 * Oracle: the true importance of every FFN group of `layer` for input xb: the L2 norm of
 * the group's partial sum W2[:, group] h_group. `model` must have weights; `scratch` holds
 * hidden_dim + dim floats.
 */
void halo_oracle_score_ffn(const halo_model *model, const halo_groups *g, int layer,
                           const float *xb, float *scratch, float *scores);

/*
 * The FFN oracle for n groupings of a model's FFN at once, equal to n calls of
 * halo_oracle_score_ffn to the bit whatever the pool: h is computed once (its matrix-vector
 * products over `pool`), and a block-quantised W2 is dequantised once, a row at a time, for all
 * groupings instead of once per grouping, its rows split over `pool` (the predictor fit scores
 * three groupings of every FFN block at every position, and this was nearly all of a
 * quantised model's calibration). `pool` (borrowed, may be NULL) and the groupings must outlive
 * the object. Errors: HALO_ERR_NOMEM.
 */
typedef struct halo_oracle_ffn halo_oracle_ffn;
int halo_oracle_ffn_new(halo_oracle_ffn **out, const halo_model *model, const halo_groups *const *g,
                        int n, halo_pool *pool, halo_err *err);
/* scores[k] receives grouping k's scores for input xb of `layer`. Allocates nothing. */
void halo_oracle_ffn_score(halo_oracle_ffn *o, int layer, const float *xb, float *const *scores);
void halo_oracle_ffn_free(halo_oracle_ffn *o);

/*
 * Oracle for the attention groups of `layer`: the L2 norm of each group's partial sum
 * Wo[:, group's columns] att[group's columns], where `att` (dim floats) holds the query
 * heads' attention outputs (before Wo). `model` must have weights.
 */
void halo_oracle_score_attn(const halo_model *model, const halo_groups *g, int layer,
                            const float *att, float *scores);

/*
 * The smallest set of groups whose scores cover a fraction `tau` (0..1] of the total:
 * marks critical[i] = 1 for them (0 for the others) and returns how many. Groups are taken
 * in order of decreasing score (ties: the lower index first) until their sum, accumulated in
 * double precision in that order, reaches tau times the total. tau >= 1 marks every group,
 * and so does a total of zero (nothing is known, so nothing may be dropped); tau <= 0 marks
 * none. Scores must be finite and >= 0 and tau not NaN (asserted). Allocates nothing.
 */
int halo_select_critical(const float *scores, int n, double tau, unsigned char *critical);

/*
 * Writes the group indices 0..n-1 into order[0..n) in the order halo_select_critical takes
 * groups: decreasing score, ties to the lower index (a heap sort: n log n, no allocation).
 * Scores must not be NaN.
 */
void halo_rank_groups(const float *scores, int n, int *order);

/*
 * The factors of a predictor file, for halo_predictor_write (layouts as in the file, all
 * layers one after the other; borrowed for the call).
 */
typedef struct halo_predictor_factors {
    int rank;                /* 1..min(dim, hidden_dim) */
    int flags;               /* 0, HALO_PREDICTOR_ATTN or HALO_PREDICTOR_ATTN_PRIOR */
    const float *ffn;        /* (n_layers, 2 * (rank * dim + hidden_dim * rank)): V1 U1 V3 U3 */
    const float *attn;       /* (n_layers, rank * dim + kv_dim * rank): Vv Uv; NULL without ATTN */
    const float *attn_prior; /* (n_layers, n_kv_heads), >= 0; NULL without ATTN_PRIOR */
} halo_predictor_factors;

/* Bytes of a predictor file for `model` with these rank and flags. */
uint64_t halo_predictor_file_bytes(const halo_model_config *cfg, int rank, int flags);

/*
 * Writes a predictor file for `model` (its hash and dims) atomically: into a temporary file
 * beside `path`, then renamed over it, so `path` is either untouched or complete. Errors:
 * HALO_ERR_ARG (rank or flags out of range, arrays that do not match the flags, a
 * non-finite factor, a negative prior), HALO_ERR_IO, HALO_ERR_NOMEM.
 */
int halo_predictor_write(const char *path, const halo_model *model, const halo_predictor_factors *f,
                         halo_err *err);

#endif /* HALO_PREDICTOR_H */
