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

/* In-place softmax of x[0..n), n > 0. */
void halo_softmax(float *x, int n);

/* out[r] = dot(w[r, :], x) for r in [0, rows); w is (rows, cols) row-major. */
void halo_matvec(float *out, const float *w, const float *x, int rows, int cols);

/* The same, with rows split over the pool's threads (inline when small or pool is NULL). */
void halo_matvec_pool(halo_pool *pool, float *out, const float *w, const float *x, int rows,
                      int cols);

/* hb[i] = silu(hb[i]) * hb2[i] (SwiGLU). */
void halo_swiglu(float *hb, const float *hb2, int n);

/* Negative log-likelihood of `target` under softmax(logits[0..n)), in double precision. */
double halo_nll(const float *logits, int n, int target);

#endif /* HALO_OPS_H */
