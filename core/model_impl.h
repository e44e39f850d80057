/*
 * Internal to core/model.c and core/model_gguf.c: the model object. Not for use elsewhere.
 */
#ifndef HALO_MODEL_IMPL_H
#define HALO_MODEL_IMPL_H

#include "core/gguf.h"
#include "core/model.h"

struct halo_model {
    halo_model_config cfg;
    halo_weights w;
    int format;          /* enum halo_model_format */
    void *map;           /* llama2.c: the whole file (owned); NULL otherwise */
    const void *bytes;   /* the file's bytes (llama2.c: map; GGUF: the gguf's) */
    size_t n_bytes;      /* their length */
    int weight_type;     /* enum halo_weight_type */
    uint64_t hash;       /* halo_model_hash, 0 until computed */
    halo_layer *layers;  /* (n_layers); NULL for a shape-only model */
    halo_mat emb, cls;   /* token embedding, classifier */
    float *norms;        /* GGUF: rms_att, rms_ffn (n_layers * dim each), rms_final (dim) */
    float *rope_factors; /* GGUF with rope_freqs.weight: (head_size / 2), else NULL */
    float rope_theta;    /* RoPE base */
    float norm_eps;      /* RMSNorm epsilon */
    uint64_t bytes_per_token;
    int ffn_align; /* halo_model_ffn_align */
    void **packs;  /* interleaved copies of Q4_0 matrices (halo_mat.packed), owned */
    int n_packs;
    uint64_t packed_bytes;
    halo_gguf *gguf; /* GGUF: the parsed file (owned) */
};

/* Binds a GGUF file already parsed (ownership of g passes to the model, also on failure). */
int halo_model_from_gguf(halo_model **out, halo_gguf *g, const halo_model_opts *opts,
                         halo_err *err);

#endif /* HALO_MODEL_IMPL_H */
