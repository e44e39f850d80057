/*
 * The float32 kernels of the forward pass. Every kernel is deterministic: its summation
 * order depends only on the sizes, never on the thread count, so single-threaded,
 * multi-threaded and distributed runs agree to the bit where they compute the same rows.
 * Kernels return void; their callers validated the sizes once.
 */
#ifndef HALO_OPS_H
#define HALO_OPS_H

#include "core/pool.h"

#include <stddef.h>

/*
 * Dot product of a[0..n) and b[0..n) in a fixed blocked order (4 lanes x 2 accumulators).
 * halo_matvec computes every row with exactly this function, so a row's value does not
 * depend on which rows are computed with it.
 */
float halo_dot(const float *a, const float *b, int n);

/* Sum of a[0..n) in the same blocked order; a pure streaming read (bandwidth probes). */
float halo_sum(const float *a, size_t n);

/* out = w * (x / rms(x)) elementwise; n > 0; out may alias x. eps = 1e-5 as in LLaMA. */
void halo_rmsnorm(float *out, const float *x, const float *w, int n);

/* The same with the model's epsilon (halo_rmsnorm is this with 1e-5f). */
void halo_rmsnorm_eps(float *out, const float *x, const float *w, int n, float eps);

/*
 * x[i] = expf(x[i] - sub) for i in [0, n): the C library's expf bit for bit (on x86-64 with
 * glibc, AVX2 and FMA, four at a time by glibc's own algorithm; elsewhere expf itself).
 */
void halo_expf_sub(float *x, int n, float sub);

/* In-place softmax of x[0..n), n > 0. */
void halo_softmax(float *x, int n);

/* out[r] = dot(w[r, :], x) for r in [0, rows); w is (rows, cols) row-major. */
void halo_matvec(float *out, const float *w, const float *x, int rows, int cols);

/* The same, with rows split over the pool's threads (inline when small or pool is NULL). */
void halo_matvec_pool(halo_pool *pool, float *out, const float *w, const float *x, int rows,
                      int cols);

/*
 * out[r] (+)= dot(w[r * row_stride .. + cols), x) for r in [0, rows): a matrix-vector
 * product over a column window of a wider matrix (row_stride >= cols). With `accumulate`
 * the products are added to out, otherwise stored. Rows are split over the pool when large.
 * Each row is computed with halo_dot, so results match halo_matvec bit for bit.
 */
void halo_matvec_window(halo_pool *pool, float *out, const float *w, size_t row_stride,
                        const float *x, int rows, int cols, int accumulate);

/* hb[i] = silu(hb[i]) * hb2[i] (SwiGLU). */
void halo_swiglu(float *hb, const float *hb2, int n);

/*
 * Rotary position embedding of vec[0..n) in place: pair (2i, 2i+1) of each head of
 * `head_size` is rotated by pos * freq[(i mod head_size) / 2] (llama2.c's convention).
 */
void halo_rope(float *vec, int n, int head_size, const float *freq, int pos);

/*
 * One query head's attention over cached positions 0..pos: scores q . k_t / sqrt(head_size),
 * softmax, weighted sum of v_t into out[0..head_size). k_cache and v_cache point at position
 * 0 of this KV head; consecutive positions are `kv_stride` floats apart. Positions whose
 * `valid` entry is 0 are left out (valid may be NULL: all valid); position pos must be valid.
 * att is scratch of pos + 1 floats.
 */
void halo_attend(float *out, float *att, const float *q, const float *k_cache, const float *v_cache,
                 size_t kv_stride, const unsigned char *valid, int pos, int head_size);

/*
 * Two query heads that share one KV head (grouped-query attention), without a mask:
 * halo_attend of q[0..head_size) into out[0..head_size) with scratch att, and of
 * q[head_size..2 head_size) into out[head_size..2 head_size) with scratch att + att_stride.
 * The results of the two halo_attend calls bit for bit; the pair shares the loads of keys
 * and values and runs the two heads' chains of additions side by side.
 */
void halo_attend2(float *out, float *att, size_t att_stride, const float *q, const float *k_cache,
                  const float *v_cache, size_t kv_stride, int pos, int head_size);

/* Negative log-likelihood of `target` under softmax(logits[0..n)), in double precision. */
double halo_nll(const float *logits, int n, int target);

#endif /* HALO_OPS_H */
