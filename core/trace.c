/*
 * The traced forward pass. Keep it in step with forward.c: test_predictor checks that the
 * logits agree bit for bit.
 */
#include "core/trace.h"

#include "core/mat.h"
#include "core/ops.h"

#include <math.h>
#include <stdlib.h>

struct halo_trace {
    const halo_model *model;
    float *x;           /* (dim) residual stream */
    float *xb;          /* (dim) normalised input / attention output */
    float *xb2;         /* (dim) projection output */
    float *hb;          /* (hidden_dim) gate, then h */
    float *hb2;         /* (hidden_dim) up */
    float *q;           /* (dim) queries */
    float *att;         /* (seq_len) attention scores of one head */
    float *logits;      /* (vocab_size) */
    float *key_cache;   /* (n_layers, seq_len, kv_dim) */
    float *value_cache; /* (n_layers, seq_len, kv_dim) */
    float *freq;        /* (head_size / 2) RoPE frequencies */
    halo_act act;       /* the input of a matrix product, quantised (GGUF) */
};

void halo_trace_free(halo_trace *t) {
    if (!t)
        return;
    free(t->x);
    free(t->xb);
    free(t->xb2);
    free(t->hb);
    free(t->hb2);
    free(t->q);
    free(t->att);
    free(t->logits);
    free(t->key_cache);
    free(t->value_cache);
    free(t->freq);
    halo_act_free(&t->act);
    free(t);
}

static float *alloc_f(size_t n, int *failed) {
    float *p = calloc(n, sizeof(float));
    if (!p)
        *failed = 1;
    return p;
}

int halo_trace_new(halo_trace **out, const halo_model *model, halo_err *err) {
    *out = NULL;
    if (!halo_model_has_weights(model))
        return HALO_FAIL(err, HALO_ERR_ARG, "trace: the model has no weights (shape only)");
    const halo_model_config *c = halo_model_get_config(model);
    halo_trace *t = calloc(1, sizeof *t);
    if (!t)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "trace: out of memory");
    t->model = model;
    size_t dim = (size_t)c->dim, hidden = (size_t)c->hidden_dim;
    size_t kv = (size_t)c->n_layers * (size_t)c->seq_len * (size_t)halo_model_kv_dim(c);
    int head_size = halo_model_head_size(c), failed = 0;
    t->x = alloc_f(dim, &failed);
    t->xb = alloc_f(dim, &failed);
    t->xb2 = alloc_f(dim, &failed);
    t->hb = alloc_f(hidden, &failed);
    t->hb2 = alloc_f(hidden, &failed);
    t->q = alloc_f(dim, &failed);
    t->att = alloc_f((size_t)c->seq_len, &failed);
    t->logits = alloc_f((size_t)c->vocab_size, &failed);
    t->key_cache = alloc_f(kv, &failed);
    t->value_cache = alloc_f(kv, &failed);
    t->freq = alloc_f((size_t)head_size / 2, &failed);
    if (!failed && halo_act_init(&t->act, c->dim > c->hidden_dim ? c->dim : c->hidden_dim,
                                 halo_model_format(model) == HALO_MODEL_GGUF, NULL) != HALO_OK)
        failed = 1;
    if (failed) {
        halo_trace_free(t);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "trace: out of memory");
    }
    halo_model_rope_freq(model, t->freq);
    *out = t;
    return HALO_OK;
}

static void hook_before(const halo_trace_hooks *h, int layer, int phase, const float *xb) {
    if (h && h->before)
        h->before(h->ctx, layer, phase, xb);
}

static void hook_after(const halo_trace_hooks *h, int layer, int phase, const float *out) {
    if (h && h->after)
        h->after(h->ctx, layer, phase, out);
}

/* out = w x (one thread), x being the input last given to halo_act_set. */
static void mv(halo_trace *t, float *out, const halo_mat *w) {
    halo_mat_vec(NULL, out, w, 0, 0, t->act.x, halo_act_get(&t->act, w), w->rows, w->cols, 0);
}

float *halo_trace_forward(halo_trace *t, int token, int pos, const halo_trace_hooks *hooks) {
    const halo_model_config *c = halo_model_get_config(t->model);
    HALO_ASSERT(token >= 0 && token < c->vocab_size);
    HALO_ASSERT(pos >= 0 && pos < c->seq_len);
    size_t dim = (size_t)c->dim;
    size_t kv_dim = (size_t)halo_model_kv_dim(c);
    int head_size = halo_model_head_size(c), kv_mul = c->n_heads / c->n_kv_heads;
    float eps = halo_model_norm_eps(t->model);
    float *x = t->x;
    halo_mat_row(halo_model_embedding(t->model), token, x);

    for (size_t l = 0; l < (size_t)c->n_layers; l++) {
        int layer = (int)l;
        const halo_layer *L = halo_model_layer(t->model, layer);
        size_t layer_off = l * (size_t)c->seq_len * kv_dim;
        float *k = t->key_cache + layer_off + (size_t)pos * kv_dim;
        float *v = t->value_cache + layer_off + (size_t)pos * kv_dim;

        halo_rmsnorm_eps(t->xb, x, L->rms_att, c->dim, eps);
        hook_before(hooks, layer, HALO_PHASE_ATTN, t->xb);
        halo_act_set(&t->act, t->xb, c->dim);
        mv(t, t->q, &L->wq);
        mv(t, k, &L->wk);
        mv(t, v, &L->wv);
        halo_rope(t->q, c->dim, head_size, t->freq, pos);
        halo_rope(k, (int)kv_dim, head_size, t->freq, pos);
        for (int h = 0; h < c->n_heads; h++) {
            size_t kv_off = layer_off + (size_t)(h / kv_mul) * (size_t)head_size;
            size_t h_off = (size_t)h * (size_t)head_size;
            halo_attend(t->xb + h_off, t->att, t->q + h_off, t->key_cache + kv_off,
                        t->value_cache + kv_off, kv_dim, NULL, pos, head_size);
        }
        halo_act_set(&t->act, t->xb, c->dim);
        mv(t, t->xb2, &L->wo);
        for (size_t i = 0; i < dim; i++)
            x[i] += t->xb2[i];
        hook_after(hooks, layer, HALO_PHASE_ATTN, t->xb);

        halo_rmsnorm_eps(t->xb, x, L->rms_ffn, c->dim, eps);
        hook_before(hooks, layer, HALO_PHASE_FFN, t->xb);
        halo_act_set(&t->act, t->xb, c->dim);
        mv(t, t->hb, &L->w1);
        mv(t, t->hb2, &L->w3);
        halo_swiglu(t->hb, t->hb2, c->hidden_dim);
        halo_act_set(&t->act, t->hb, c->hidden_dim);
        mv(t, t->xb, &L->w2);
        for (size_t i = 0; i < dim; i++)
            x[i] += t->xb[i];
        hook_after(hooks, layer, HALO_PHASE_FFN, t->hb);
    }
    halo_rmsnorm_eps(x, x, halo_model_get_weights(t->model)->rms_final, c->dim, eps);
    halo_act_set(&t->act, x, c->dim);
    mv(t, t->logits, halo_model_classifier(t->model));
    return t->logits;
}
