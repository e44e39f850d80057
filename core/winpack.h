/*
 * Packed weight windows: a contiguous copy of the part of a float32 matrix one node of a
 * cluster computes (its rows of Wq, Wk, Wv, W1, W3 and of the classifier, its columns of Wo
 * and W2), in memory backed by huge pages where the system gives them.
 *
 * Why: a node of a cluster reads a window of each matrix at every token. Read in place from
 * the model's mapping, a column window is a short stretch of every row (one stream that
 * jumps at every row), and even a row window goes through 4 KiB pages of the page cache, one
 * TLB entry per 4 KiB. When two processes stream weights at once on this 2-core machine,
 * each got 26.5 GB/s from the file's pages and 34 GB/s from a copy in transparent huge pages
 * (a throwaway program, the 110M model's 438 MB of rows, best of 30 passes each, both
 * processes at once; docs/net.md "Weight windows in huge pages").
 *
 * A window is copied the first time it is asked for and kept in its slot (one slot per
 * matrix and layer, chosen by the caller) for as long as the same window is asked for. A
 * slot asked for another window copies that one, reusing its memory when it fits. Copies
 * stop for good once the windows keep moving (more than four copies per slot on average) or
 * the copies would exceed the byte budget; the caller then reads in place. A window as large
 * as its whole matrix is never copied (a single device reads its mapping). The copy holds
 * the same floats in the same order, so every product over it equals the one in place bit
 * for bit.
 *
 * Memory comes from chunks of 32 MiB (what is left of the budget when that is less; a larger
 * window gets a chunk of its own), mapped anonymous on Linux, 2 MiB-aligned and advised
 * MADV_HUGEPAGE from 2 MiB up (malloc elsewhere), carved in 64-byte steps; they are returned
 * only by halo_winpack_free. Not thread-safe: one node's event loop uses it.
 */
#ifndef HALO_WINPACK_H
#define HALO_WINPACK_H

#include "core/mat.h"
#include "core/status.h"

#include <stddef.h>

typedef struct halo_winpack halo_winpack;

typedef struct halo_winpack_stats {
    long copies;         /* windows copied */
    size_t bytes;        /* memory held by the chunks */
    size_t window_bytes; /* of which the current windows' copies */
    int huge;            /* 1 when the chunks were advised to the kernel as huge pages */
    int stopped;         /* 1 once copying stopped (windows moving, or the budget reached) */
} halo_winpack_stats;

/* A packer of n_slots slots whose copies may take up to budget_bytes. Errors:
   HALO_ERR_ARG (n_slots < 1), HALO_ERR_NOMEM. */
int halo_winpack_new(halo_winpack **out, int n_slots, size_t budget_bytes, halo_err *err);

void halo_winpack_free(halo_winpack *p);

/*
 * The copy of window rows [r0, r0 + rows) x columns [c0, c0 + cols) of float32 matrix m,
 * row-major with `cols` floats per row, from slot `slot` (made now if the slot holds another
 * window). NULL when the caller must read in place: p NULL, m not float32, the window the
 * whole matrix, copying stopped, or no memory. The pointer stays valid until the slot is
 * asked for another window.
 */
const float *halo_winpack_get(halo_winpack *p, int slot, const halo_mat *m, size_t r0, size_t rows,
                              size_t c0, size_t cols);

/* Counters of p (all zero for NULL). */
halo_winpack_stats halo_winpack_get_stats(const halo_winpack *p);

#endif
