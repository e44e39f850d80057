/*
 * Forward pass. Matrix-vector products are split by rows over the pool; attention is split
 * by head. Both splits leave each output element's arithmetic unchanged, so the logits do
 * not depend on the number of threads.
 */
#include "core/forward.h"

#include "core/arena.h"
#include "core/mat.h"
#include "core/ops.h"

#include <math.h>
#include <stdlib.h>

struct halo_state {
    const halo_model *model;
    halo_pool *pool;
    size_t bytes;       /* of the one block holding this struct and every buffer below */
    float *x;           /* (dim) residual stream */
    float *xb;          /* (dim) normalised input / attention output */
    float *xb2;         /* (dim) projection output */
    float *hb;          /* (hidden_dim) gate, then h */
    float *hb2;         /* (hidden_dim) up */
    float *q;           /* (dim) queries */
    float *att;         /* (n_heads, seq_len) attention scores */
    float *logits;      /* (vocab_size) */
    float *key_cache;   /* (n_layers, seq_len, kv_dim) */
    float *value_cache; /* (n_layers, seq_len, kv_dim) */
    float *freq;        /* (head_size / 2) RoPE frequencies */
    halo_act act;       /* the current input of a matrix product, quantised (GGUF) */
};

static void carve(void *obj, halo_arena *a) {
    halo_state *s = obj;
    const halo_model_config *c = halo_model_get_config(s->model);
    size_t dim = (size_t)c->dim, hidden = (size_t)c->hidden_dim;
    size_t kv = (size_t)c->n_layers * (size_t)c->seq_len * (size_t)halo_model_kv_dim(c);
    s->x = halo_arena_take(a, dim, sizeof(float));
    s->xb = halo_arena_take(a, dim, sizeof(float));
    s->xb2 = halo_arena_take(a, dim, sizeof(float));
    s->hb = halo_arena_take(a, hidden, sizeof(float));
    s->hb2 = halo_arena_take(a, hidden, sizeof(float));
    s->q = halo_arena_take(a, dim, sizeof(float));
    s->att = halo_arena_take(a, (size_t)c->n_heads * (size_t)c->seq_len, sizeof(float));
    s->logits = halo_arena_take(a, (size_t)c->vocab_size, sizeof(float));
    s->key_cache = halo_arena_take(a, kv, sizeof(float));
    s->value_cache = halo_arena_take(a, kv, sizeof(float));
    s->freq = halo_arena_take(a, (size_t)halo_model_head_size(c) / 2, sizeof(float));
    halo_act_carve(&s->act, a, c->dim > c->hidden_dim ? c->dim : c->hidden_dim,
                   halo_model_format(s->model) == HALO_MODEL_GGUF);
}

int halo_state_new(halo_state **out, const halo_model *model, halo_pool *pool, halo_err *err) {
    *out = NULL;
    if (!halo_model_has_weights(model))
        return HALO_FAIL(err, HALO_ERR_ARG, "run state: the model has no weights (shape only)");
    halo_state proto = {.model = model, .pool = pool};
    size_t bytes = 0;
    halo_state *s = halo_arena_new(sizeof proto, &proto, carve, "run state", &bytes, err);
    if (!s)
        return HALO_ERR_NOMEM;
    s->bytes = bytes;
    halo_model_rope_freq(model, s->freq);
    *out = s;
    return HALO_OK;
}

void halo_state_free(halo_state *s) {
    free(s); /* the state and its buffers are one block */
}

size_t halo_state_bytes(const halo_state *s) {
    return s->bytes;
}

typedef struct attn_job {
    halo_state *s;
    size_t layer_off; /* offset of this layer in the caches */
    int pos;
} attn_job;

static void attn_head(void *arg, int h) {
    const attn_job *j = arg;
    halo_state *s = j->s;
    const halo_model_config *c = halo_model_get_config(s->model);
    int head_size = halo_model_head_size(c);
    size_t kv_dim = (size_t)halo_model_kv_dim(c);
    size_t kv_off = j->layer_off + (size_t)(h / (c->n_heads / c->n_kv_heads)) * (size_t)head_size;
    size_t h_off = (size_t)h * (size_t)head_size;
    halo_attend(s->xb + h_off, s->att + (size_t)h * (size_t)c->seq_len, s->q + h_off,
                s->key_cache + kv_off, s->value_cache + kv_off, kv_dim, NULL, j->pos, head_size);
}

/* Heads 2p and 2p + 1, which share a KV head (n_heads / n_kv_heads even): one pass over the
   keys and values for both (halo_attend2), the same results as attn_head for each. */
static void attn_pair(void *arg, int p) {
    const attn_job *j = arg;
    halo_state *s = j->s;
    const halo_model_config *c = halo_model_get_config(s->model);
    int head_size = halo_model_head_size(c);
    int h = 2 * p;
    size_t kv_off = j->layer_off + (size_t)(h / (c->n_heads / c->n_kv_heads)) * (size_t)head_size;
    size_t h_off = (size_t)h * (size_t)head_size;
    halo_attend2(s->xb + h_off, s->att + (size_t)h * (size_t)c->seq_len, (size_t)c->seq_len,
                 s->q + h_off, s->key_cache + kv_off, s->value_cache + kv_off,
                 (size_t)halo_model_kv_dim(c), j->pos, head_size);
}

enum {
    ATTN_MIN_PARALLEL = 1 << 16
};

/* out = w x over the whole matrix, x being the input last given to halo_act_set. */
static void mv(halo_state *s, float *out, const halo_mat *w) {
    halo_mat_vec(s->pool, out, w, 0, 0, s->act.x, halo_act_get(&s->act, w), w->rows, w->cols, 0);
}

static void hook_before(const halo_forward_hooks *h, int layer, int phase, const float *xb) {
    if (h && h->before)
        h->before(h->ctx, layer, phase, xb);
}

static void hook_after(const halo_forward_hooks *h, int layer, int phase, const float *out) {
    if (h && h->after)
        h->after(h->ctx, layer, phase, out);
}

float *halo_forward(halo_state *s, int token, int pos) {
    return halo_forward_hooked(s, token, pos, NULL);
}

float *halo_forward_hooked(halo_state *s, int token, int pos, const halo_forward_hooks *hooks) {
    const halo_model_config *c = halo_model_get_config(s->model);
    HALO_ASSERT(token >= 0 && token < c->vocab_size);
    HALO_ASSERT(pos >= 0 && pos < c->seq_len);
    size_t dim = (size_t)c->dim;
    size_t kv_dim = (size_t)halo_model_kv_dim(c);
    int head_size = halo_model_head_size(c);
    float eps = halo_model_norm_eps(s->model);
    float *x = s->x;
    halo_mat_row(halo_model_embedding(s->model), token, x);

    for (size_t l = 0; l < (size_t)c->n_layers; l++) {
        int layer = (int)l;
        const halo_layer *L = halo_model_layer(s->model, layer);
        size_t layer_off = l * (size_t)c->seq_len * kv_dim;
        float *k = s->key_cache + layer_off + (size_t)pos * kv_dim;
        float *v = s->value_cache + layer_off + (size_t)pos * kv_dim;

        halo_rmsnorm_eps(s->xb, x, L->rms_att, c->dim, eps);
        hook_before(hooks, layer, HALO_PHASE_ATTN, s->xb);
        halo_act_set(&s->act, s->xb, c->dim);
        mv(s, s->q, &L->wq);
        mv(s, k, &L->wk);
        mv(s, v, &L->wv);
        halo_rope(s->q, c->dim, head_size, s->freq, pos);
        halo_rope(k, (int)kv_dim, head_size, s->freq, pos);

        attn_job job = {s, layer_off, pos};
        /* Short contexts are cheaper to run inline than to hand out. */
        int big = (long)(pos + 1) * c->dim >= ATTN_MIN_PARALLEL;
        if ((c->n_heads / c->n_kv_heads) % 2 == 0)
            halo_pool_run(big ? s->pool : NULL, attn_pair, &job, c->n_heads / 2);
        else
            halo_pool_run(big ? s->pool : NULL, attn_head, &job, c->n_heads);
        halo_act_set(&s->act, s->xb, c->dim);
        mv(s, s->xb2, &L->wo);
        for (size_t i = 0; i < dim; i++)
            x[i] += s->xb2[i];
        hook_after(hooks, layer, HALO_PHASE_ATTN, s->xb);

        halo_rmsnorm_eps(s->xb, x, L->rms_ffn, c->dim, eps);
        hook_before(hooks, layer, HALO_PHASE_FFN, s->xb);
        halo_act_set(&s->act, s->xb, c->dim);
        mv(s, s->hb, &L->w1);
        mv(s, s->hb2, &L->w3);
        halo_swiglu(s->hb, s->hb2, c->hidden_dim);
        halo_act_set(&s->act, s->hb, c->hidden_dim);
        mv(s, s->xb, &L->w2);
        for (size_t i = 0; i < dim; i++)
            x[i] += s->xb[i];
        hook_after(hooks, layer, HALO_PHASE_FFN, s->hb);
    }
    halo_rmsnorm_eps(x, x, halo_model_get_weights(s->model)->rms_final, c->dim, eps);
    halo_act_set(&s->act, x, c->dim);
    mv(s, s->logits, halo_model_classifier(s->model));
    return s->logits;
}
