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
 * Four 4-lane accumulators over 16 floats per step (two independent chains of additions for
 * an 8-lane register: one chain waited on the adder's latency; issue 15, one device 0.957x
 * the time per token on the 110M f32 model, docs/net.md "Datagrams at the path MTU"), an
 * 8-float step into the first two, the pairs folded (acc0 + acc2, acc1 + acc3), a 4-lane step,
 * then a scalar tail. Measured (issue 2): a kernel doing four rows per step to share the loads
 * of x was 25% slower here than this one, which leaves streaming to the hardware prefetcher.
 * Inlined where it runs on short vectors (attention scores); halo_dot is the same body, so
 * the same results.
 */
static inline float dot_blocked(const float *a, const float *b, int n) {
    v4f acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 += load4(a + i) * load4(b + i);
        acc1 += load4(a + i + 4) * load4(b + i + 4);
        acc2 += load4(a + i + 8) * load4(b + i + 8);
        acc3 += load4(a + i + 12) * load4(b + i + 12);
    }
    if (i + 8 <= n) {
        acc0 += load4(a + i) * load4(b + i);
        acc1 += load4(a + i + 4) * load4(b + i + 4);
        i += 8;
    }
    return dot_finish(a, b, n, i, acc0 + acc2, acc1 + acc3);
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

/* ==== Exponentials: libm's expf, four at a time where that is exact ==== */

#if defined(__x86_64__) && defined(__GNUC__) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 27))
#define HALO_OPS_EXPF_FMA 1
#include <immintrin.h>
#include <stdint.h>

/*
 * glibc's expf (since 2.27: sysdeps/ieee754/flt-32/e_expf.c, ARM's optimized-routines
 * algorithm) as glibc runs it on a processor with AVX2 and FMA, where its ifunc picks
 * __expf_fma: the same table, constants and operations, the fused multiply-adds where that
 * build has them (read from its disassembly in glibc 2.36), on four doubles at once. So the
 * results equal libm's bit for bit (tests/test_forward.c compares them over the floats),
 * and the softmax keeps llama2.c's numerics (the golden tests) at a fraction of the cost of
 * one library call per attention score (issue 16: a sixth of the bundled model's decode).
 * Lanes that glibc sends to its special cases (|x| >= 88, infinities, NaN) call expf itself.
 */
static const uint64_t expf_tab[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};

/* expf of the four lanes of d into *out, or 0 (nothing written) if a lane needs glibc's
   special cases. */
__attribute__((target("avx2,fma"))) static inline int expf4_fma(__m128 d, __m128 *out) {
    __m128i top = _mm_and_si128(_mm_srli_epi32(_mm_castps_si128(d), 20), _mm_set1_epi32(0x7ff));
    if (_mm_movemask_epi8(_mm_cmpgt_epi32(top, _mm_set1_epi32(0x42a)))) /* top12(88.0f) */
        return 0;
    const __m256d invln2n = _mm256_set1_pd(0x1.71547652b82fep+5); /* 32 / ln 2 */
    const __m256d shift = _mm256_set1_pd(0x1.8p+52);
    __m256d xd = _mm256_cvtps_pd(d);
    __m256d kd = _mm256_fmadd_pd(invln2n, xd, shift); /* round(x * 32 / ln 2), in its bits */
    __m256i ki = _mm256_castpd_si256(kd);
    kd = _mm256_sub_pd(kd, shift);
    __m256d r = _mm256_fmsub_pd(invln2n, xd, kd);
    __m256d z = _mm256_fmadd_pd(r, _mm256_set1_pd(0x1.c6af84b912394p-5 / 32 / 32 / 32),
                                _mm256_set1_pd(0x1.ebfce50fac4f3p-3 / 32 / 32));
    __m256d r2 = _mm256_mul_pd(r, r);
    __m256d y = _mm256_fmadd_pd(r, _mm256_set1_pd(0x1.62e42ff0c52d6p-1 / 32), _mm256_set1_pd(1.0));
    y = _mm256_fmadd_pd(z, r2, y);
    __m256i t = _mm256_i64gather_epi64((const long long *)expf_tab,
                                       _mm256_and_si256(ki, _mm256_set1_epi64x(31)), 8);
    t = _mm256_add_epi64(t, _mm256_slli_epi64(ki, 47));
    *out = _mm256_cvtpd_ps(_mm256_mul_pd(y, _mm256_castsi256_pd(t)));
    return 1;
}

/* x[i] = expf(x[i] - sub); returns ((0 + x[0]) + x[1]) + ... over the new values, in that
   order (the softmax's sum: adding each group of four as it is computed lets the additions,
   one chain, run beside the next group's exponentials). */
__attribute__((target("avx2,fma"), noinline)) static float expf_sub_sum_fma(float *x, int n,
                                                                            float sub) {
    __m128 s = _mm_set1_ps(sub);
    float sum = 0.0f;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 d = _mm_sub_ps(_mm_loadu_ps(x + i), s), e;
        if (expf4_fma(d, &e)) {
            _mm_storeu_ps(x + i, e);
        } else {
            for (int k = i; k < i + 4; k++)
                x[k] = expf(x[k] - sub);
        }
        sum += x[i];
        sum += x[i + 1];
        sum += x[i + 2];
        sum += x[i + 3];
    }
    if (i < n) {
        /* The last 1-3 values through a masked load, zeros in the other lanes. */
        __m128i lanes = _mm_setr_epi32(0, 1, 2, 3);
        __m128i mask = _mm_cmpgt_epi32(_mm_set1_epi32(n - i), lanes);
        __m128 d = _mm_sub_ps(_mm_maskload_ps(x + i, mask), s), e;
        if (expf4_fma(d, &e)) {
            _mm_maskstore_ps(x + i, mask, e);
        } else {
            for (int k = i; k < n; k++)
                x[k] = expf(x[k] - sub);
        }
        for (; i < n; i++)
            sum += x[i];
    }
    _mm256_zeroupper();
    return sum;
}

__attribute__((target("avx2,fma"))) static void swiglu_fma(float *hb, const float *hb2, int n) {
    int i = 0;
    const __m128 one = _mm_set1_ps(1.0f);
    for (; i + 4 <= n; i += 4) {
        __m128 v = _mm_loadu_ps(hb + i), e;
        if (!expf4_fma(_mm_xor_ps(v, _mm_set1_ps(-0.0f)), &e))
            break; /* the rest in the scalar loop */
        v = _mm_mul_ps(v, _mm_div_ps(one, _mm_add_ps(one, e)));
        _mm_storeu_ps(hb + i, _mm_mul_ps(v, _mm_loadu_ps(hb2 + i)));
    }
    for (; i < n; i++) {
        float v = hb[i];
        v *= 1.0f / (1.0f + expf(-v));
        hb[i] = v * hb2[i];
    }
    _mm256_zeroupper();
}

/* expf_sub_sum_fma for two rows at once: the two chains of additions side by side. */
__attribute__((target("avx2,fma"), noinline)) static void
expf_sub_sum2_fma(float *x0, float *x1, int n, float sub0, float sub1, float *sums) {
    __m128 s0 = _mm_set1_ps(sub0), s1 = _mm_set1_ps(sub1);
    float sum0 = 0.0f, sum1 = 0.0f;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 e0, e1;
        if (expf4_fma(_mm_sub_ps(_mm_loadu_ps(x0 + i), s0), &e0) &&
            expf4_fma(_mm_sub_ps(_mm_loadu_ps(x1 + i), s1), &e1)) {
            _mm_storeu_ps(x0 + i, e0);
            _mm_storeu_ps(x1 + i, e1);
        } else {
            for (int k = i; k < i + 4; k++) {
                x0[k] = expf(x0[k] - sub0);
                x1[k] = expf(x1[k] - sub1);
            }
        }
        sum0 += x0[i];
        sum1 += x1[i];
        sum0 += x0[i + 1];
        sum1 += x1[i + 1];
        sum0 += x0[i + 2];
        sum1 += x1[i + 2];
        sum0 += x0[i + 3];
        sum1 += x1[i + 3];
    }
    for (; i < n; i++) {
        sum0 += x0[i] = expf(x0[i] - sub0);
        sum1 += x1[i] = expf(x1[i] - sub1);
    }
    sums[0] = sum0;
    sums[1] = sum1;
    _mm256_zeroupper();
}

static int have_expf_fma(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

/* x[i] = expf(x[i] - sub), and the sum of the new values in index order. */
static float expf_sub_sum(float *x, int n, float sub) {
#ifdef HALO_OPS_EXPF_FMA
    if (have_expf_fma())
        return expf_sub_sum_fma(x, n, sub);
#endif
    /* The exponentials first, then their sum in the same order: the sum stays in a register
       instead of crossing each library call through the stack. */
    for (int i = 0; i < n; i++)
        x[i] = expf(x[i] - sub);
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += x[i];
    return sum;
}

void halo_expf_sub(float *x, int n, float sub) {
    (void)expf_sub_sum(x, n, sub);
}

/* halo_softmax's body, inlined into the attention variants below. */
static inline __attribute__((always_inline)) void softmax_body(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    float sum = expf_sub_sum(x, n, max);
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

/* dot_blocked with acc0 and acc1 as the two halves of one 8-lane register and acc2, acc3 as
   those of a second: the same multiplications and additions lane by lane (contraction is
   off: no fused multiply-adds), so the same result, with half the instructions
   (test_quant f32_vector_paths_equal_the_portable_dot). */
__attribute__((target("avx2"))) static inline float dot_blocked_avx2(const float *a, const float *b,
                                                                     int n) {
    v8f acc8 = {0}, acc8b = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f x, y, xb, yb;
        memcpy(&x, a + i, sizeof x);
        memcpy(&y, b + i, sizeof y);
        memcpy(&xb, a + i + 8, sizeof xb);
        memcpy(&yb, b + i + 8, sizeof yb);
        acc8 += x * y;
        acc8b += xb * yb;
    }
    if (i + 8 <= n) {
        v8f x, y;
        memcpy(&x, a + i, sizeof x);
        memcpy(&y, b + i, sizeof y);
        acc8 += x * y;
        i += 8;
    }
    acc8 += acc8b;
    v4f acc0, acc1;
    memcpy(&acc0, &acc8, sizeof acc0);
    memcpy(&acc1, (const char *)&acc8 + sizeof acc0, sizeof acc1);
    return dot_finish(a, b, n, i, acc0, acc1);
}

/* Four rows of dot_blocked_avx2 at once, each row its own accumulators and the same
   operations in the same order (the horizontal sums done for the four rows together after a
   transposition): out[k] = row k . x, the single-row results bit for bit. */
/* One 8-float step of dot4_avx2: *aK += row K's floats [i, i + 8) times x's, lane by lane. */
__attribute__((target("avx2"))) static inline void dot4_step8(const float *w0, const float *w1,
                                                              const float *w2, const float *w3,
                                                              const float *x, int i, v8f *a0,
                                                              v8f *a1, v8f *a2, v8f *a3) {
    v8f xv, y0, y1, y2, y3;
    memcpy(&xv, x + i, sizeof xv);
    memcpy(&y0, w0 + i, sizeof y0);
    memcpy(&y1, w1 + i, sizeof y1);
    memcpy(&y2, w2 + i, sizeof y2);
    memcpy(&y3, w3 + i, sizeof y3);
    *a0 += y0 * xv;
    *a1 += y1 * xv;
    *a2 += y2 * xv;
    *a3 += y3 * xv;
}

__attribute__((target("avx2"))) static inline void dot4_avx2(const float *w, size_t stride,
                                                             const float *x, int n, float *out) {
    const float *w0 = w, *w1 = w + stride, *w2 = w + 2 * stride, *w3 = w + 3 * stride;
    /* two accumulators per row, as dot_blocked_avx2's */
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        dot4_step8(w0, w1, w2, w3, x, i, &a0, &a1, &a2, &a3);
        dot4_step8(w0, w1, w2, w3, x, i + 8, &b0, &b1, &b2, &b3);
    }
    if (i + 8 <= n) {
        dot4_step8(w0, w1, w2, w3, x, i, &a0, &a1, &a2, &a3);
        i += 8;
    }
    a0 += b0;
    a1 += b1;
    a2 += b2;
    a3 += b3;
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

/* Four rows at a time only for small matrices, which decode finds in the cache (the bundled
   model): there dot4_avx2 is 1.2-1.3x faster than one row at a time. A matrix read from memory
   streams 1.7-1.8x faster one row after the other, a single linear stream, than as four
   interleaved streams that each jump ahead at every row's end (f32, one AMD EPYC core, best
   of 60 passes: 768 columns 25.9 against 14.3 GB/s, 2048 columns 25.8 against 20.4 GB/s;
   issue 15, docs/net.md "Where the cluster's time went"). Both give the same results. */
enum {
    DOT4_MAX_COLS = 256,         /* rows shorter than this ... */
    DOT4_MAX_BYTES = 1024 * 1024 /* ... and a window spanning at most this */
};

__attribute__((target("avx2"))) static void matvec_rows_avx2(const matvec_job *j, int r0, int r1) {
    int r = r0;
    int four = j->cols < DOT4_MAX_COLS &&
               (size_t)j->rows * j->row_stride * sizeof(float) <= DOT4_MAX_BYTES;
    for (; four && r + 4 <= r1; r += 4) {
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
#ifdef HALO_OPS_EXPF_FMA
    if (have_expf_fma()) {
        swiglu_fma(hb, hb2, n);
        return;
    }
#endif
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

#ifdef HALO_OPS_EXPF_FMA
/* a = lo + hi of p (positions r | r + 1: the first additions of two positions' scores). */
#define HALO_HS8_PAIR(pa, pb)                               \
    _mm256_add_ps(_mm256_permute2f128_ps((pa), (pb), 0x20), \
                  _mm256_permute2f128_ps((pa), (pb), 0x31))

/* The scores of positions t..t+7 (keys at k, kv_stride apart) of one head of size 8: every
   product q_j k_j, then per position ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7)),
   dot_blocked's order for 8 values, times scale. Two positions share a register for the first
   additions; the transposition leaves positions in the order 0 2 4 6 1 3 5 7, which one
   permutation undoes. Written out (no arrays): GCC -O2 kept arrays of registers on the stack. */
__attribute__((target("avx2,fma"))) static inline __m256
scores8_hs8(__m256 q8, __m256 k0, __m256 k1, __m256 k2, __m256 k3, __m256 k4, __m256 k5, __m256 k6,
            __m256 k7, __m256 scale) {
    __m256 a0 = HALO_HS8_PAIR(_mm256_mul_ps(q8, k0), _mm256_mul_ps(q8, k1));
    __m256 a1 = HALO_HS8_PAIR(_mm256_mul_ps(q8, k2), _mm256_mul_ps(q8, k3));
    __m256 a2 = HALO_HS8_PAIR(_mm256_mul_ps(q8, k4), _mm256_mul_ps(q8, k5));
    __m256 a3 = HALO_HS8_PAIR(_mm256_mul_ps(q8, k6), _mm256_mul_ps(q8, k7));
    __m256 s1 = _mm256_add_ps(_mm256_unpacklo_ps(a0, a1), _mm256_unpackhi_ps(a0, a1));
    __m256 s2 = _mm256_add_ps(_mm256_unpacklo_ps(a2, a3), _mm256_unpackhi_ps(a2, a3));
    __m256 s = _mm256_add_ps(_mm256_shuffle_ps(s1, s2, 0x44), _mm256_shuffle_ps(s1, s2, 0xee));
    s = _mm256_permutevar8x32_ps(s, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    return _mm256_mul_ps(s, scale);
}

/* One score of a head of size 8, the same operations one position at a time. */
__attribute__((target("avx2,fma"))) static inline float score1_hs8(__m256 q8, const float *k,
                                                                   float scale) {
    __m256 p = _mm256_mul_ps(q8, _mm256_loadu_ps(k));
    __m128 acc = _mm_add_ps(_mm256_castps256_ps128(p), _mm256_extractf128_ps(p, 1));
    float f[4];
    _mm_storeu_ps(f, acc);
    return ((f[0] + f[2]) + (f[1] + f[3])) * scale;
}

/* The largest of x[0..n), n > 0, as softmax_body's loop finds it: each lane keeps
   "x > max ? x : max" from x[0] on, which is what max_ps computes (NaN included); only the
   sign of a zero maximum can differ, and x - (+0) and x - (-0) have the same exponential. */
__attribute__((target("avx2,fma"))) static inline float max_of(const float *x, int n) {
    __m256 m = _mm256_set1_ps(x[0]);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
    __m128 h = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    h = _mm_max_ps(_mm_movehl_ps(h, h), h);
    h = _mm_max_ss(_mm_movehdup_ps(h), h);
    float max = _mm_cvtss_f32(h);
    for (; i < n; i++)
        if (x[i] > max)
            max = x[i];
    return max;
}

/* x[0..n) /= sum, correctly rounded divisions as the scalar loop's. */
__attribute__((target("avx2,fma"))) static inline void div_by(float *x, int n, float sum) {
    __m256 s8 = _mm256_set1_ps(sum);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_div_ps(_mm256_loadu_ps(x + i), s8));
    for (; i < n; i++)
        x[i] /= sum;
}

/*
 * halo_attend2 for head size 8 without a mask (the bundled model): the keys of eight positions
 * loaded once for both heads, and the two heads' chains of additions (softmax sum, weighted
 * values) side by side instead of one after the other. Every score, exponential, sum,
 * quotient and output is the operation sequence of attend_avx2's head-size-8 path.
 */
__attribute__((target("avx2,fma"))) static void
attend2_hs8_fma(float *out, float *att0, float *att1, const float *q, const float *k_cache,
                const float *v_cache, size_t kv_stride, int pos) {
    float scale = 1.0f / sqrtf(8.0f);
    __m256 scale8 = _mm256_set1_ps(scale);
    __m256 q0 = _mm256_loadu_ps(q), q1 = _mm256_loadu_ps(q + 8);
    int n = pos + 1, t = 0;
    for (; t + 8 <= n; t += 8) {
        const float *k = k_cache + (size_t)t * kv_stride;
        __m256 k0 = _mm256_loadu_ps(k), k1 = _mm256_loadu_ps(k + kv_stride);
        __m256 k2 = _mm256_loadu_ps(k + 2 * kv_stride), k3 = _mm256_loadu_ps(k + 3 * kv_stride);
        __m256 k4 = _mm256_loadu_ps(k + 4 * kv_stride), k5 = _mm256_loadu_ps(k + 5 * kv_stride);
        __m256 k6 = _mm256_loadu_ps(k + 6 * kv_stride), k7 = _mm256_loadu_ps(k + 7 * kv_stride);
        _mm256_storeu_ps(att0 + t, scores8_hs8(q0, k0, k1, k2, k3, k4, k5, k6, k7, scale8));
        _mm256_storeu_ps(att1 + t, scores8_hs8(q1, k0, k1, k2, k3, k4, k5, k6, k7, scale8));
    }
    for (; t < n; t++) {
        att0[t] = score1_hs8(q0, k_cache + (size_t)t * kv_stride, scale);
        att1[t] = score1_hs8(q1, k_cache + (size_t)t * kv_stride, scale);
    }
    float max0 = max_of(att0, n), max1 = max_of(att1, n);
    float sums[2];
    expf_sub_sum2_fma(att0, att1, n, max0, max1, sums);
    div_by(att0, n, sums[0]);
    div_by(att1, n, sums[1]);
    __m256 o0 = _mm256_setzero_ps(), o1 = _mm256_setzero_ps();
    for (t = 0; t < n; t++) {
        __m256 v = _mm256_loadu_ps(v_cache + (size_t)t * kv_stride);
        o0 = _mm256_add_ps(o0, _mm256_mul_ps(v, _mm256_broadcast_ss(att0 + t)));
        o1 = _mm256_add_ps(o1, _mm256_mul_ps(v, _mm256_broadcast_ss(att1 + t)));
    }
    _mm256_storeu_ps(out, o0);
    _mm256_storeu_ps(out + 8, o1);
    _mm256_zeroupper();
}
#endif

void halo_attend2(float *out, float *att, size_t att_stride, const float *q, const float *k_cache,
                  const float *v_cache, size_t kv_stride, int pos, int head_size) {
#ifdef HALO_OPS_EXPF_FMA
    if (head_size == 8 && have_expf_fma()) {
        attend2_hs8_fma(out, att, att + att_stride, q, k_cache, v_cache, kv_stride, pos);
        return;
    }
#endif
    size_t hs = (size_t)head_size;
    halo_attend(out, att, q, k_cache, v_cache, kv_stride, NULL, pos, head_size);
    halo_attend(out + hs, att + att_stride, q + hs, k_cache, v_cache, kv_stride, NULL, pos,
                head_size);
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
