/*
 * Neuron-group loader for memory-limited devices: a bounded cache of group weights in
 * memory, filled from the llama2.c checkpoint file with pread by one loader thread while
 * the compute thread works (the predict -> load -> compute -> communicate pipeline;
 * docs/loader.md). Nodes read their groups through it when given one (core/node.h), as
 * memory-limited workers do (halo worker --memory-mb). The compute thread announces the groups it
 * will need next with halo_loader_prefetch, then takes each group with halo_loader_acquire (a hit
 * when the loader thread was in time, a synchronous load otherwise) and gives it back with
 * halo_loader_release.
 *
 * The cache is allocated whole in halo_loader_new: `capacity_bytes` is cut into fixed-size
 * slots of the largest group's size (of the kinds the loader serves). Unpinned resident
 * slots are evicted in least-recently-used order, except that groups read ahead of need
 * (prefetched) and not acquired yet go only when no other group can: under plain LRU a
 * prefetch finishing before the previous layer's groups are released would be the next
 * prefetch's first victim. Nothing is allocated after new.
 *
 * Packed layout of a group in its slot (float32, row-major, no padding between parts); it
 * is the concatenation, in order, of the byte ranges halo_loader_group_ranges lists:
 *  - FFN group f, n = halo_groups_ffn_len(g, f) neurons starting at s = f * G:
 *      w1 (n, dim)   rows s..s+n-1 of W1 (gate)          one file range
 *      w3 (n, dim)   rows s..s+n-1 of W3 (up)            one file range
 *      w2 (dim, n)   w2[r * n + j] = W2[r][s + j]        dim file ranges (a column window)
 *  - attention group a (KV head a), q = kv_mul * head_size query rows starting at a * q:
 *      wq (q, dim)   rows a*q..a*q+q-1 of Wq             one file range
 *      wk (hs, dim)  rows a*hs..a*hs+hs-1 of Wk          one file range
 *      wv (hs, dim)  rows a*hs..a*hs+hs-1 of Wv          one file range
 *      wo (dim, q)   wo[r * q + j] = Wo[r][a*q + j]      dim file ranges (a column window)
 * The column windows are strided in the file; they are read range by range (never the
 * covering span), so bytes read equal bytes needed (storage still delivers whole pages: a
 * window shares its page with its neighbours'; docs/loader.md measures it). Consecutive
 * groups of one layer and kind queued together are read with one preadv per range for the
 * whole run (by the loader thread, or by an acquire that finds the run still queued): one
 * call per matrix row for the run instead of one per row per group.
 *
 * Threads: one loader thread per loader. Every function may be called from any thread
 * except halo_loader_free, which no other call may overlap. Waits are on condition
 * variables with a deadline (CLOCK_MONOTONIC); the loader thread never waits for the
 * compute thread, so an acquire always ends (HALO_ERR_TIMEOUT is a safety net for storage
 * that stops answering). Statistics use CLOCK_MONOTONIC: this module measures real I/O and
 * only reports the times; nothing in it decides anything by the clock except the timeout.
 *
 * This module does not decide what to prefetch (the predictor and the placement do), does
 * not compute, and does not handle quantised checkpoints or GGUF files (refused at new).
 */
#ifndef HALO_LOADER_H
#define HALO_LOADER_H

#include "core/model.h"
#include "core/plan.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

enum halo_group_kind {
    HALO_GROUP_KIND_ATTN = 0, /* one KV head with its query heads */
    HALO_GROUP_KIND_FFN = 1,  /* G consecutive hidden neurons */
};

/* Identifies one neuron group of one layer. */
typedef struct halo_group_key {
    int layer; /* 0 .. n_layers-1 */
    int kind;  /* enum halo_group_kind */
    int idx;   /* attention: 0 .. n_attn-1; FFN: 0 .. n_ffn-1 */
} halo_group_key;

/* One byte range of a checkpoint file. */
typedef struct halo_byte_range {
    uint64_t offset_bytes; /* from the start of the file (header included) */
    uint64_t n_bytes;
} halo_byte_range;

/*
 * Views of a resident group's packed weights (see the layout above). Pointers of the other
 * kind are NULL. Valid until the matching halo_loader_release.
 */
typedef struct halo_group_weights {
    halo_group_key key;
    int n_rows;       /* FFN: neurons n; attention: query rows q = kv_mul * head_size */
    int dim;          /* model width */
    const float *w1;  /* (n, dim) */
    const float *w3;  /* (n, dim) */
    const float *w2;  /* (dim, n): W2's columns s..s+n-1, packed */
    const float *wq;  /* (q, dim) */
    const float *wk;  /* (head_size, dim) */
    const float *wv;  /* (head_size, dim) */
    const float *wo;  /* (dim, q): Wo's columns a*q..a*q+q-1, packed */
    const void *data; /* the whole packed group */
    size_t n_bytes;   /* its size */
} halo_group_weights;

/* Where a group is, for tests and diagnostics (halo_loader_state). */
enum halo_loader_group_state {
    HALO_LOADER_ABSENT = 0,   /* not in memory, not requested */
    HALO_LOADER_QUEUED = 1,   /* a prefetch request waits in the queue */
    HALO_LOADER_LOADING = 2,  /* being read (by the loader thread or an acquire) */
    HALO_LOADER_RESIDENT = 3, /* in a slot, ready */
    HALO_LOADER_FAILED = 4,   /* the last read failed; the next acquire reports it */
};

/* Bit masks for halo_loader_opts.kinds. */
#define HALO_LOADER_KINDS_ATTN (1u << HALO_GROUP_KIND_ATTN)
#define HALO_LOADER_KINDS_FFN  (1u << HALO_GROUP_KIND_FFN)

typedef struct halo_loader_opts {
    unsigned kinds;      /* HALO_LOADER_KINDS_* served; slots are sized for these; 0 = both */
    int queue_capacity;  /* prefetch requests held; 0 = 2 * (n_attn + n_ffn), at least 16 */
    int max_batch;       /* consecutive groups read together; 0 = 64; 1 = group by group */
    uint64_t timeout_ns; /* bound on any wait in acquire/wait_idle; 0 = 30 s */
} halo_loader_opts;

/*
 * Statistics since new or the last halo_loader_reset_stats. Times are CLOCK_MONOTONIC ns.
 */
typedef struct halo_loader_stats {
    uint64_t n_acquires;          /* successful acquires */
    uint64_t n_hits;              /* ... that found the group resident */
    uint64_t n_inflight;          /* ... that waited for a load already in flight */
    uint64_t n_misses;            /* ... that loaded the group synchronously */
    uint64_t n_sync_extra;        /* queued groups an acquire's synchronous read took along */
    uint64_t n_again;             /* acquires refused with HALO_ERR_AGAIN (all pinned) */
    uint64_t n_errors;            /* acquires that returned a read error */
    uint64_t n_prefetch_requests; /* keys passed to halo_loader_prefetch */
    uint64_t n_prefetch_skipped;  /* ... already resident, loading or queued */
    uint64_t n_prefetch_dropped;  /* ... dropped unstarted from the full queue (oldest) */
    uint64_t n_prefetch_nospace;  /* ... abandoned: no evictable slot when their turn came */
    uint64_t n_prefetch_loads;    /* groups the loader thread read */
    uint64_t n_prefetch_used;     /* prefetched groups acquired before eviction */
    uint64_t n_prefetch_wasted;   /* prefetched groups evicted before any acquire */
    uint64_t n_evictions;         /* resident groups evicted */
    uint64_t n_read_errors;       /* group loads that failed */
    uint64_t n_reads;             /* pread/preadv calls */
    uint64_t prefetched_bytes;    /* bytes the loader thread read */
    uint64_t bytes_read;          /* bytes read by either thread (= bytes needed) */
    uint64_t load_ns;             /* time spent reading groups, both threads */
    uint64_t prefetch_load_ns;    /* ... by the loader thread */
    uint64_t wait_ns;             /* time callers spent inside acquire (waits, sync loads) */
    uint64_t prefetch_wait_ns;    /* ... waiting for the loader thread's reads in flight */
    uint64_t hidden_load_ns;      /* load time of the prefetched groups acquired, minus
                                     prefetch_wait_ns: reading nobody waited for */
    int n_slots;                  /* cache slots */
    int n_resident;               /* slots holding a group now (resident or failed) */
    int max_resident;             /* high-water mark of slots holding or loading a group */
} halo_loader_stats;

typedef struct halo_loader halo_loader;

/*
 * Packed size in bytes of group `key` (its n_bytes in halo_group_weights).
 * Returns 0 for a key outside the geometry.
 */
size_t halo_loader_group_bytes(const halo_model_config *cfg, const halo_groups *g,
                               halo_group_key key);

/*
 * The byte ranges of group `key` in a checkpoint of shape `cfg`, in packed order: writes
 * the first min(n, max_ranges) into out[] (out may be NULL when max_ranges is 0) and
 * returns n, the number of ranges (2 + dim for FFN groups, 3 + dim for attention groups),
 * or HALO_ERR_ARG for a key outside the geometry. `g` must be halo_groups_init of `cfg`.
 */
int halo_loader_group_ranges(const halo_model_config *cfg, const halo_groups *g, halo_group_key key,
                             halo_byte_range *out, int max_ranges);

/*
 * Opens the checkpoint at `path` (O_RDONLY, kept open until free), checks that its header
 * matches `model`'s configuration, allocates `capacity_bytes` worth of slots (whole slots
 * of the largest served group, rounded up to 64 bytes) and every table, and starts the
 * loader thread. `model` gives the shape only (it may be a shape-only model); it and `g`
 * (halo_groups_init of the model's config) are copied, not kept. `opts` may be NULL.
 * Errors: HALO_ERR_ARG (groups do not match the model, fewer than 2 slots fit, bad opts),
 * HALO_ERR_IO (cannot open, stat or read the header; not a regular file), HALO_ERR_FORMAT
 * (header differs from the model), HALO_ERR_NOMEM (memory or thread). *out is NULL on
 * failure.
 */
int halo_loader_new_opts(halo_loader **out, const char *path, const halo_model *model,
                         const halo_groups *g, size_t capacity_bytes, const halo_loader_opts *opts,
                         halo_err *err);

/* halo_loader_new_opts with default options. */
int halo_loader_new(halo_loader **out, const char *path, const halo_model *model,
                    const halo_groups *g, size_t capacity_bytes, halo_err *err);

/*
 * Stops the loader thread (it finishes or abandons the read in progress; queued requests
 * are dropped), joins it, closes the file and frees everything. Groups still pinned become
 * invalid. NULL is a no-op. No other call on this loader may be in progress.
 */
void halo_loader_free(halo_loader *loader);

/*
 * Queues prefetch requests for keys[0..n) in order, without blocking (a brief mutex hold).
 * Keys already resident, loading or queued are skipped. When the queue is full the oldest
 * unstarted request is dropped (counted) to make room. The loader thread takes requests in
 * FIFO order; a request whose turn comes while no slot is evictable is abandoned (counted).
 * Errors: HALO_ERR_ARG (a key outside the geometry or of a kind not served; nothing is
 * queued then).
 */
int halo_loader_prefetch(halo_loader *loader, const halo_group_key *keys, int n, halo_err *err);

/*
 * Makes group `key` resident and pins it: fills *out (OUT) with views into its slot, valid
 * until halo_loader_release(loader, key). A resident group is a hit; a group being loaded
 * is waited for; otherwise the calling thread reads it now (a miss), evicting the least
 * recently used unpinned group. When the missed group's prefetch request is still queued
 * (the loader thread is behind), the consecutive queued groups after it are read in the
 * same batch and left resident, unpinned (n_sync_extra): a column window costs one read
 * per matrix row however many adjacent groups it serves. Each successful acquire needs one
 * release.
 * Errors: HALO_ERR_ARG (bad key), HALO_ERR_AGAIN (every slot is pinned: release something
 * and retry; never waits), HALO_ERR_IO (the read failed, now or in the loader thread since
 * the last acquire of this key; the message names the path and offset; the next acquire
 * tries again), HALO_ERR_TIMEOUT (a wait exceeded the timeout). *out is zeroed on error.
 */
int halo_loader_acquire(halo_loader *loader, halo_group_key key, halo_group_weights *out,
                        halo_err *err);

/*
 * Unpins a group acquired earlier; when no pin is left it becomes the most recently used
 * evictable slot. Releasing a key that is not pinned is a programmer error (assert).
 */
void halo_loader_release(halo_loader *loader, halo_group_key key);

/*
 * While `paused` is nonzero the loader thread starts no new read (requests stay queued,
 * and may be dropped when the queue overflows); acquire still loads synchronously.
 */
void halo_loader_pause(halo_loader *loader, int paused);

/*
 * Waits until the queue is empty and no read is in flight (nothing is waited for while
 * paused except reads in flight). Errors: HALO_ERR_TIMEOUT.
 */
int halo_loader_wait_idle(halo_loader *loader, halo_err *err);

/* Where group `key` is now (enum halo_loader_group_state); ABSENT for a bad key. */
int halo_loader_state(halo_loader *loader, halo_group_key key);

/* Copies the statistics into *out (OUT). */
void halo_loader_get_stats(halo_loader *loader, halo_loader_stats *out);

/* Zeroes the counters and times (not n_slots, n_resident; max_resident restarts at now). */
void halo_loader_reset_stats(halo_loader *loader);

/* Bytes of one cache slot (the largest served group, rounded up to 64). */
size_t halo_loader_slot_bytes(const halo_loader *loader);

/* Number of cache slots (capacity_bytes / slot bytes, at least 2). */
int halo_loader_n_slots(const halo_loader *loader);

/* Capacity of the prefetch queue in requests. */
int halo_loader_queue_capacity(const halo_loader *loader);

#endif /* HALO_LOADER_H */
