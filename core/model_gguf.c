/*
 * LLaMA models in GGUF files: binding a parsed file (core/gguf.h) to a model (every tensor
 * checked by name, shape and type), and writing models as GGUF (conversion of a loaded model,
 * and synthetic models of a named shape with seeded random weights).
 *
 * Tensor names follow llama.cpp: token_embd.weight, output_norm.weight, output.weight
 * (absent when tied to the embedding), rope_freqs.weight (optional), and per layer N
 * blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_down,
 * ffn_up}.weight. A GGUF matrix's first dimension is its row length: wq is [dim, dim],
 * ffn_down is [hidden, dim]. Q and K rows are in the order RoPE pairs them (adjacent pairs,
 * llama.cpp's "normal" RoPE, which is llama2.c's), so llama2.c checkpoints convert without
 * permutation.
 */
#include "core/model.h"
#include "core/model_impl.h"
#include "core/rng.h"
#include "core/tokenizer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Binding ==== */

typedef struct binder {
    const halo_gguf *g;
    const char *what;
    unsigned char *used; /* (n_tensors) tensor bound */
    halo_err *err;
} binder;

static int tensor_index(const halo_gguf *g, const halo_gguf_tensor *t) {
    for (int i = 0; i < halo_gguf_n_tensors(g); i++)
        if (halo_gguf_tensor_at(g, i) == t)
            return i;
    return -1;
}

/* Finds tensor `name` of shape [ne0] (ne1 == 0) or [ne0, ne1]; *t is NULL when it is
   absent and `optional`. */
static int bind(binder *b, const char *name, int64_t ne0, int64_t ne1, int optional,
                const halo_gguf_tensor **t) {
    *t = halo_gguf_find_tensor(b->g, name);
    if (!*t)
        return optional ? HALO_OK
                        : HALO_FAIL(b->err, HALO_ERR_FORMAT, "%s: tensor '%s' is missing", b->what,
                                    name);
    const halo_gguf_tensor *x = *t;
    int want_dims = ne1 ? 2 : 1;
    int64_t e1 = x->n_dims >= 2 ? x->ne[1] : 0;
    if (x->n_dims != want_dims || x->ne[0] != ne0 || (ne1 && e1 != ne1)) {
        char got[96];
        if (x->n_dims == 1)
            (void)snprintf(got, sizeof got, "[%" PRId64 "]", x->ne[0]);
        else
            (void)snprintf(got, sizeof got, "[%" PRId64 ", %" PRId64 "%s]", x->ne[0], x->ne[1],
                           x->n_dims > 2 ? ", ..." : "");
        if (ne1)
            return HALO_FAIL(b->err, HALO_ERR_FORMAT,
                             "%s: tensor '%s' is %s, expected [%" PRId64 ", %" PRId64 "]", b->what,
                             name, got, ne0, ne1);
        return HALO_FAIL(b->err, HALO_ERR_FORMAT, "%s: tensor '%s' is %s, expected [%" PRId64 "]",
                         b->what, name, got, ne0);
    }
    if (!halo_type_supported(x->type) ||
        (!ne1 && x->type != HALO_TYPE_F32 && x->type != HALO_TYPE_F16))
        return HALO_FAIL(b->err, HALO_ERR_FORMAT,
                         "%s: tensor '%s' has type %s, which halo does not compute with (%s)",
                         b->what, name, halo_type_name(x->type),
                         ne1 ? "f32, f16, q8_0, q4_0, q4_K, q6_K" : "f32, f16");
    b->used[tensor_index(b->g, x)] = 1;
    return HALO_OK;
}

static halo_mat mat_of(const halo_gguf_tensor *t) {
    return (halo_mat){.data = t->data,
                      .row_bytes = halo_type_row_bytes(t->type, t->ne[0]),
                      .type = t->type,
                      .rows = (int)t->ne[1],
                      .cols = (int)t->ne[0]};
}

static void copy_vector(const halo_gguf_tensor *t, float *out) {
    halo_dequantize_row(t->type, t->data, out, t->ne[0]);
}

static int nearest_weight_type(double bytes_per_weight) {
    static const int types[] = {HALO_WEIGHT_F32, HALO_WEIGHT_F16, HALO_WEIGHT_Q80, HALO_WEIGHT_Q40};
    int best = HALO_WEIGHT_F32;
    double best_d = HUGE_VAL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        double d = fabs(log(bytes_per_weight / halo_weight_bytes(types[i])));
        if (d < best_d) {
            best_d = d;
            best = types[i];
        }
    }
    return best;
}

static int read_hparams(const halo_gguf *g, const char *what, halo_model_config *c, float *theta,
                        float *eps, halo_err *err) {
    const char *arch;
    size_t arch_len;
    int rc = halo_gguf_get_str(g, "general.architecture", &arch, &arch_len, err);
    if (rc != HALO_OK)
        return rc;
    if (arch_len != 5 || memcmp(arch, "llama", 5) != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: architecture '%.*s' is not supported (halo runs 'llama')", what,
                         (int)(arch_len < 64 ? arch_len : 64), arch);
    int64_t dim = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, ctx = 0, rope_dim = 0;
    const int64_t big = INT32_MAX;
    if ((rc = halo_gguf_get_int(g, "llama.embedding_length", 1, big, &dim, err)) ||
        (rc = halo_gguf_get_int(g, "llama.feed_forward_length", 1, big, &hidden, err)) ||
        (rc = halo_gguf_get_int(g, "llama.block_count", 1, big, &layers, err)) ||
        (rc = halo_gguf_get_int(g, "llama.attention.head_count", 1, big, &heads, err)) ||
        (rc = halo_gguf_get_int(g, "llama.context_length", 1, big, &ctx, err)))
        return rc;
    kv_heads = heads;
    if ((rc = halo_gguf_get_int_opt(g, "llama.attention.head_count_kv", 1, big, &kv_heads, err)))
        return rc;
    *theta = 10000.0f;
    *eps = 1e-5f;
    if ((rc = halo_gguf_get_f32_opt(g, "llama.rope.freq_base", theta, err)) ||
        (rc = halo_gguf_get_f32_opt(g, "llama.attention.layer_norm_rms_epsilon", eps, err)))
        return rc;
    if (!(*theta > 1.0f) || !(*eps > 0.0f && *eps < 1.0f))
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: llama.rope.freq_base %g or layer_norm_rms_epsilon %g out of range",
                         what, (double)*theta, (double)*eps);
    *c = (halo_model_config){.dim = (int)dim,
                             .hidden_dim = (int)hidden,
                             .n_layers = (int)layers,
                             .n_heads = (int)heads,
                             .n_kv_heads = (int)kv_heads,
                             .vocab_size = 1,
                             .seq_len = (int)(ctx < (1 << 20) ? ctx : (1 << 20)),
                             .shared_classifier = 1};
    if (heads > 0 && dim % heads == 0) {
        rope_dim = dim / heads;
        if ((rc = halo_gguf_get_int_opt(g, "llama.rope.dimension_count", 1, big, &rope_dim, err)))
            return rc;
        if (rope_dim != dim / heads)
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s: llama.rope.dimension_count %" PRId64
                             " differs from the head size %" PRId64
                             " (partial RoPE is not supported)",
                             what, rope_dim, dim / heads);
    }
    return HALO_OK;
}

static int bind_layers(halo_model *m, binder *b) {
    const halo_model_config *c = &m->cfg;
    int64_t dim = c->dim, hidden = c->hidden_dim, kv = halo_model_kv_dim(c);
    for (int l = 0; l < c->n_layers; l++) {
        struct {
            const char *part;
            int64_t ne0, ne1;
            halo_mat *mat;
            float *norm;
        } parts[] = {
            {"attn_norm", dim, 0, NULL, m->norms + (size_t)l * (size_t)dim},
            {"attn_q", dim, dim, &m->layers[l].wq, NULL},
            {"attn_k", dim, kv, &m->layers[l].wk, NULL},
            {"attn_v", dim, kv, &m->layers[l].wv, NULL},
            {"attn_output", dim, dim, &m->layers[l].wo, NULL},
            {"ffn_norm", dim, 0, NULL, m->norms + (size_t)(c->n_layers + l) * (size_t)dim},
            {"ffn_gate", dim, hidden, &m->layers[l].w1, NULL},
            {"ffn_down", hidden, dim, &m->layers[l].w2, NULL},
            {"ffn_up", dim, hidden, &m->layers[l].w3, NULL},
        };

        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            char name[64];
            (void)snprintf(name, sizeof name, "blk.%d.%s.weight", l, parts[i].part);
            const halo_gguf_tensor *t;
            int rc = bind(b, name, parts[i].ne0, parts[i].ne1, 0, &t);
            if (rc != HALO_OK)
                return rc;
            if (parts[i].mat)
                *parts[i].mat = mat_of(t);
            else
                copy_vector(t, parts[i].norm);
        }
        m->layers[l].rms_att = m->norms + (size_t)l * (size_t)dim;
        m->layers[l].rms_ffn = m->norms + (size_t)(c->n_layers + l) * (size_t)dim;
    }
    return HALO_OK;
}

/* Bytes per token, the mean bytes per weight of the layer matrices and the FFN alignment. */
static void summarise(halo_model *m) {
    const halo_model_config *c = &m->cfg;
    uint64_t bytes = 0, weights = 0;
    int align = 1;
    for (int l = 0; l < c->n_layers; l++) {
        const halo_layer *L = &m->layers[l];
        const halo_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->w3};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            bytes += halo_mat_bytes(mats[i]);
            weights += (uint64_t)mats[i]->rows * (uint64_t)mats[i]->cols;
        }
        int bk = halo_type_block(L->w2.type);
        if (bk > align)
            align = bk;
    }
    m->weight_type = nearest_weight_type((double)bytes / (double)weights);
    m->ffn_align = align;
    uint64_t norms = (uint64_t)(2 * c->n_layers + 1) * (uint64_t)c->dim * sizeof(float);
    m->bytes_per_token =
        bytes + norms + halo_type_row_bytes(m->emb.type, m->emb.cols) + halo_mat_bytes(&m->cls);
}

/* Interleaved copies of the Q4_0 and Q4_K matrices (halo_model_opts.no_pack). Returns 0, or
   -1 when out of memory. */
static int pack_rows(halo_model *m) {
    if (!halo_mat_can_pack(HALO_TYPE_Q4_0) && !halo_mat_can_pack(HALO_TYPE_Q4_K))
        return 0;
    int n = 7 * m->cfg.n_layers + 1;
    m->packs = calloc((size_t)n, sizeof *m->packs);
    if (!m->packs)
        return -1;
    for (int i = 0; i < n; i++) {
        halo_mat *w;
        if (i == n - 1) {
            w = &m->cls;
        } else {
            halo_layer *L = &m->layers[i / 7];
            halo_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->w3};
            w = mats[i % 7];
        }
        if (!halo_mat_can_pack(w->type) || w->rows % 8 != 0)
            continue;
        size_t bytes = halo_mat_packed_bytes(w->type, w->rows, w->cols);
        void *p = malloc(bytes);
        if (!p)
            return -1;
        halo_mat_pack(w, p);
        w->packed = p;
        m->packs[m->n_packs++] = p;
        m->packed_bytes += bytes;
    }
    return 0;
}

int halo_model_from_gguf(halo_model **out, halo_gguf *g, const halo_model_opts *opts,
                         halo_err *err) {
    *out = NULL;
    const char *what = halo_gguf_what(g);
    halo_model_config cfg;
    float theta, eps;
    int rc = read_hparams(g, what, &cfg, &theta, &eps, err);
    binder b = {.g = g, .what = what, .err = err};
    halo_model *m = NULL;
    const halo_gguf_tensor *emb = NULL, *out_norm = NULL, *cls = NULL, *freqs = NULL;
    if (rc == HALO_OK) {
        emb = halo_gguf_find_tensor(g, "token_embd.weight");
        if (!emb)
            rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing", what);
        else if (emb->n_dims != 2 || emb->ne[1] > INT32_MAX)
            rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                           "%s: tensor 'token_embd.weight' has %d dimensions, expected 2", what,
                           emb->n_dims);
    }
    if (rc == HALO_OK) {
        cfg.vocab_size = (int)emb->ne[1];
        int64_t v = cfg.vocab_size;
        rc = halo_gguf_get_int_opt(g, "llama.vocab_size", 1, INT32_MAX, &v, err);
        if (rc == HALO_OK && v != cfg.vocab_size)
            rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                           "%s: llama.vocab_size %" PRId64
                           " differs from token_embd.weight's %d rows",
                           what, v, cfg.vocab_size);
    }
    if (rc == HALO_OK)
        rc = halo_model_config_check(&cfg, what, err);
    if (rc == HALO_OK && opts && opts->max_seq_len > 0 && cfg.seq_len > opts->max_seq_len)
        cfg.seq_len = opts->max_seq_len;
    if (rc == HALO_OK) {
        m = calloc(1, sizeof *m);
        b.used = calloc((size_t)halo_gguf_n_tensors(g) + 1, 1);
        if (m) {
            m->layers = calloc((size_t)cfg.n_layers, sizeof *m->layers);
            m->norms = calloc((size_t)(2 * cfg.n_layers + 1) * (size_t)cfg.dim, sizeof(float));
        }
        if (!m || !b.used || !m->layers || !m->norms)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    }
    if (rc == HALO_OK) {
        m->cfg = cfg;
        m->format = HALO_MODEL_GGUF;
        m->gguf = g;
        g = NULL;
        m->bytes = halo_gguf_bytes(m->gguf, &m->n_bytes);
        m->rope_theta = theta;
        m->norm_eps = eps;
        rc = bind(&b, "token_embd.weight", cfg.dim, cfg.vocab_size, 0, &emb);
    }
    if (rc == HALO_OK)
        rc = bind(&b, "output_norm.weight", cfg.dim, 0, 0, &out_norm);
    if (rc == HALO_OK)
        rc = bind(&b, "output.weight", cfg.dim, cfg.vocab_size, 1, &cls);
    if (rc == HALO_OK)
        rc = bind(&b, "rope_freqs.weight", halo_model_head_size(&cfg) / 2, 0, 1, &freqs);
    if (rc == HALO_OK)
        rc = bind_layers(m, &b);
    for (int i = 0; rc == HALO_OK && i < halo_gguf_n_tensors(m->gguf); i++)
        if (!b.used[i])
            rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                           "%s: tensor '%s' is not part of a llama model (unexpected)", what,
                           halo_gguf_tensor_at(m->gguf, i)->name);
    if (rc == HALO_OK && freqs) {
        int n = halo_model_head_size(&cfg) / 2;
        m->rope_factors = malloc((size_t)n * sizeof(float));
        if (!m->rope_factors)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
        else
            copy_vector(freqs, m->rope_factors);
        for (int i = 0; rc == HALO_OK && i < n; i++)
            if (!(m->rope_factors[i] > 0.0f) || !isfinite(m->rope_factors[i]))
                rc =
                    HALO_FAIL(err, HALO_ERR_FORMAT,
                              "%s: tensor 'rope_freqs.weight': factor %d is not positive", what, i);
    }
    if (rc == HALO_OK) {
        float *final = m->norms + (size_t)(2 * cfg.n_layers) * (size_t)cfg.dim;
        copy_vector(out_norm, final);
        m->emb = mat_of(emb);
        m->cls = mat_of(cls ? cls : emb);
        m->cfg.shared_classifier = cls == NULL;
        m->w.rms_att = m->norms;
        m->w.rms_ffn = m->norms + (size_t)cfg.n_layers * (size_t)cfg.dim;
        m->w.rms_final = final;
        summarise(m);
        if (!(opts && opts->no_pack) && pack_rows(m) != 0)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory (interleaving rows)", what);
    }
    free(b.used);
    halo_gguf_free(g);
    if (rc != HALO_OK) {
        halo_model_free(m);
        return rc;
    }
    *out = m;
    return HALO_OK;
}

/* ==== Named shapes and file types ==== */

static const struct {
    const char *name;
    halo_model_config cfg;
} SHAPES[] = {
    {"tinyllama-1.1b", {2048, 5632, 22, 32, 4, 32000, 2048, 0}},
    {"llama2-7b", {4096, 11008, 32, 32, 32, 32000, 4096, 0}},
    {"llama2-13b", {5120, 13824, 40, 40, 40, 32000, 4096, 0}},
    {"stories110m", {768, 2048, 12, 12, 12, 32000, 1024, 1}},
    {"bench-110m", {768, 2048, 12, 12, 12, 32000, 256, 1}},
    {"stories15m", {288, 768, 6, 6, 6, 32000, 256, 1}},
};

int halo_model_shape_named(const char *name, halo_model_config *out) {
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
        if (strcmp(SHAPES[i].name, name) == 0) {
            *out = SHAPES[i].cfg;
            return HALO_OK;
        }
    return HALO_ERR_ARG;
}

const char *halo_model_shape_names(void) {
    return "tinyllama-1.1b, llama2-7b, llama2-13b, stories110m, stories15m, bench-110m";
}

static const struct {
    const char *name;
    int ftype;
} FTYPES[] = {
    {"f32", HALO_FTYPE_F32},   {"f16", HALO_FTYPE_F16},       {"q8_0", HALO_FTYPE_Q8_0},
    {"q4_0", HALO_FTYPE_Q4_0}, {"q4_k_m", HALO_FTYPE_Q4_K_M},
};

int halo_ftype_from_name(const char *name) {
    for (size_t i = 0; i < sizeof FTYPES / sizeof FTYPES[0]; i++)
        if (strcmp(FTYPES[i].name, name) == 0)
            return FTYPES[i].ftype;
    return -1;
}

const char *halo_ftype_name(int ftype) {
    for (size_t i = 0; i < sizeof FTYPES / sizeof FTYPES[0]; i++)
        if (FTYPES[i].ftype == ftype)
            return FTYPES[i].name;
    return "unknown";
}

/* ==== Writing ==== */

/* What a tensor is in the model. */
enum part {
    P_EMB,
    P_ATT_NORM,
    P_WQ,
    P_WK,
    P_WV,
    P_WO,
    P_FFN_NORM,
    P_W1,
    P_W2,
    P_W3,
    P_OUT_NORM,
    P_CLS,
    P_COUNT_
};

static const char *const PART_NAMES[P_COUNT_] = {
    "token_embd", "attn_norm", "attn_q",   "attn_k", "attn_v",      "attn_output",
    "ffn_norm",   "ffn_gate",  "ffn_down", "ffn_up", "output_norm", "output"};

/* llama.cpp's use_more_bits: the layers Q4_K_M keeps at 6 bits for attn_v and ffn_down. */
static int more_bits(int layer, int n_layers) {
    return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

/* The storage type of a tensor of `cols` columns for file type `ftype`. */
static int part_type(int ftype, int part, int layer, int n_layers, int cols) {
    if (part == P_ATT_NORM || part == P_FFN_NORM || part == P_OUT_NORM)
        return HALO_TYPE_F32;
    int t;
    switch (ftype) {
    case HALO_FTYPE_F16:
        return HALO_TYPE_F16;
    case HALO_FTYPE_Q8_0:
        t = HALO_TYPE_Q8_0;
        break;
    case HALO_FTYPE_Q4_0:
        t = HALO_TYPE_Q4_0;
        break;
    case HALO_FTYPE_Q4_K_M:
        t = part == P_CLS || ((part == P_WV || part == P_W2) && more_bits(layer, n_layers))
                ? HALO_TYPE_Q6_K
                : HALO_TYPE_Q4_K;
        if (cols % 256 != 0)
            t = HALO_TYPE_Q8_0; /* llama.cpp's fallback for rows that are not whole K blocks */
        break;
    default:
        return HALO_TYPE_F32;
    }
    return cols % halo_type_block(t) == 0 ? t : HALO_TYPE_F16;
}

/* Where rows come from: a loaded model (converted) or a seeded generator (synthetic). */
typedef struct row_source {
    const halo_model *src; /* NULL: random */
    int src_hidden;        /* the source's hidden_dim (rows past it are zero padding) */
    halo_rng rng;
} row_source;

static void source_row(row_source *s, const halo_model_config *c, int part, int layer, int row,
                       float *out, int cols) {
    if (!s->src) {
        float scale = part == P_EMB ? 1.0f : sqrtf(3.0f / (float)cols);
        int constant = part == P_ATT_NORM || part == P_FFN_NORM || part == P_OUT_NORM;
        for (int i = 0; i < cols; i++)
            out[i] = constant ? 1.0f : (2.0f * halo_rng_f32(&s->rng) - 1.0f) * scale;
        return;
    }
    const halo_weights *w = halo_model_get_weights(s->src);
    const halo_layer *L = part == P_EMB || part == P_CLS || part == P_OUT_NORM
                              ? NULL
                              : halo_model_layer(s->src, layer);
    size_t dim = (size_t)c->dim;
    switch (part) {
    case P_ATT_NORM:
        memcpy(out, w->rms_att + (size_t)layer * dim, dim * sizeof(float));
        return;
    case P_FFN_NORM:
        memcpy(out, w->rms_ffn + (size_t)layer * dim, dim * sizeof(float));
        return;
    case P_OUT_NORM:
        memcpy(out, w->rms_final, dim * sizeof(float));
        return;
    case P_W1:
    case P_W3:
        if (row >= s->src_hidden) {
            memset(out, 0, (size_t)cols * sizeof(float));
            return;
        }
        halo_mat_row(part == P_W1 ? &L->w1 : &L->w3, row, out);
        return;
    case P_W2:
        memset(out, 0, (size_t)cols * sizeof(float));
        halo_mat_row(&L->w2, row, out); /* the first src_hidden columns */
        return;
    default: {
        const halo_mat *m = part == P_EMB   ? halo_model_embedding(s->src)
                            : part == P_CLS ? halo_model_classifier(s->src)
                            : part == P_WQ  ? &L->wq
                            : part == P_WK  ? &L->wk
                            : part == P_WV  ? &L->wv
                                            : &L->wo;
        halo_mat_row(m, row, out);
    }
    }
}

/* A tensor's shape [cols, rows] (rows 0 for vectors). */
static void part_shape(const halo_model_config *c, int part, int *cols, int *rows) {
    int dim = c->dim, hidden = c->hidden_dim, kv = halo_model_kv_dim(c);
    switch (part) {
    case P_EMB:
    case P_CLS:
        *cols = dim, *rows = c->vocab_size;
        break;
    case P_WQ:
    case P_WO:
        *cols = dim, *rows = dim;
        break;
    case P_WK:
    case P_WV:
        *cols = dim, *rows = kv;
        break;
    case P_W1:
    case P_W3:
        *cols = dim, *rows = hidden;
        break;
    case P_W2:
        *cols = hidden, *rows = dim;
        break;
    default:
        *cols = dim, *rows = 0;
    }
}

/* The tensors in file order (llama.cpp's order within a layer does not matter). */
static int list_parts(const halo_model_config *c, int *parts, int *layers) {
    int n = 0;
    parts[n] = P_EMB, layers[n++] = -1;
    for (int l = 0; l < c->n_layers; l++)
        for (int p = P_ATT_NORM; p <= P_W3; p++)
            parts[n] = p, layers[n++] = l;
    parts[n] = P_OUT_NORM, layers[n++] = -1;
    if (!c->shared_classifier)
        parts[n] = P_CLS, layers[n++] = -1;
    return n;
}

static int token_type(const char *s, size_t len, int id) {
    if (id == HALO_TOKEN_BOS || id == HALO_TOKEN_EOS)
        return 3; /* control */
    if (len == 5 && memcmp(s, "<unk>", 5) == 0)
        return 2; /* unknown */
    if (len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>')
        return 6; /* byte */
    return 1;     /* normal */
}

/* The vocabulary in GGUF's conventions: spaces as U+2581, BOS/EOS as <s> and </s>. */
static int put_vocab(halo_gguf_writer *w, const halo_tokenizer *tok, const char *path,
                     halo_err *err) {
    int n = halo_tokenizer_vocab_size(tok);
    char **text = calloc((size_t)n, sizeof *text);
    size_t *len = calloc((size_t)n, sizeof *len);
    float *scores = calloc((size_t)n, sizeof *scores);
    int32_t *types = calloc((size_t)n, sizeof *types);
    int rc = text && len && scores && types
                 ? HALO_OK
                 : HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; rc == HALO_OK && i < n; i++) {
        const char *s;
        size_t l;
        halo_tokenizer_piece(tok, i, &s, &l, &scores[i]);
        types[i] = token_type(s, l, i);
        if (types[i] == 3) {
            s = i == HALO_TOKEN_BOS ? "<s>" : "</s>";
            l = strlen(s);
        }
        text[i] = malloc(3 * l + 1);
        if (!text[i]) {
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        size_t k = 0;
        for (size_t j = 0; j < l; j++) {
            if (s[j] == ' ' && types[i] == 1) {
                memcpy(text[i] + k, "\xe2\x96\x81", 3);
                k += 3;
            } else {
                text[i][k++] = s[j];
            }
        }
        len[i] = k;
    }
    if (rc == HALO_OK &&
        (halo_gguf_put_str(w, "tokenizer.ggml.model", "llama") ||
         halo_gguf_put_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)text, len,
                               (uint64_t)n) ||
         halo_gguf_put_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)n) ||
         halo_gguf_put_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n) ||
         halo_gguf_put_u32(w, "tokenizer.ggml.bos_token_id", HALO_TOKEN_BOS) ||
         halo_gguf_put_u32(w, "tokenizer.ggml.eos_token_id", HALO_TOKEN_EOS) ||
         halo_gguf_put_u32(w, "tokenizer.ggml.unknown_token_id", 0) ||
         halo_gguf_put_bool(w, "tokenizer.ggml.add_bos_token", 1) ||
         halo_gguf_put_bool(w, "tokenizer.ggml.add_eos_token", 0)))
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; text && i < n; i++)
        free(text[i]);
    free(text);
    free(len);
    free(scores);
    free(types);
    return rc;
}

static int write_gguf(const char *path, const halo_model_config *c, float theta, float eps,
                      row_source *src, const halo_tokenizer *tok, int ftype, const char *name,
                      halo_err *err) {
    int rc = halo_model_config_check(c, path, err);
    if (rc != HALO_OK)
        return rc;
    if (tok && halo_tokenizer_vocab_size(tok) != c->vocab_size)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: the tokenizer has %d tokens, the model %d", path,
                         halo_tokenizer_vocab_size(tok), c->vocab_size);
    size_t n_max = (size_t)(2 + 9 * c->n_layers + 2);
    int *parts = malloc(n_max * sizeof *parts), *layers = malloc(n_max * sizeof *layers);
    int widest = c->dim > c->hidden_dim ? c->dim : c->hidden_dim;
    float *row = malloc((size_t)widest * sizeof *row);
    unsigned char *qrow = malloc((size_t)widest * sizeof(float));
    if (!parts || !layers || !row || !qrow) {
        free(parts);
        free(layers);
        free(row);
        free(qrow);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    }
    int n = list_parts(c, parts, layers);
    halo_gguf_writer *w;
    rc = halo_gguf_writer_new(&w, path, err);
    if (rc != HALO_OK)
        goto done;
    halo_gguf_put_str(w, "general.architecture", "llama");
    halo_gguf_put_str(w, "general.name", name ? name : "halo");
    halo_gguf_put_u32(w, "general.file_type", (uint32_t)ftype);
    halo_gguf_put_u32(w, "general.quantization_version", 2);
    halo_gguf_put_u32(w, "llama.context_length", (uint32_t)c->seq_len);
    halo_gguf_put_u32(w, "llama.embedding_length", (uint32_t)c->dim);
    halo_gguf_put_u32(w, "llama.block_count", (uint32_t)c->n_layers);
    halo_gguf_put_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
    halo_gguf_put_u32(w, "llama.rope.dimension_count", (uint32_t)halo_model_head_size(c));
    halo_gguf_put_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
    halo_gguf_put_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    halo_gguf_put_f32(w, "llama.attention.layer_norm_rms_epsilon", eps);
    halo_gguf_put_f32(w, "llama.rope.freq_base", theta);
    halo_gguf_put_u32(w, "llama.vocab_size", (uint32_t)c->vocab_size);
    if (tok)
        rc = put_vocab(w, tok, path, err);
    for (int i = 0; rc == HALO_OK && i < n; i++) {
        int cols, rows;
        part_shape(c, parts[i], &cols, &rows);
        char tname[64];
        if (layers[i] >= 0)
            (void)snprintf(tname, sizeof tname, "blk.%d.%s.weight", layers[i],
                           PART_NAMES[parts[i]]);
        else
            (void)snprintf(tname, sizeof tname, "%s.weight", PART_NAMES[parts[i]]);
        int64_t ne[2] = {cols, rows};
        int t = part_type(ftype, parts[i], layers[i], c->n_layers, cols);
        if (halo_gguf_add_tensor(w, tname, t, rows ? 2 : 1, ne) != HALO_OK)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    }
    if (rc == HALO_OK)
        rc = halo_gguf_begin_data(w, err);
    for (int i = 0; rc == HALO_OK && i < n; i++) {
        int cols, rows;
        part_shape(c, parts[i], &cols, &rows);
        int t = part_type(ftype, parts[i], layers[i], c->n_layers, cols);
        for (int r = 0; rc == HALO_OK && r < (rows ? rows : 1); r++) {
            source_row(src, c, parts[i], layers[i], r, row, cols);
            halo_quantize_row(t, row, qrow, cols);
            rc = halo_gguf_write_data(w, qrow, halo_type_row_bytes(t, cols), err);
        }
    }
    int frc = halo_gguf_writer_finish(w, rc == HALO_OK, rc == HALO_OK ? err : NULL);
    if (rc == HALO_OK)
        rc = frc;
done:
    free(parts);
    free(layers);
    free(row);
    free(qrow);
    return rc;
}

int halo_model_write_gguf(const char *path, const halo_model *src, const halo_tokenizer *tok,
                          int ftype, const char *name, halo_err *err) {
    if (!halo_model_has_weights(src))
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: a shape-only model has no weights to write", path);
    halo_model_config c = *halo_model_get_config(src);
    /* Quantised rows must be whole blocks: the hidden dimension grows by zero neurons (rows
       of W1 and W3 that are zero give silu(0) * 0 = 0, so the function is unchanged). */
    int block = ftype == HALO_FTYPE_Q8_0 || ftype == HALO_FTYPE_Q4_0 ? 32
                : ftype == HALO_FTYPE_Q4_K_M                         ? 256
                                                                     : 1;
    c.hidden_dim = (c.hidden_dim + block - 1) / block * block;
    if (ftype == HALO_FTYPE_Q4_K_M && c.dim % 256 != 0)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: q4_k_m needs a model width that is a multiple of 256 (dim is %d)",
                         path, c.dim);
    if (block > 1 && c.dim % 32 != 0)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: %s needs a model width that is a multiple of 32 (dim is %d)", path,
                         halo_ftype_name(ftype), c.dim);
    row_source s = {.src = src, .src_hidden = halo_model_get_config(src)->hidden_dim};
    return write_gguf(path, &c, halo_model_rope_theta(src), halo_model_norm_eps(src), &s, tok,
                      ftype, name, err);
}

int halo_model_write_gguf_random(const char *path, const halo_model_config *cfg,
                                 const halo_tokenizer *tok, int ftype, uint64_t seed,
                                 float rope_theta, const char *name, halo_err *err) {
    halo_model_config c = *cfg;
    if (rope_theta == 0.0f)
        rope_theta = 10000.0f;
    if (!(rope_theta > 1.0f && rope_theta < 1e9f))
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: RoPE base %g is out of range (1, 1e9)", path,
                         (double)rope_theta);
    int block = ftype == HALO_FTYPE_Q8_0 || ftype == HALO_FTYPE_Q4_0 ? 32 : 1;
    if (block > 1 && (c.dim % block != 0 || c.hidden_dim % block != 0))
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: %s needs dim and hidden_dim that are multiples of %d (%d, %d)", path,
                         halo_ftype_name(ftype), block, c.dim, c.hidden_dim);
    row_source s = {.src = NULL};
    halo_rng_init(&s.rng, seed);
    return write_gguf(path, &c, rope_theta, 1e-5f, &s, tok, ftype, name, err);
}
