/*
 * Weight matrices of any storage type (core/quant.h) and their matrix-vector products over
 * a window of rows and columns, split over a thread pool. This is what the forward pass and
 * the neuron groups compute with: a group is a window (its rows of Wq or W1, its columns of
 * Wo or W2).
 *
 * Float32 matrices go through halo_matvec_window (core/ops.h) unchanged, so llama2.c
 * checkpoints compute exactly as before. Quantised matrices take the activation quantised
 * in their type's format (halo_mat_prepare), and each row's dot product runs in the best
 * kernel table of the processor. A window whose columns do not start and end on block
 * boundaries (an attention group narrower than a K-quant block, say) is computed over the
 * blocks that cover it, its activations placed in zeros: zero activations add exactly
 * nothing, so the product is the window's, with the window's own quantisation scales (which
 * is why a product split into windows differs slightly from the whole one). Neuron groups
 * are sized so that FFN windows are whole blocks (core/cluster.h).
 *
 * Results depend only on the window and the inputs, never on the thread count: rows are
 * split over threads, and each row is one kernel call.
 */
#ifndef HALO_MAT_H
#define HALO_MAT_H

#include "core/arena.h"
#include "core/pool.h"
#include "core/quant.h"
#include "core/status.h"

#include <stddef.h>

typedef struct halo_mat {
    const void *data;   /* row 0, column 0 (read-only, usually a view into a mapped file) */
    size_t row_bytes;   /* from one row to the next */
    int type;           /* enum halo_type, supported */
    int rows, cols;     /* cols is a multiple of the type's block */
    const void *packed; /* NULL, or (Q4_0 or Q4_K, rows a multiple of 8) every 8 rows
                           interleaved by halo_pack_q4_0x8 or halo_pack_q4_Kx8, group after
                           group: products then run 8 rows at a time on the table's gemv
                           kernel (each row's result is the same whichever rows a window asks
                           for) */
} halo_mat;

/* 1 when the processor's kernels compute type `type` packed (halo_mat.packed). */
int halo_mat_can_pack(int type);

/* Bytes of the interleaved copy of a matrix of `type`, rows x cols (rows a multiple of 8). */
size_t halo_mat_packed_bytes(int type, int rows, int cols);

/* Fills dst (halo_mat_packed_bytes) with w's rows interleaved by eight. */
void halo_mat_pack(const halo_mat *w, void *dst);

/* Bytes of scratch halo_mat_prepare needs for a window of `cols` columns, any format. */
size_t halo_mat_scratch_bytes(int cols);

/* 1 when columns [col0, col0 + cols) start and end on w's block boundaries. */
int halo_mat_window_aligned(const halo_mat *w, int col0, int cols);

/*
 * Quantises x[0..cols), the activations of columns [col0, col0 + cols), for products with
 * matrices of w's type: over the blocks covering the window, zero outside it. Writes
 * `scratch` (halo_mat_scratch_bytes(cols) bytes) and returns the quantised blocks; returns
 * NULL for float types (which multiply with x itself).
 */
const void *halo_mat_prepare(const halo_mat *w, const float *x, int col0, int cols, void *scratch);

/*
 * out[r] (+)= W[row0 + r, col0 .. col0 + cols) . x[0 .. cols) for r in [0, rows); with
 * `accumulate` the products are added to out, otherwise stored. `xq` is x prepared for w's
 * type and the same window (halo_mat_prepare, halo_act_get), or NULL: then a quantised
 * window is computed from float x through dequantised blocks (slow; float activations).
 * Rows go to the pool's threads when the window is large (pool may be NULL).
 */
void halo_mat_vec(halo_pool *pool, float *out, const halo_mat *w, int row0, int col0,
                  const float *x, const void *xq, int rows, int cols, int accumulate);

/*
 * An input vector prepared for products with matrices of any type: quantised on first use
 * in each activation format, until the next halo_act_set. Callers that multiply one vector
 * with several matrices (Wq, Wk, Wv; W1, W3) quantise it once. The buffers are allocated
 * once, by halo_act_init; nothing is allocated afterwards.
 */
typedef struct halo_act {
    const float *x;
    int n, col0;                       /* x holds the activations of columns col0 .. + n */
    unsigned ready;                    /* bit f: buf[f] holds x in format f */
    void *buf[HALO_ACT_FORMAT_COUNT_]; /* NULL when not allocated */
    size_t buf_bytes;                  /* each allocated buffer's size */
    int owned;                         /* 1: buf were allocated by halo_act_init */
} halo_act;

/* Allocates buffers for vectors of up to max_n values when `quantised` (a model with
   quantised matrices), none otherwise. Errors: HALO_ERR_NOMEM. */
int halo_act_init(halo_act *a, int max_n, int quantised, halo_err *err);

/* halo_act_init with the buffers taken from an arena (core/arena.h: called from a carve
   function, measuring or carving); they live as long as the arena's block. */
void halo_act_carve(halo_act *a, halo_arena *arena, int max_n, int quantised);

/* Frees the buffers halo_act_init allocated; safe on a zeroed or carved halo_act. */
void halo_act_free(halo_act *a);

/* Bytes the buffers take. */
size_t halo_act_buffer_bytes(const halo_act *a);

/* The input is now x[0..n) (n <= max_n), the activations of columns 0 .. n-1. */
void halo_act_set(halo_act *a, const float *x, int n);

/* The same for a window: x[0..n) are the activations of columns col0 .. col0 + n - 1. */
void halo_act_set_window(halo_act *a, const float *x, int n, int col0);

/* The input prepared for w's type (the xq of halo_mat_vec over the input's window), or
   NULL for float types or without buffers. */
const void *halo_act_get(halo_act *a, const halo_mat *w);

/* Converts row `row` of w to float32 (w->cols floats at out). */
void halo_mat_row(const halo_mat *w, int row, float *out);

/* Bytes of the whole matrix. */
size_t halo_mat_bytes(const halo_mat *w);

#endif /* HALO_MAT_H */
