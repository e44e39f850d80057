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

/* The end of the blocked dot products, from element i: one more 4-lane step into acc0, the
   lanes summed pairwise, then a scalar tail. */
static inline float dot_finish(const float *a, const float *b, int n, int i, v4f acc0, v4f acc1) {
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
    return dot_finish(a, b, n, i, acc0, acc1);
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

/* halo_softmax's body, inlined into the attention variants below. */
static inline __attribute__((always_inline)) void softmax_body(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    /* The exponentials first, then their sum in the same order: the sum stays in a register
       instead of crossing each library call through the stack. */
    for (int i = 0; i < n; i++)
        x[i] = expf(x[i] - max);
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += x[i];
    /* Four correctly rounded divisions at a time: the scalar loop's results. */
    v4f s4 = {sum, sum, sum, sum};
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f v = load4(x + i) / s4;
        memcpy(x + i, &v, sizeof v);
    }
    for (; i < n; i++)
        x[i] /= sum;
}

void halo_softmax(float *x, int n) {
    softmax_body(x, n);
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

#if defined(__x86_64__) && defined(__GNUC__)
#define HALO_OPS_AVX2 1
#include <immintrin.h>
/* 32-byte vectors: one AVX register (only inside the AVX2 functions below; elsewhere GCC
   would spill them to the stack). */
typedef float v8f __attribute__((vector_size(32)));

/* dot_blocked with acc0 and acc1 as the two halves of one 8-lane register: the same
   multiplications and additions lane by lane (contraction is off: no fused multiply-adds),
   so the same result, with half the instructions. */
__attribute__((target("avx2"))) static inline float dot_blocked_avx2(const float *a, const float *b,
                                                                     int n) {
    v8f acc8 = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f x, y;
        memcpy(&x, a + i, sizeof x);
        memcpy(&y, b + i, sizeof y);
        acc8 += x * y;
    }
    v4f acc0, acc1;
    memcpy(&acc0, &acc8, sizeof acc0);
    memcpy(&acc1, (const char *)&acc8 + sizeof acc0, sizeof acc1);
    return dot_finish(a, b, n, i, acc0, acc1);
}

/* Four rows of dot_blocked_avx2 at once, each row its own accumulators and the same
   operations in the same order (the horizontal sums done for the four rows together after a
   transposition): out[k] = row k . x, the single-row results bit for bit. */
__attribute__((target("avx2"))) static inline void dot4_avx2(const float *w, size_t stride,
                                                             const float *x, int n, float *out) {
    const float *w0 = w, *w1 = w + stride, *w2 = w + 2 * stride, *w3 = w + 3 * stride;
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f xv, y0, y1, y2, y3;
        memcpy(&xv, x + i, sizeof xv);
        memcpy(&y0, w0 + i, sizeof y0);
        memcpy(&y1, w1 + i, sizeof y1);
        memcpy(&y2, w2 + i, sizeof y2);
        memcpy(&y3, w3 + i, sizeof y3);
        a0 += y0 * xv;
        a1 += y1 * xv;
        a2 += y2 * xv;
        a3 += y3 * xv;
    }
    v4f l[4], h[4];
    memcpy(&l[0], &a0, sizeof l[0]);
    memcpy(&h[0], (const char *)&a0 + sizeof l[0], sizeof h[0]);
    memcpy(&l[1], &a1, sizeof l[1]);
    memcpy(&h[1], (const char *)&a1 + sizeof l[1], sizeof h[1]);
    memcpy(&l[2], &a2, sizeof l[2]);
    memcpy(&h[2], (const char *)&a2 + sizeof l[2], sizeof h[2]);
    memcpy(&l[3], &a3, sizeof l[3]);
    memcpy(&h[3], (const char *)&a3 + sizeof l[3], sizeof h[3]);
    if (i + 4 <= n) {
        v4f xv = load4(x + i);
        l[0] += load4(w0 + i) * xv;
        l[1] += load4(w1 + i) * xv;
        l[2] += load4(w2 + i) * xv;
        l[3] += load4(w3 + i) * xv;
        i += 4;
    }
    v4f s0 = l[0] + h[0], s1 = l[1] + h[1], s2 = l[2] + h[2], s3 = l[3] + h[3];
    /* column c holds lane c of every row */
    v4f c0 = {s0[0], s1[0], s2[0], s3[0]}, c1 = {s0[1], s1[1], s2[1], s3[1]};
    v4f c2 = {s0[2], s1[2], s2[2], s3[2]}, c3 = {s0[3], s1[3], s2[3], s3[3]};
    v4f r = (c0 + c2) + (c1 + c3);
    for (; i < n; i++) {
        v4f wv = {w0[i], w1[i], w2[i], w3[i]};
        r += wv * x[i];
    }
    memcpy(out, &r, sizeof r);
}

__attribute__((target("avx2"))) static void matvec_rows_avx2(const matvec_job *j, int r0, int r1) {
    int r = r0;
    for (; r + 4 <= r1; r += 4) {
        float v[4];
        dot4_avx2(j->w + (size_t)r * j->row_stride, j->row_stride, j->x, j->cols, v);
        for (int k = 0; k < 4; k++)
            j->out[r + k] = j->accumulate ? j->out[r + k] + v[k] : v[k];
    }
    for (; r < r1; r++) {
        float v = dot_blocked_avx2(j->w + (size_t)r * j->row_stride, j->x, j->cols);
        j->out[r] = j->accumulate ? j->out[r] + v : v;
    }
    /* Clean upper halves before returning to SSE code (the compiler does not always insert
       this for a target attribute): with them dirty, the SSE code and libm's expf that follow
       ran several times slower (test_golden: 10 -> 14 s). */
    _mm256_zeroupper();
}
#endif

static void matvec_rows(const matvec_job *j, int r0, int r1) {
#ifdef HALO_OPS_AVX2
    if (__builtin_cpu_supports("avx2")) {
        matvec_rows_avx2(j, r0, r1);
        return;
    }
#endif
    for (int r = r0; r < r1; r++) {
        float v = dot_blocked(j->w + (size_t)r * j->row_stride, j->x, j->cols);
        j->out[r] = j->accumulate ? j->out[r] + v : v;
    }
}

static void matvec_task(void *arg, int task_idx) {
    const matvec_job *j = arg;
    int r0 = task_idx * j->rows_per_task;
    int r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    matvec_rows(j, r0, r1);
}

void halo_matvec_window(halo_pool *pool, float *out, const float *w, size_t row_stride,
                        const float *x, int rows, int cols, int accumulate) {
    matvec_job j = {out, w, row_stride, x, rows, cols, rows, accumulate};
    int n_tasks = halo_pool_split(pool, rows, (long)rows * cols, 4, &j.rows_per_task);
    if (n_tasks == 0)
        matvec_rows(&j, 0, rows);
    else
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

/*
 * The body of halo_attend for a head size known to the compiler (HS > 0; inlined with a
 * constant, the query and a chunk of 8 outputs stay in registers across positions), or any
 * head size (HS == 0: hs), with or without a validity mask (MASKED: the loops are written
 * once, compiled twice). Every score is dot_blocked's operations in its order, and every
 * output element is ((0 + a_0 v_0) + a_1 v_1) + ... over positions in order, each product
 * rounded before it is added: the results of the plain loops, bit for bit.
 */
static inline __attribute__((always_inline)) void
attend_body(float *out, float *att, const float *q, const float *k_cache, const float *v_cache,
            size_t kv_stride, const unsigned char *valid, int pos, const int HS, int hs,
            const int MASKED) {
    if (HS)
        hs = HS;
    float scale = 1.0f / sqrtf((float)hs);
    /* Scores of valid positions are packed to the front so the softmax sees only them. */
    int n = 0;
    for (int t = 0; t <= pos; t++)
        if (!MASKED || valid[t])
            att[n++] = dot_blocked(q, k_cache + (size_t)t * kv_stride, hs) * scale;
    softmax_body(att, n);
    int i = 0;
    for (; i + 8 <= hs; i += 8) {
        v4f o0 = {0}, o1 = {0};
        const float *v = v_cache + i;
        n = 0;
        for (int t = 0; t <= pos; t++, v += kv_stride) {
            if (MASKED && !valid[t])
                continue;
            float a = att[n++];
            o0 += load4(v) * a;
            o1 += load4(v + 4) * a;
        }
        memcpy(out + i, &o0, sizeof o0);
        memcpy(out + i + 4, &o1, sizeof o1);
    }
    for (; i < hs; i++) {
        float o = 0.0f;
        n = 0;
        for (int t = 0; t <= pos; t++) {
            if (MASKED && !valid[t])
                continue;
            o += att[n++] * v_cache[(size_t)t * kv_stride + (size_t)i];
        }
        out[i] = o;
    }
}

/* attend_body for head size HS, the query copied into qv (stores to att cannot alias a local
   array, so the compiler keeps it in registers). */
#define ATTEND_FIXED(HS)                                                                       \
    do {                                                                                       \
        memcpy(qv, q, (HS) * sizeof(float));                                                   \
        if (valid)                                                                             \
            attend_body(out, att, qv, k_cache, v_cache, kv_stride, valid, pos, (HS), (HS), 1); \
        else                                                                                   \
            attend_body(out, att, qv, k_cache, v_cache, kv_stride, NULL, pos, (HS), (HS), 0);  \
    } while (0)

/* halo_attend's dispatch on the head size, inlined into each compiled variant below. */
static inline __attribute__((always_inline)) void
attend_sizes(float *out, float *att, const float *q, const float *k_cache, const float *v_cache,
             size_t kv_stride, const unsigned char *valid, int pos, int head_size) {
    float qv[128];
    switch (head_size) {
    case 8:
        ATTEND_FIXED(8);
        return;
    case 32:
        ATTEND_FIXED(32);
        return;
    case 64:
        ATTEND_FIXED(64);
        return;
    case 128:
        ATTEND_FIXED(128);
        return;
    default:
        if (valid)
            attend_body(out, att, q, k_cache, v_cache, kv_stride, valid, pos, 0, head_size, 1);
        else
            attend_body(out, att, q, k_cache, v_cache, kv_stride, NULL, pos, 0, head_size, 0);
    }
}

#ifdef HALO_OPS_AVX2
/* The same code compiled with AVX2's three-operand (VEX) encodings: fewer register copies, the
   same operations (no fused multiply-adds: contraction is off, and FMA is not enabled). */
__attribute__((target("avx2"))) static void
attend_avx2(float *out, float *att, const float *q, const float *k_cache, const float *v_cache,
            size_t kv_stride, const unsigned char *valid, int pos, int head_size) {
    if (head_size == 8 && !valid) {
        /* One 8-lane register per key and value (the bundled model's heads): dot_blocked for
           8 values is (0 + q0..3 k0..3) + (0 + q4..7 k4..7), then (f0 + f2) + (f1 + f3); each
           output lane sums a_t v_t over positions in order. The same operations as
           attend_body, so the same results. */
        float scale = 1.0f / sqrtf(8.0f);
        v8f q8;
        memcpy(&q8, q, sizeof q8);
        const v4f z = {0};
        for (int t = 0; t <= pos; t++) {
            v8f k8;
            memcpy(&k8, k_cache + (size_t)t * kv_stride, sizeof k8);
            v8f p = q8 * k8;
            v4f lo, hi;
            memcpy(&lo, &p, sizeof lo);
            memcpy(&hi, (const char *)&p + sizeof lo, sizeof hi);
            v4f acc = (z + lo) + (z + hi);
            att[t] = ((acc[0] + acc[2]) + (acc[1] + acc[3])) * scale;
        }
        softmax_body(att, pos + 1);
        v8f o = {0};
        for (int t = 0; t <= pos; t++) {
            v8f v8;
            memcpy(&v8, v_cache + (size_t)t * kv_stride, sizeof v8);
            o += v8 * att[t];
        }
        memcpy(out, &o, sizeof o);
    } else {
        attend_sizes(out, att, q, k_cache, v_cache, kv_stride, valid, pos, head_size);
    }
    _mm256_zeroupper();
}
#endif

void halo_attend(float *out, float *att, const float *q, const float *k_cache, const float *v_cache,
                 size_t kv_stride, const unsigned char *valid, int pos, int head_size) {
#ifdef HALO_OPS_AVX2
    if (__builtin_cpu_supports("avx2")) {
        attend_avx2(out, att, q, k_cache, v_cache, kv_stride, valid, pos, head_size);
        return;
    }
#endif
    attend_sizes(out, att, q, k_cache, v_cache, kv_stride, valid, pos, head_size);
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
