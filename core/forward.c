/*
 * Forward pass. Matrix-vector products are split by rows over the pool; attention is split
 * by head. Both splits leave each output element's arithmetic unchanged, so the logits do
 * not depend on the number of threads.
 */
#include "core/forward.h"

#include "core/mat.h"
#include "core/ops.h"

#include <math.h>
#include <stdlib.h>

struct halo_state {
    const halo_model *model;
    halo_pool *pool;
    float *x;           /* (dim) residual stream */
    float *xb;          /* (dim) normalised input / attention output */
    float *xb2;         /* (dim) projection output */
    float *hb;          /* (hidden_dim) gate */
    float *hb2;         /* (hidden_dim) up */
    float *q;           /* (dim) queries */
    float *att;         /* (n_heads, seq_len) attention scores */
    float *logits;      /* (vocab_size) */
    float *key_cache;   /* (n_layers, seq_len, kv_dim) */
    float *value_cache; /* (n_layers, seq_len, kv_dim) */
    float *freq;        /* (head_size / 2) RoPE frequencies */
    halo_act act;       /* the current input of a matrix product, quantised (GGUF) */
    size_t bytes;
};

static float *alloc_floats(halo_state *s, size_t n, int *failed) {
    float *p = calloc(n, sizeof(float));
    if (!p)
        *failed = 1;
    s->bytes += n * sizeof(float);
    return p;
}

int halo_state_new(halo_state **out, const halo_model *model, halo_pool *pool, halo_err *err) {
    *out = NULL;
    const halo_model_config *c = halo_model_get_config(model);
    halo_state *s = calloc(1, sizeof *s);
    if (!s)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "run state: out of memory");
    s->model = model;
    s->pool = pool;
    size_t dim = (size_t)c->dim, hidden = (size_t)c->hidden_dim;
    size_t kv = (size_t)c->n_layers * (size_t)c->seq_len * (size_t)halo_model_kv_dim(c);
    int failed = 0;
    s->x = alloc_floats(s, dim, &failed);
    s->xb = alloc_floats(s, dim, &failed);
    s->xb2 = alloc_floats(s, dim, &failed);
    s->hb = alloc_floats(s, hidden, &failed);
    s->hb2 = alloc_floats(s, hidden, &failed);
    s->q = alloc_floats(s, dim, &failed);
    s->att = alloc_floats(s, (size_t)c->n_heads * (size_t)c->seq_len, &failed);
    s->logits = alloc_floats(s, (size_t)c->vocab_size, &failed);
    s->key_cache = alloc_floats(s, kv, &failed);
    s->value_cache = alloc_floats(s, kv, &failed);
    int head_size = halo_model_head_size(c);
    s->freq = alloc_floats(s, (size_t)head_size / 2, &failed);
    failed |= halo_act_init(&s->act, c->dim > c->hidden_dim ? c->dim : c->hidden_dim,
                            halo_model_format(model) == HALO_MODEL_GGUF, NULL) != HALO_OK;
    s->bytes += halo_act_buffer_bytes(&s->act);
    if (failed) {
        size_t bytes = s->bytes;
        halo_state_free(s);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "run state: out of memory (%zu bytes)", bytes);
    }
    halo_model_rope_freq(model, s->freq);
    *out = s;
    return HALO_OK;
}

void halo_state_free(halo_state *s) {
    if (!s)
        return;
    free(s->x);
    free(s->xb);
    free(s->xb2);
    free(s->hb);
    free(s->hb2);
    free(s->q);
    free(s->att);
    free(s->logits);
    free(s->key_cache);
    free(s->value_cache);
    free(s->freq);
    halo_act_free(&s->act);
    free(s);
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

enum {
    ATTN_MIN_PARALLEL = 1 << 16
};

/* out = w x over the whole matrix, x being the input last given to halo_act_set. */
static void mv(halo_state *s, float *out, const halo_mat *w) {
    halo_mat_vec(s->pool, out, w, 0, 0, s->act.x, halo_act_get(&s->act, w), w->rows, w->cols, 0);
}

float *halo_forward(halo_state *s, int token, int pos) {
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
        const halo_layer *L = halo_model_layer(s->model, (int)l);
        size_t layer_off = l * (size_t)c->seq_len * kv_dim;
        float *k = s->key_cache + layer_off + (size_t)pos * kv_dim;
        float *v = s->value_cache + layer_off + (size_t)pos * kv_dim;

        halo_rmsnorm_eps(s->xb, x, L->rms_att, c->dim, eps);
        halo_act_set(&s->act, s->xb, c->dim);
        mv(s, s->q, &L->wq);
        mv(s, k, &L->wk);
        mv(s, v, &L->wv);
        halo_rope(s->q, c->dim, head_size, s->freq, pos);
        halo_rope(k, (int)kv_dim, head_size, s->freq, pos);

        attn_job job = {s, layer_off, pos};
        /* Short contexts are cheaper to run inline than to hand out. */
        int big = (long)(pos + 1) * c->dim >= ATTN_MIN_PARALLEL;
        halo_pool_run(big ? s->pool : NULL, attn_head, &job, c->n_heads);
        halo_act_set(&s->act, s->xb, c->dim);
        mv(s, s->xb2, &L->wo);
        for (size_t i = 0; i < dim; i++)
            x[i] += s->xb2[i];

        halo_rmsnorm_eps(s->xb, x, L->rms_ffn, c->dim, eps);
        halo_act_set(&s->act, s->xb, c->dim);
        mv(s, s->hb, &L->w1);
        mv(s, s->hb2, &L->w3);
        halo_swiglu(s->hb, s->hb2, c->hidden_dim);
        halo_act_set(&s->act, s->hb, c->hidden_dim);
        mv(s, s->xb, &L->w2);
        for (size_t i = 0; i < dim; i++)
            x[i] += s->xb[i];
    }
    halo_rmsnorm_eps(x, x, halo_model_get_weights(s->model)->rms_final, c->dim, eps);
    halo_act_set(&s->act, x, c->dim);
    mv(s, s->logits, halo_model_classifier(s->model));
    return s->logits;
}
