/*
 * LLaMA-family models: llama2.c checkpoints and GGUF files, loaded memory-mapped and
 * read-only with every field validated; writing random llama2.c checkpoints of any shape
 * (benchmarks, tests) and GGUF files (core/model_gguf.c: conversion and synthetic models).
 *
 * File format (llama2.c "legacy" export): seven little-endian int32 (dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means the
 * classifier is stored separately), then float32 tensors in this order: token embedding,
 * attention norms, wq, wk, wv, wo, FFN norms, w1, w2, w3, final norm, optionally the legacy
 * RoPE tables (2 x seq_len x head_size/2, ignored), then the classifier when not shared.
 * The whole file is validated against the header before any tensor is touched.
 *
 * GGUF files (core/gguf.h; the `llama` architecture of llama.cpp: Llama 1/2/3, TinyLlama,
 * grouped-query attention, rope_theta, tied or separate output) are recognised by their
 * magic. Their matrices may be F32, F16, Q8_0, Q4_0, Q4_K or Q6_K (Q4_K_M files mix the last
 * two); norms are float32. Every tensor is checked for its name, shape and type before
 * anything is computed; the message names the tensor or key at fault.
 *
 * Computing code reads the weights as halo_layer matrices (core/mat.h), which work for every
 * format; the float pointers of halo_weights exist for llama2.c checkpoints only (the norms
 * for every format).
 *
 * The model is immutable after loading: several run states, threads and simulated nodes may
 * share one model. This module does not compute anything (see forward.h).
 */
#ifndef HALO_MODEL_H
#define HALO_MODEL_H

#include "core/mat.h"
#include "core/status.h"
#include "core/tokenizer.h"

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

/*
 * Read-only views into the mapped file. Matrices are row-major, one row per output. For a
 * GGUF model only the three norm pointers are set (copies of the file's norms, laid out as
 * here); every matrix pointer is NULL: use halo_model_layer.
 */
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

/* One transformer block: its norms and its seven matrices, in any supported type. */
typedef struct halo_layer {
    const float *rms_att; /* (dim) */
    const float *rms_ffn; /* (dim) */
    halo_mat wq;          /* (dim, dim): rows = query outputs */
    halo_mat wk;          /* (kv_dim, dim) */
    halo_mat wv;          /* (kv_dim, dim) */
    halo_mat wo;          /* (dim, dim): columns = attention outputs */
    halo_mat w1;          /* (hidden_dim, dim): gate */
    halo_mat w2;          /* (dim, hidden_dim): down */
    halo_mat w3;          /* (hidden_dim, dim): up */
} halo_layer;

/* Storage type of the weights, for the byte counts of costs (shape-only models, scenario
   files). A loaded GGUF model reports the type nearest its matrices' mean bytes per weight
   (Q4_K and Q4_K_M count as Q40: 4.5 bits; F16 as F16). */
enum halo_weight_type {
    HALO_WEIGHT_F32 = 0, /* 4 bytes per weight */
    HALO_WEIGHT_Q80 = 1, /* 8-bit blocks of 32 + fp16 scale: 34 bytes per 32 weights */
    HALO_WEIGHT_Q40 = 2, /* 4-bit blocks of 32 + fp16 scale: 18 bytes per 32 weights */
    HALO_WEIGHT_F16 = 3, /* 2 bytes per weight */
    HALO_WEIGHT_TYPE_COUNT_ = 4
};

/* Where a model came from. */
enum halo_model_format {
    HALO_MODEL_LLAMA2C = 0, /* a llama2.c checkpoint (float32) */
    HALO_MODEL_GGUF = 1,    /* a GGUF file */
    HALO_MODEL_SHAPE = 2,   /* shape only, no weights */
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
 * Maps the checkpoint or GGUF file at `path` and validates it. On success *out owns the
 * mapping until halo_model_free. Errors: HALO_ERR_IO (cannot open/stat/map), HALO_ERR_FORMAT
 * (header inconsistent, file too short or too long; in a GGUF file a missing, misshapen or
 * unsupported tensor or key, named), HALO_ERR_NOMEM. *out is NULL on failure.
 */
int halo_model_load(halo_model **out, const char *path, halo_err *err);

/* Options of halo_model_load_opts. */
typedef struct halo_model_opts {
    int max_seq_len; /* > 0: cap seq_len (a GGUF file's context_length) at this; the KV cache
                        of a run state is allocated for seq_len positions */
    int no_pack;     /* 1: compute Q4_0 and Q4_K matrices from the mapped file as they are
                        stored. By default, where the processor has kernels for it (AVX2),
                        each such matrix of a multiple of 8 rows is also copied with its rows
                        interleaved by eight (halo_mat.packed), which decodes faster and takes
                        that much more memory, as llama.cpp's repacking of Q4_0 does */
} halo_model_opts;

/* halo_model_load with options (NULL: none). */
int halo_model_load_opts(halo_model **out, const char *path, const halo_model_opts *opts,
                         halo_err *err);

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

/* Layer `layer`'s weights (0 <= layer < n_layers), or NULL for a shape-only model. */
const halo_layer *halo_model_layer(const halo_model *model, int layer);

/* The token embedding (vocab_size, dim) and the classifier (the same matrix when shared);
   NULL for a shape-only model. */
const halo_mat *halo_model_embedding(const halo_model *model);
const halo_mat *halo_model_classifier(const halo_model *model);

/* enum halo_model_format. */
int halo_model_format(const halo_model *model);

/* FFN neuron groups must be a multiple of this many neurons: the block of the down
   projection's storage type (1 for float weights; 32 for Q8_0 and Q4_0; 256 for K-quants),
   so that every group's columns of W2 are whole blocks. */
int halo_model_ffn_align(const halo_model *model);

/* RoPE base frequency (10000 for llama2.c checkpoints; a GGUF file's llama.rope.freq_base)
   and RMSNorm epsilon (1e-5; a GGUF file's llama.attention.layer_norm_rms_epsilon). */
float halo_model_rope_theta(const halo_model *model);
float halo_model_norm_eps(const halo_model *model);

/*
 * Fills freq[0 .. head_size/2) with the RoPE frequencies theta^(-2i/head_size) (divided by
 * the file's rope_freqs factors when it has them). For theta 10000 the values are those
 * llama2.c computes, bit for bit.
 */
void halo_model_rope_freq(const halo_model *model, float *freq);

/* Bytes of interleaved copies of matrices the model holds (halo_model_opts.no_pack). */
uint64_t halo_model_packed_bytes(const halo_model *model);

/* The GGUF file behind the model (its metadata holds the tokenizer), or NULL. */
const struct halo_gguf *halo_model_gguf(const halo_model *model);

/* Bytes of weights read once per decoded token (everything but unused embedding rows), in
 * the model's weight type (for a loaded model: the bytes of its tensors as stored). */
uint64_t halo_model_bytes_per_token(const halo_model *model);

/*
 * A 64-bit fingerprint of the model: XXH3-64 (libxxhash) of the whole checkpoint file
 * (computed on first use, then cached), or of the configuration and weight type of a
 * shape-only model. Files derived from a model (predictors) record it and are refused for
 * another; a socket cluster's root and workers compare it at the join. Never 0.
 */
uint64_t halo_model_hash(const halo_model *model);

/*
 * The fingerprint before 2026-12-07: FNV-1a 64 over the same bytes, one byte at a time
 * (0.68 s for a 620 MB file on this project's machines, where XXH3 takes 0.03 s). Only for
 * predictor files made then, which record it (core/predictor.c); not cached.
 */
uint64_t halo_model_hash_fnv1a(const halo_model *model);

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

/* ==== GGUF files (core/model_gguf.c) ==== */

/* File types halo writes; the numbers are llama.cpp's general.file_type values. */
enum halo_ftype {
    HALO_FTYPE_F32 = 0,
    HALO_FTYPE_F16 = 1,
    HALO_FTYPE_Q4_0 = 2,
    HALO_FTYPE_Q8_0 = 7,
    HALO_FTYPE_Q4_K_M = 15, /* Q4_K, with Q6_K for the classifier and for attn_v and
                               ffn_down of the layers llama.cpp's recipe keeps at 6 bits */
};

/* "f32", "f16", "q8_0", "q4_0", "q4_k_m" <-> enum halo_ftype (-1 / "unknown" otherwise). */
int halo_ftype_from_name(const char *name);
const char *halo_ftype_name(int ftype);

/* The shape called `name` ("tinyllama-1.1b", "llama2-7b", ...; halo_model_shape_names lists
   them). Returns HALO_OK or HALO_ERR_ARG for an unknown name. */
int halo_model_shape_named(const char *name, halo_model_config *out);
const char *halo_model_shape_names(void);

/*
 * Writes `src` (any loaded model) as a GGUF file of type `ftype` with the vocabulary of `tok`
 * (NULL: none; else its size must be the model's) and general.name `name` (NULL: "halo").
 * For the quantised types the hidden dimension is padded with zero neurons to whole blocks
 * (the function is unchanged). The file appears at `path` only once complete: on failure
 * nothing new is left there and an existing file is left as it was. Errors: HALO_ERR_ARG
 * (shape-only model, a width that is not whole blocks, vocabulary size), HALO_ERR_IO,
 * HALO_ERR_NOMEM.
 */
int halo_model_write_gguf(const char *path, const halo_model *src, const halo_tokenizer *tok,
                          int ftype, const char *name, halo_err *err);

/*
 * Writes a GGUF model of shape `cfg` with seeded random weights (as halo_model_write_random:
 * rows of norm ~1, norms of 1) in file type `ftype`, with the vocabulary of `tok` (NULL:
 * none) and RoPE base `rope_theta` (0: 10000; Llama 3 uses 500000). Errors as
 * halo_model_write_gguf, HALO_ERR_FORMAT for an inconsistent shape, HALO_ERR_ARG for a RoPE
 * base outside (1, 1e9).
 */
int halo_model_write_gguf_random(const char *path, const halo_model_config *cfg,
                                 const halo_tokenizer *tok, int ftype, uint64_t seed,
                                 float rope_theta, const char *name, halo_err *err);

#endif /* HALO_MODEL_H */
