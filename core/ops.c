/*
 * Kernels. The dot product uses GCC/Clang vector extensions, which compile to SSE/AVX on
 * x86-64 and NEON on aarch64 without intrinsics and without -ffast-math: the blocked order
 * is written out, so the compiler has nothing to reassociate.
 */
#include "core/ops.h"

#include <math.h>
#include <string.h>

/* 16-byte vectors: native on SSE2 (every x86-64) and NEON (every aarch64). */
typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/*
 * Two 4-lane accumulators over 8 floats per step, a 4-lane step, then a scalar tail. Measured
 * (issue 2): a kernel doing four rows per step to share the loads of x was 25% slower here
 * than this one, which leaves streaming to the hardware prefetcher. Inlined where it runs on
 * short vectors (attention scores); halo_dot is the same body, so the same results.
 */
static inline float dot_blocked(const float *a, const float *b, int n) {
    v4f acc0 = {0}, acc1 = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        acc0 += load4(a + i) * load4(b + i);
        acc1 += load4(a + i + 4) * load4(b + i + 4);
    }
    if (i + 4 <= n) {
        acc0 += load4(a + i) * load4(b + i);
        i += 4;
    }
    v4f acc = acc0 + acc1;
    float f[4];
    memcpy(f, &acc, sizeof f);
    float s = (f[0] + f[2]) + (f[1] + f[3]);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

float halo_dot(const float *a, const float *b, int n) {
    return dot_blocked(a, b, n);
}

float halo_sum(const float *a, size_t n) {
    v4f acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 += load4(a + i);
        acc1 += load4(a + i + 4);
        acc2 += load4(a + i + 8);
        acc3 += load4(a + i + 12);
    }
    v4f acc = (acc0 + acc1) + (acc2 + acc3);
    float f[4];
    memcpy(f, &acc, sizeof f);
    float s = (f[0] + f[2]) + (f[1] + f[3]);
    for (; i < n; i++)
        s += a[i];
    return s;
}

void halo_rmsnorm(float *out, const float *x, const float *w, int n) {
    halo_rmsnorm_eps(out, x, w, n, 1e-5f);
}

void halo_rmsnorm_eps(float *out, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    ss /= (float)n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (int i = 0; i < n; i++)
        out[i] = w[i] * (ss * x[i]);
}

void halo_softmax(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

void halo_matvec(float *out, const float *w, const float *x, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        out[r] = halo_dot(w + (size_t)r * (size_t)cols, x, cols);
}

typedef struct matvec_job {
    float *out;
    const float *w;
    size_t row_stride;
    const float *x;
    int rows, cols, rows_per_task, accumulate;
} matvec_job;

static void matvec_rows(const matvec_job *j, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        float v = halo_dot(j->w + (size_t)r * j->row_stride, j->x, j->cols);
        j->out[r] = j->accumulate ? j->out[r] + v : v;
    }
}

static void matvec_task(void *arg, int task_idx) {
    const matvec_job *j = arg;
    int r0 = task_idx * j->rows_per_task;
    int r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    matvec_rows(j, r0, r1);
}

/* Below this many multiply-adds a job costs more to hand out than to do. */
enum {
    MATVEC_MIN_PARALLEL = 1 << 17
};

void halo_matvec_window(halo_pool *pool, float *out, const float *w, size_t row_stride,
                        const float *x, int rows, int cols, int accumulate) {
    matvec_job j = {out, w, row_stride, x, rows, cols, rows, accumulate};
    int n_threads = halo_pool_n_threads(pool);
    if (n_threads == 1 || (long)rows * cols < MATVEC_MIN_PARALLEL) {
        matvec_rows(&j, 0, rows);
        return;
    }
    /* A few tasks per thread balance uneven progress; keep 4+ rows per task. */
    int n_tasks = n_threads * 4;
    j.rows_per_task = (rows + n_tasks - 1) / n_tasks;
    if (j.rows_per_task < 4)
        j.rows_per_task = 4;
    n_tasks = (rows + j.rows_per_task - 1) / j.rows_per_task;
    halo_pool_run(pool, matvec_task, &j, n_tasks);
}

void halo_matvec_pool(halo_pool *pool, float *out, const float *w, const float *x, int rows,
                      int cols) {
    halo_matvec_window(pool, out, w, (size_t)cols, x, rows, cols, 0);
}

void halo_swiglu(float *hb, const float *hb2, int n) {
    for (int i = 0; i < n; i++) {
        float v = hb[i];
        v *= 1.0f / (1.0f + expf(-v));
        hb[i] = v * hb2[i];
    }
}

enum {
    ROPE_TABLE = 256 /* frequencies whose cos/sin are computed once per call */
};

void halo_rope(float *vec, int n, int head_size, const float *freq, int pos) {
    /* Every head rotates by the same head_size / 2 angles: compute their cos and sin once
       (the same calls on the same values as per pair, so the same results). */
    int half = head_size / 2;
    if (half <= ROPE_TABLE) {
        float c[ROPE_TABLE], s[ROPE_TABLE];
        for (int j = 0; j < half; j++) {
            float val = (float)pos * freq[j];
            c[j] = cosf(val);
            s[j] = sinf(val);
        }
        for (int i = 0; i < n; i += 2) {
            int j = (i % head_size) / 2;
            float v0 = vec[i], v1 = vec[i + 1];
            vec[i] = v0 * c[j] - v1 * s[j];
            vec[i + 1] = v0 * s[j] + v1 * c[j];
        }
        return;
    }
    for (int i = 0; i < n; i += 2) {
        float val = (float)pos * freq[(i % head_size) / 2];
        float fcr = cosf(val), fci = sinf(val);
        float v0 = vec[i], v1 = vec[i + 1];
        vec[i] = v0 * fcr - v1 * fci;
        vec[i + 1] = v0 * fci + v1 * fcr;
    }
}

void halo_attend(float *out, float *att, const float *q, const float *k_cache, const float *v_cache,
                 size_t kv_stride, const unsigned char *valid, int pos, int head_size) {
    float scale = 1.0f / sqrtf((float)head_size);
    /* Scores of valid positions are packed to the front so the softmax sees only them. */
    int n = 0;
    for (int t = 0; t <= pos; t++)
        if (!valid || valid[t])
            att[n++] = dot_blocked(q, k_cache + (size_t)t * kv_stride, head_size) * scale;
    halo_softmax(att, n);
    for (int i = 0; i < head_size; i++)
        out[i] = 0.0f;
    n = 0;
    for (int t = 0; t <= pos; t++) {
        if (valid && !valid[t])
            continue;
        const float *v = v_cache + (size_t)t * kv_stride;
        float a = att[n++];
        int i = 0;
        /* Element by element as the scalar loop (a * v[i] rounded, then added), four at a
           time: the same results. */
        for (; i + 4 <= head_size; i += 4) {
            v4f o = load4(out + i) + load4(v + i) * a;
            memcpy(out + i, &o, sizeof o);
        }
        for (; i < head_size; i++)
            out[i] += a * v[i];
    }
}

double halo_nll(const float *logits, int n, int target) {
    double max = (double)logits[0];
    for (int i = 1; i < n; i++)
        if ((double)logits[i] > max)
            max = (double)logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += exp((double)logits[i] - max);
    /* cppcheck-suppress invalidFunctionArg ; sum >= 1: the largest logit adds exp(0) */
    return log(sum) + max - (double)logits[target];
}
