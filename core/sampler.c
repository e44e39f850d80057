/*
 * Sampling. Nucleus sampling sorts only the candidates that can matter: a token whose
 * probability is below (1 - top_p) / (n - 1) can never be inside the nucleus, because the
 * other n - 1 tokens would then already cover more than top_p (llama2.c's observation).
 */
#include "core/sampler.h"

#include "core/ops.h"

#include <math.h>
#include <stdlib.h>

typedef struct cand {
    float prob;
    int id;
} cand;

struct halo_sampler {
    int vocab_size;
    float temperature;
    float top_p;
    halo_rng rng;
    cand *cands; /* (vocab_size) scratch for top-p */
};

int halo_sampler_new(halo_sampler **out, int vocab_size, float temperature, float top_p,
                     uint64_t seed, halo_err *err) {
    *out = NULL;
    if (vocab_size < 1)
        return HALO_FAIL(err, HALO_ERR_ARG, "sampler: vocabulary size %d", vocab_size);
    if (!(temperature >= 0.0f) || !isfinite(temperature))
        return HALO_FAIL(err, HALO_ERR_ARG, "temperature %g: expected a finite value >= 0",
                         (double)temperature);
    if (!(top_p > 0.0f && top_p <= 1.0f))
        return HALO_FAIL(err, HALO_ERR_ARG, "top-p %g: expected a value in (0, 1]", (double)top_p);
    halo_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "sampler: out of memory");
    s->cands = malloc((size_t)vocab_size * sizeof *s->cands);
    if (!s->cands) {
        free(s);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "sampler: out of memory");
    }
    s->vocab_size = vocab_size;
    s->temperature = temperature;
    s->top_p = top_p;
    halo_rng_init(&s->rng, seed);
    *out = s;
    return HALO_OK;
}

void halo_sampler_free(halo_sampler *s) {
    if (!s)
        return;
    free(s->cands);
    free(s);
}

int halo_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static int sample_cdf(const float *probs, int n, float r) {
    float cdf = 0.0f;
    for (int i = 0; i < n; i++) {
        cdf += probs[i];
        if (r < cdf)
            return i;
    }
    return n - 1; /* rounding left r at or above the last cdf value */
}

static int cand_desc(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (a->prob != b->prob)
        return a->prob < b->prob ? 1 : -1;
    return (a->id > b->id) - (a->id < b->id); /* stable order for equal probabilities */
}

static int sample_top_p(halo_sampler *s, const float *probs, float r, int top) {
    int n = s->vocab_size, k = 0;
    float cutoff = n > 1 ? (1.0f - s->top_p) / (float)(n - 1) : 0.0f;
    for (int i = 0; i < n; i++)
        if (probs[i] >= cutoff)
            s->cands[k++] = (cand){probs[i], i};
    /* The cut-off bound holds only for top_p >= 1/n: below that even the most likely token
       can be under it, and then it is the whole nucleus (its probability is >= 1/n > top_p). */
    if (k == 0)
        return top;
    qsort(s->cands, (size_t)k, sizeof *s->cands, cand_desc);
    float cum = 0.0f;
    int last = k - 1;
    for (int i = 0; i < k; i++) {
        cum += s->cands[i].prob;
        if (cum > s->top_p) {
            last = i;
            break;
        }
    }
    float target = r * cum, cdf = 0.0f;
    for (int i = 0; i <= last; i++) {
        cdf += s->cands[i].prob;
        if (target < cdf)
            return s->cands[i].id;
    }
    return s->cands[last].id;
}

int halo_sampler_sample(halo_sampler *s, float *logits, int *out, halo_err *err) {
    int n = s->vocab_size, top = 0;
    *out = -1;
    for (int i = 0; i < n; i++) {
        if (!isfinite(logits[i]))
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "the logit of token %d is %s (the model gives non-finite logits)", i,
                             isnan(logits[i]) ? "NaN" : "infinite");
        if (logits[i] > logits[top])
            top = i;
    }
    if (s->temperature == 0.0f) {
        *out = top;
        return HALO_OK;
    }
    float max = logits[top], lo = max;
    for (int i = 0; i < n; i++)
        if (logits[i] < lo)
            lo = logits[i];
    if (isfinite(max / s->temperature) && isfinite(lo / s->temperature)) {
        /* llama2.c's arithmetic, kept bit for bit: scale, then the softmax subtracts the
           largest scaled logit. */
        for (int i = 0; i < n; i++)
            logits[i] /= s->temperature;
    } else {
        /* A temperature so small that logit / T overflows: subtract first, so the largest
           becomes exactly 0 and the others -inf or finite negatives (greedy in the limit). */
        for (int i = 0; i < n; i++)
            logits[i] = (logits[i] - max) / s->temperature;
    }
    halo_softmax(logits, n);
    float r = halo_rng_f32(&s->rng);
    *out = s->top_p >= 1.0f ? sample_cdf(logits, n, r) : sample_top_p(s, logits, r, top);
    return HALO_OK;
}
