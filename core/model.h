/*
 * llama2.c checkpoints: loading (memory-mapped, read-only), validation, and writing random
 * checkpoints of any shape (for benchmarks and tests).
 *
 * File format (llama2.c "legacy" export): seven little-endian int32 (dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means the
 * classifier is stored separately), then float32 tensors in this order: token embedding,
 * attention norms, wq, wk, wv, wo, FFN norms, w1, w2, w3, final norm, optionally the legacy
 * RoPE tables (2 x seq_len x head_size/2, ignored), then the classifier when not shared.
 * The whole file is validated against the header before any tensor is touched.
 *
 * The model is immutable after loading: several run states, threads and simulated nodes may
 * share one model. This module does not compute anything (see forward.h).
 */
#ifndef HALO_MODEL_H
#define HALO_MODEL_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct halo_model_config {
    int dim;               /* transformer width (= n_heads * head_size) */
    int hidden_dim;        /* FFN hidden width */
    int n_layers;          /* transformer blocks */
    int n_heads;           /* query heads */
    int n_kv_heads;        /* key/value heads (n_heads is a multiple of it) */
    int vocab_size;        /* tokens; always positive here */
    int seq_len;           /* context length in positions */
    int shared_classifier; /* 1: the classifier is token_embedding; 0: a separate tensor */
} halo_model_config;

/* Read-only views into the mapped file. Matrices are row-major, one row per output. */
typedef struct halo_weights {
    const float *token_embedding; /* (vocab_size, dim) */
    const float *rms_att;         /* (n_layers, dim) */
    const float *wq;              /* (n_layers, dim, dim): rows = query outputs */
    const float *wk;              /* (n_layers, kv_dim, dim) */
    const float *wv;              /* (n_layers, kv_dim, dim) */
    const float *wo;              /* (n_layers, dim, dim): columns = attention outputs */
    const float *rms_ffn;         /* (n_layers, dim) */
    const float *w1;              /* (n_layers, hidden_dim, dim): gate */
    const float *w2;              /* (n_layers, dim, hidden_dim): down */
    const float *w3;              /* (n_layers, hidden_dim, dim): up */
    const float *rms_final;       /* (dim) */
    const float *wcls;            /* (vocab_size, dim); == token_embedding when shared */
} halo_weights;

typedef struct halo_model halo_model;

/* Storage type of the weights, for byte counts (numerics always run in float32). */
enum halo_weight_type {
    HALO_WEIGHT_F32 = 0, /* 4 bytes per weight */
    HALO_WEIGHT_Q80 = 1, /* 8-bit blocks of 32 + fp16 scale: 34 bytes per 32 weights */
    HALO_WEIGHT_Q40 = 2, /* 4-bit blocks of 32 + fp16 scale: 18 bytes per 32 weights */
    HALO_WEIGHT_TYPE_COUNT_ = 3
};

/* Bytes per weight of a type. */
double halo_weight_bytes(int weight_type);

/* Size of the fixed header in bytes. */
#define HALO_MODEL_HEADER_BYTES 28

/* Derived sizes every caller needs. */
static inline int halo_model_head_size(const halo_model_config *c) {
    return c->dim / c->n_heads;
}

static inline int halo_model_kv_dim(const halo_model_config *c) {
    return c->dim / c->n_heads * c->n_kv_heads;
}

/*
 * Checks a header's fields for consistency (all positive, heads divide dim, KV heads divide
 * heads, even head size, sizes within sane bounds). `what` names the file in messages.
 * Returns HALO_OK or HALO_ERR_FORMAT.
 */
int halo_model_config_check(const halo_model_config *cfg, const char *what, halo_err *err);

/*
 * Number of weight bytes after the header that a checkpoint with `cfg` holds, without and
 * with the legacy RoPE tables. `cfg` must have passed halo_model_config_check.
 */
uint64_t halo_model_payload_bytes(const halo_model_config *cfg, int with_rope_tables);

/*
 * Maps the checkpoint at `path` and validates it. On success *out owns the mapping until
 * halo_model_free. Errors: HALO_ERR_IO (cannot open/stat/map), HALO_ERR_FORMAT (header
 * inconsistent, file too short or too long), HALO_ERR_NOMEM. *out is NULL on failure.
 */
int halo_model_load(halo_model **out, const char *path, halo_err *err);

/*
 * Creates a shape-only model: a configuration without weights, for simulations whose
 * numerics are skipped (costs come from the shapes and `weight_type`). Errors:
 * HALO_ERR_FORMAT (inconsistent shape), HALO_ERR_ARG (weight type), HALO_ERR_NOMEM.
 */
int halo_model_new_shape(halo_model **out, const halo_model_config *cfg, int weight_type,
                         halo_err *err);

/* 1 when the model has real weights (loaded from a file), 0 for a shape-only model. */
int halo_model_has_weights(const halo_model *model);

/* Weight storage type (HALO_WEIGHT_F32 for checkpoints). */
int halo_model_weight_type(const halo_model *model);

/* Unmaps and frees; NULL is a no-op. */
void halo_model_free(halo_model *model);

/* The model's configuration; valid as long as the model. */
const halo_model_config *halo_model_get_config(const halo_model *model);

/* The model's tensors (all NULL for a shape-only model); valid as long as the model. */
const halo_weights *halo_model_get_weights(const halo_model *model);

/* Bytes of weights read once per decoded token (everything but unused embedding rows), in
 * the model's weight type. */
uint64_t halo_model_bytes_per_token(const halo_model *model);

/*
 * A 64-bit fingerprint of the model: FNV-1a over the whole checkpoint file (computed on
 * first use, then cached), or over the configuration and weight type of a shape-only
 * model. Files derived from a model (predictors) record it and are refused for another.
 */
uint64_t halo_model_hash(const halo_model *model);

/* Number of parameters (floats) in the checkpoint, legacy tables excluded. */
uint64_t halo_model_n_params(const halo_model *model);

/*
 * Writes a checkpoint of shape `cfg` (shared or separate classifier per
 * cfg->shared_classifier, no RoPE tables) filled with seeded uniform random weights scaled
 * like a trained model's (rows of norm ~1, norms of 1). Nothing is left at `path` on failure.
 * Errors: HALO_ERR_FORMAT (bad cfg), HALO_ERR_IO.
 */
int halo_model_write_random(const char *path, const halo_model_config *cfg, uint64_t seed,
                            halo_err *err);

#endif /* HALO_MODEL_H */
