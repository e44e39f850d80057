/*
 * Neuron-group loader: slot cache, prefetch queue and loader thread (see loader.h).
 *
 * All shared state is guarded by one mutex. A slot moves FREE -> LOADING -> READY (or
 * FAILED) -> FREE; only the thread that moved it to LOADING touches its memory until it is
 * published as READY under the mutex, and a READY slot's memory is only read. Evictable
 * slots (READY or FAILED with no pin) sit on an LRU list, most recent at the head; pinned
 * and loading slots are on no list, free slots on a stack. Reads happen outside the mutex.
 *
 * Progress: the loader thread never waits for a slot (a prefetch with no evictable slot is
 * abandoned) and never waits for the compute thread, so every LOADING slot becomes READY or
 * FAILED within one read. An acquire that finds no evictable slot while some slot is
 * loading waits for that read (the loader thread starts no new read meanwhile, so the
 * freed slot is the acquirer's); with nothing loading it returns HALO_ERR_AGAIN.
 */
#define _DEFAULT_SOURCE   /* preadv (Linux, the BSDs) */
#define _FILE_OFFSET_BITS 64

#include "core/loader.h"

#include "core/arena.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum {
    SLOT_FREE = 0,
    SLOT_LOADING = 1,
    SLOT_READY = 2,
    SLOT_FAILED = 3,
};

enum {
    SLOT_ALIGN = 64,
    DEFAULT_BATCH = 64,
    MAX_BATCH = 256, /* iovecs per preadv; IOV_MAX is 1024 on Linux */
    MIN_QUEUE = 16,
};

#define DEFAULT_TIMEOUT_NS 30000000000ULL

/* ==== Group geometry and file offsets ==== */

typedef struct geom {
    halo_model_config cfg;
    halo_groups g;
    uint64_t off_wq, off_wk, off_wv, off_wo, off_w1, off_w2, off_w3; /* bytes from file start */
} geom;

static void geom_init(geom *x, const halo_model_config *c, const halo_groups *g) {
    uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
    uint64_t layers = (uint64_t)c->n_layers, kv_dim = (uint64_t)halo_model_kv_dim(c);
    uint64_t f = sizeof(float);
    x->cfg = *c;
    x->g = *g;
    /* The order of core/model.c's bind_weights. */
    x->off_wq = HALO_MODEL_HEADER_BYTES + f * ((uint64_t)c->vocab_size * dim + layers * dim);
    x->off_wk = x->off_wq + f * layers * dim * dim;
    x->off_wv = x->off_wk + f * layers * kv_dim * dim;
    x->off_wo = x->off_wv + f * layers * kv_dim * dim;
    x->off_w1 = x->off_wo + f * layers * dim * dim + f * layers * dim; /* skips rms_ffn */
    x->off_w2 = x->off_w1 + f * layers * hidden * dim;
    x->off_w3 = x->off_w2 + f * layers * dim * hidden;
}

static int groups_match(const halo_groups *g, const halo_model_config *c) {
    return g->n_layers == c->n_layers && g->n_attn == c->n_kv_heads &&
           g->hidden_dim == c->hidden_dim && g->head_size == halo_model_head_size(c) &&
           g->kv_mul == c->n_heads / c->n_kv_heads && g->ffn_size >= 1 &&
           g->ffn_size <= c->hidden_dim &&
           g->n_ffn == (c->hidden_dim + g->ffn_size - 1) / g->ffn_size;
}

static int key_valid(const halo_groups *g, halo_group_key k) {
    if (k.layer < 0 || k.layer >= g->n_layers || k.idx < 0)
        return 0;
    if (k.kind == HALO_GROUP_KIND_ATTN)
        return k.idx < g->n_attn;
    if (k.kind == HALO_GROUP_KIND_FFN)
        return k.idx < g->n_ffn;
    return 0;
}

/* Rows of the group's row-sliced matrices: FFN neurons or attention query rows. */
static int group_rows(const geom *x, halo_group_key k) {
    if (k.kind == HALO_GROUP_KIND_FFN)
        return halo_groups_ffn_len(&x->g, k.idx);
    return x->g.kv_mul * x->g.head_size;
}

static int n_ranges_of(const geom *x, halo_group_key k) {
    return (k.kind == HALO_GROUP_KIND_FFN ? 2 : 3) + x->cfg.dim;
}

static uint64_t group_bytes(const geom *x, halo_group_key k) {
    uint64_t dim = (uint64_t)x->cfg.dim, n = (uint64_t)group_rows(x, k);
    if (k.kind == HALO_GROUP_KIND_FFN)
        return 3 * n * dim * sizeof(float);
    return (2 * n + 2 * (uint64_t)x->g.head_size) * dim * sizeof(float);
}

/* Range r of group k: its file offset, length and offset inside the packed group. */
static void range_at(const geom *x, halo_group_key k, int r, uint64_t *file_off, uint64_t *len,
                     uint64_t *packed_off) {
    const uint64_t f = sizeof(float);
    uint64_t dim = (uint64_t)x->cfg.dim, l = (uint64_t)k.layer, n = (uint64_t)group_rows(x, k);
    if (k.kind == HALO_GROUP_KIND_FFN) {
        uint64_t hidden = (uint64_t)x->cfg.hidden_dim;
        uint64_t s = (uint64_t)halo_groups_ffn_start(&x->g, k.idx);
        if (r < 2) {
            *file_off = (r == 0 ? x->off_w1 : x->off_w3) + f * (l * hidden + s) * dim;
            *len = f * n * dim;
            *packed_off = (uint64_t)r * f * n * dim;
        } else {
            uint64_t row = (uint64_t)(r - 2);
            *file_off = x->off_w2 + f * ((l * dim + row) * hidden + s);
            *len = f * n;
            *packed_off = f * (2 * n * dim + row * n);
        }
        return;
    }
    uint64_t hs = (uint64_t)x->g.head_size, kv_dim = (uint64_t)halo_model_kv_dim(&x->cfg);
    uint64_t a = (uint64_t)k.idx;
    if (r == 0) {
        *file_off = x->off_wq + f * (l * dim + a * n) * dim;
        *len = f * n * dim;
        *packed_off = 0;
    } else if (r < 3) {
        *file_off = (r == 1 ? x->off_wk : x->off_wv) + f * (l * kv_dim + a * hs) * dim;
        *len = f * hs * dim;
        *packed_off = f * (n + (uint64_t)(r - 1) * hs) * dim;
    } else {
        uint64_t row = (uint64_t)(r - 3);
        *file_off = x->off_wo + f * ((l * dim + row) * dim + a * n);
        *len = f * n;
        *packed_off = f * ((n + 2 * hs) * dim + row * n);
    }
}

size_t halo_loader_group_bytes(const halo_model_config *cfg, const halo_groups *g,
                               halo_group_key key) {
    if (!key_valid(g, key))
        return 0;
    geom x;
    geom_init(&x, cfg, g);
    return (size_t)group_bytes(&x, key);
}

int halo_loader_group_ranges(const halo_model_config *cfg, const halo_groups *g, halo_group_key key,
                             halo_byte_range *out, int max_ranges) {
    if (!key_valid(g, key))
        return HALO_ERR_ARG;
    geom x;
    geom_init(&x, cfg, g);
    int n = n_ranges_of(&x, key);
    for (int r = 0; r < n && r < max_ranges; r++) {
        uint64_t packed;
        range_at(&x, key, r, &out[r].offset_bytes, &out[r].n_bytes, &packed);
    }
    return n;
}

/* ==== The loader object ==== */

typedef struct slot {
    int key_idx;      /* group held, -1 when free */
    int state;        /* SLOT_* */
    int pins;         /* acquires not yet released */
    int link[2];      /* LRU links [LRU_NEWER], [LRU_OLDER] (evictable slots), -1 at the ends */
    int linked;       /* on the LRU list */
    int prefetched;   /* read by the loader thread and not acquired since */
    int ahead;        /* read ahead of need (prefetch, or along a miss), not acquired since */
    uint64_t load_ns; /* time its read took (its share of a batched read) */
    halo_err err;     /* SLOT_FAILED: what went wrong */
} slot;

struct halo_loader {
    geom x;
    char *path;
    int fd;
    unsigned kinds;
    size_t slot_bytes;
    int n_slots;
    unsigned char *mem; /* (n_slots, slot_bytes), SLOT_ALIGN-aligned */
    halo_arena tables;  /* the tables below, sized at creation */
    slot *slots;        /* (n_slots) */
    int *free_stack;    /* (n_slots) */
    int n_free;
    int lru_end[2]; /* [LRU_NEWER]: most, [LRU_OLDER]: least recently used evictable slot, or -1 */
    int n_keys;
    int *slot_of;          /* (n_keys): slot holding or loading the key, -1 */
    unsigned char *queued; /* (n_keys): a live prefetch request is queued */
    int *queue;            /* (q_cap) ring of key indices; entries whose flag is 0 are stale */
    int q_cap, q_head, q_count;
    int max_batch;
    uint64_t timeout_ns;
    /* The loader thread's batch (touched only by it, outside or inside the mutex). */
    int *batch_keys;    /* (max_batch) */
    int *batch_slots;   /* (max_batch) */
    struct iovec *iovs; /* (max_batch) */
    /* The same for a synchronous batch in acquire (one at a time: sync_busy). */
    int *sync_keys;          /* (max_batch) */
    int *sync_slots;         /* (max_batch) */
    struct iovec *sync_iovs; /* (max_batch) */
    int sync_busy;

    pthread_mutex_t mu;
    pthread_cond_t work; /* loader thread: queue, pause, stop or slot_wanted changed */
    pthread_cond_t done; /* a read finished or the queue drained */
    int sync_ready;      /* mu, work and done are initialised */
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    int paused;
    int slot_wanted;       /* acquires waiting for a loading slot to become evictable */
    int n_loading;         /* slots in SLOT_LOADING */
    int n_resident;        /* slots in SLOT_READY or SLOT_FAILED */
    uint64_t used_load_ns; /* load time of prefetched groups, added at their first acquire */
    halo_loader_stats st;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Waits on `c` until signalled or `deadline_ns` (CLOCK_MONOTONIC). 0, or -1 on timeout. */
static int wait_until(pthread_cond_t *c, pthread_mutex_t *mu, uint64_t deadline_ns) {
    if (now_ns() >= deadline_ns)
        return -1;
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000ULL),
                          .tv_nsec = (long)(deadline_ns % 1000000000ULL)};
    return pthread_cond_timedwait(c, mu, &ts) == ETIMEDOUT ? -1 : 0;
}

static int key_index(const halo_loader *l, halo_group_key k) {
    if (!key_valid(&l->x.g, k) || !(l->kinds & (1u << k.kind)))
        return -1;
    int per_layer = l->x.g.n_attn + l->x.g.n_ffn;
    return k.layer * per_layer + (k.kind == HALO_GROUP_KIND_ATTN ? k.idx : l->x.g.n_attn + k.idx);
}

static halo_group_key key_of(const halo_loader *l, int idx) {
    int per_layer = l->x.g.n_attn + l->x.g.n_ffn;
    int r = idx % per_layer;
    halo_group_key k = {.layer = idx / per_layer};
    if (r < l->x.g.n_attn) {
        k.kind = HALO_GROUP_KIND_ATTN;
        k.idx = r;
    } else {
        k.kind = HALO_GROUP_KIND_FFN;
        k.idx = r - l->x.g.n_attn;
    }
    return k;
}

static unsigned char *slot_mem(const halo_loader *l, int s) {
    return l->mem + (size_t)s * l->slot_bytes;
}

/* ==== LRU list and slot bookkeeping (mutex held) ==== */

/* The LRU list's two directions (and ends): towards the most and the least recently used. The
 * list is symmetric, so each operation is written once for a direction and its opposite. */
enum {
    LRU_NEWER = 0,
    LRU_OLDER = 1
};

static void lru_unlink(halo_loader *l, int s) {
    slot *sl = &l->slots[s];
    if (!sl->linked)
        return;
    for (int d = LRU_NEWER; d <= LRU_OLDER; d++) {
        int neighbour = sl->link[d];
        if (neighbour >= 0)
            l->slots[neighbour].link[1 - d] = sl->link[1 - d];
        else
            l->lru_end[d] = sl->link[1 - d];
    }
    sl->link[LRU_NEWER] = sl->link[LRU_OLDER] = -1;
    sl->linked = 0;
}

/* Puts slot s at end `end` of the list: LRU_NEWER for a use, LRU_OLDER for failed slots,
 * which are evicted first (their error is read again on acquire). */
static void lru_push(halo_loader *l, int s, int end) {
    slot *sl = &l->slots[s];
    int first = l->lru_end[end];
    sl->link[end] = -1;
    sl->link[1 - end] = first;
    if (first >= 0)
        l->slots[first].link[end] = s;
    else
        l->lru_end[1 - end] = s;
    l->lru_end[end] = s;
    sl->linked = 1;
}

static void slot_clear(halo_loader *l, int s) {
    slot *sl = &l->slots[s];
    if (sl->key_idx >= 0)
        l->slot_of[sl->key_idx] = -1;
    sl->key_idx = -1;
    sl->state = SLOT_FREE;
    sl->pins = 0;
    sl->prefetched = 0;
    sl->ahead = 0;
    sl->load_ns = 0;
    l->free_stack[l->n_free++] = s;
}

/*
 * A free slot, or the least recently used evictable one emptied; -1 when there is none.
 * Groups read ahead and not acquired yet are passed over while another group can go: a
 * prefetch that finished before the previous layer's groups were released must not be
 * the first to be evicted by the next prefetch (plain LRU would, and read it twice).
 */
static int take_victim(halo_loader *l) {
    if (l->n_free > 0)
        return l->free_stack[--l->n_free];
    int s = l->lru_end[LRU_OLDER];
    while (s >= 0 && l->slots[s].ahead)
        s = l->slots[s].link[LRU_NEWER];
    if (s < 0)
        s = l->lru_end[LRU_OLDER];
    if (s < 0)
        return -1;
    lru_unlink(l, s);
    slot *sl = &l->slots[s];
    if (sl->state == SLOT_READY) {
        l->st.n_evictions++;
        if (sl->prefetched)
            l->st.n_prefetch_wasted++;
    }
    l->n_resident--;
    slot_clear(l, s);
    return l->free_stack[--l->n_free];
}

static void slot_start(halo_loader *l, int s, int k) {
    slot *sl = &l->slots[s];
    sl->key_idx = k;
    sl->state = SLOT_LOADING;
    sl->pins = 0;
    sl->prefetched = 0;
    sl->ahead = 0;
    l->slot_of[k] = s;
    l->n_loading++;
    if (l->n_resident + l->n_loading > l->st.max_resident)
        l->st.max_resident = l->n_resident + l->n_loading;
}

/* ==== Reading ==== */

/* preadv until every iovec is full; advances iov in place. 0, or a negative errno (EOF as
 * -ENODATA). */
static int readv_full(int fd, struct iovec *iov, int cnt, uint64_t off, uint64_t *n_calls) {
    while (cnt > 0) {
        ssize_t r = preadv(fd, iov, cnt, (off_t)off);
        (*n_calls)++;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -ENODATA;
        off += (uint64_t)r;
        size_t left = (size_t)r;
        while (cnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0 && left > 0) {
            iov->iov_base = (unsigned char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/*
 * Reads groups keys[0..n) (consecutive groups of one layer and kind) into slots[0..n):
 * one preadv per range for the whole run, since range r of group i+1 starts where range r
 * of group i ends. Returns HALO_OK, HALO_ERR_IO or HALO_ERR_CLOSED (the loader stops).
 */
static int read_groups(const halo_loader *l, const int *keys, const int *slots, int n,
                       struct iovec *iov, uint64_t *n_calls, halo_err *err) {
    halo_group_key k0 = key_of(l, keys[0]);
    int n_ranges = n_ranges_of(&l->x, k0);
    for (int r = 0; r < n_ranges; r++) {
        if (atomic_load(&l->stop))
            return HALO_FAIL(err, HALO_ERR_CLOSED, "%s: loader stopped", l->path);
        uint64_t off0 = 0, total = 0;
        for (int j = 0; j < n; j++) {
            uint64_t off, len, packed;
            range_at(&l->x, key_of(l, keys[j]), r, &off, &len, &packed);
            HALO_DASSERT(j == 0 || off == off0 + total);
            if (j == 0)
                off0 = off;
            iov[j].iov_base = slot_mem(l, slots[j]) + packed;
            iov[j].iov_len = (size_t)len;
            total += len;
        }
        int e = readv_full(l->fd, iov, n, off0, n_calls);
        if (e == -ENODATA)
            return HALO_FAIL(err, HALO_ERR_IO,
                             "%s: unexpected end of file reading %llu bytes at offset %llu "
                             "(layer %d %s group %d; file truncated?)",
                             l->path, (unsigned long long)total, (unsigned long long)off0, k0.layer,
                             k0.kind == HALO_GROUP_KIND_FFN ? "ffn" : "attention", k0.idx);
        if (e < 0)
            return HALO_FAIL(err, HALO_ERR_IO, "%s: read of %llu bytes at offset %llu failed: %s",
                             l->path, (unsigned long long)total, (unsigned long long)off0,
                             strerror(-e));
    }
    return HALO_OK;
}

/* ==== The loader thread ==== */

static int is_next(const halo_loader *l, int a, int b) {
    halo_group_key ka = key_of(l, a), kb = key_of(l, b);
    return ka.layer == kb.layer && ka.kind == kb.kind && kb.idx == ka.idx + 1;
}

static int queue_pop(halo_loader *l) {
    int k = l->queue[l->q_head];
    l->q_head = (l->q_head + 1) % l->q_cap;
    l->q_count--;
    return k;
}

/* Takes the next run of consecutive queued groups and gives each a slot (mutex held). */
static int take_batch(halo_loader *l) {
    int n = 0;
    while (l->q_count > 0 && n < l->max_batch) {
        int k = l->queue[l->q_head];
        if (!l->queued[k]) { /* cancelled, or a duplicate of a request already taken */
            (void)queue_pop(l);
            continue;
        }
        if (n > 0 && (!is_next(l, l->batch_keys[n - 1], k) || l->slot_of[k] >= 0))
            break;
        (void)queue_pop(l);
        l->queued[k] = 0;
        if (l->slot_of[k] >= 0) {
            l->st.n_prefetch_skipped++;
            continue;
        }
        int s = take_victim(l);
        if (s < 0) {
            l->st.n_prefetch_nospace++;
            if (n > 0)
                break;
            continue;
        }
        slot_start(l, s, k);
        l->batch_keys[n] = k;
        l->batch_slots[n] = s;
        n++;
    }
    return n;
}

/* Publishes slot s after a read by the loader thread (mutex held). */
static void finish_prefetch(halo_loader *l, int s, int rc, const halo_err *e, uint64_t ns) {
    slot *sl = &l->slots[s];
    l->n_loading--;
    l->n_resident++;
    sl->load_ns = ns;
    if (rc == HALO_OK) {
        sl->state = SLOT_READY;
        sl->prefetched = 1;
        sl->ahead = 1;
        lru_push(l, s, LRU_NEWER);
        halo_group_key k = key_of(l, sl->key_idx);
        uint64_t b = group_bytes(&l->x, k);
        l->st.n_prefetch_loads++;
        l->st.prefetched_bytes += b;
        l->st.bytes_read += b;
    } else {
        sl->state = SLOT_FAILED;
        sl->err = *e;
        l->st.n_read_errors++;
        lru_push(l, s, LRU_OLDER);
    }
    l->st.load_ns += ns;
    l->st.prefetch_load_ns += ns;
}

static uint64_t batch_bytes(const halo_loader *l, int n) {
    uint64_t total = 0;
    for (int j = 0; j < n; j++)
        total += group_bytes(&l->x, key_of(l, l->batch_keys[j]));
    return total;
}

/* Reads the batch taken by take_batch and publishes it (mutex held on entry and exit). */
static void run_batch(halo_loader *l, int n) {
    pthread_mutex_unlock(&l->mu);
    uint64_t calls = 0, t0 = now_ns();
    halo_err e = {0};
    int rc = read_groups(l, l->batch_keys, l->batch_slots, n, l->iovs, &calls, &e);
    uint64_t dt = now_ns() - t0;
    if (rc == HALO_ERR_IO && n > 1) {
        /* A failed run is read again group by group, so that only the groups really
         * affected (e.g. those past the end of a truncated file) fail. */
        for (int j = 0; j < n; j++) {
            uint64_t t = now_ns();
            int rj = read_groups(l, &l->batch_keys[j], &l->batch_slots[j], 1, l->iovs, &calls, &e);
            uint64_t tj = now_ns() - t;
            pthread_mutex_lock(&l->mu);
            finish_prefetch(l, l->batch_slots[j], rj, &e, tj);
            pthread_cond_broadcast(&l->done);
            pthread_mutex_unlock(&l->mu);
        }
        pthread_mutex_lock(&l->mu);
        l->st.n_reads += calls;
        return;
    }
    pthread_mutex_lock(&l->mu);
    uint64_t total = batch_bytes(l, n);
    for (int j = 0; j < n; j++) {
        /* A batched read's time is shared out by bytes. */
        uint64_t b = group_bytes(&l->x, key_of(l, l->batch_keys[j]));
        uint64_t ns = total ? (uint64_t)((double)dt * (double)b / (double)total) : 0;
        finish_prefetch(l, l->batch_slots[j], rc, &e, ns);
    }
    l->st.n_reads += calls;
    pthread_cond_broadcast(&l->done);
}

static void *loader_main(void *arg) {
    halo_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!atomic_load(&l->stop) && (l->q_count == 0 || l->paused || l->slot_wanted > 0))
            pthread_cond_wait(&l->work, &l->mu);
        if (atomic_load(&l->stop))
            break;
        int n = take_batch(l);
        if (n > 0)
            run_batch(l, n);
        else
            pthread_cond_broadcast(&l->done); /* the queue drained without a read */
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ==== Construction ==== */

static int32_t le_i32(const unsigned char *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static int check_header(halo_loader *l, halo_err *err) {
    unsigned char h[HALO_MODEL_HEADER_BYTES];
    struct iovec iov = {.iov_base = h, .iov_len = sizeof h};
    uint64_t calls = 0;
    int e = readv_full(l->fd, &iov, 1, 0, &calls);
    if (e == -ENODATA)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: shorter than the %d-byte header", l->path,
                         HALO_MODEL_HEADER_BYTES);
    if (e < 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot read the header: %s", l->path, strerror(-e));
    const halo_model_config *c = &l->x.cfg;
    int32_t want[7] = {c->dim,        c->hidden_dim,
                       c->n_layers,   c->n_heads,
                       c->n_kv_heads, c->shared_classifier ? c->vocab_size : -c->vocab_size,
                       c->seq_len};
    static const char *const names[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
    for (int i = 0; i < 7; i++) {
        int32_t got = le_i32(h + (size_t)4 * (size_t)i);
        if (got != want[i])
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s: header field %s is %d but the model has %d (another checkpoint?)",
                             l->path, names[i], (int)got, (int)want[i]);
    }
    return HALO_OK;
}

static int init_sync(halo_loader *l) {
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    int bad = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0;
    if (!bad && pthread_mutex_init(&l->mu, NULL) != 0)
        bad = 1;
    if (!bad && pthread_cond_init(&l->work, &ca) != 0) {
        pthread_mutex_destroy(&l->mu);
        bad = 1;
    }
    if (!bad && pthread_cond_init(&l->done, &ca) != 0) {
        pthread_cond_destroy(&l->work);
        pthread_mutex_destroy(&l->mu);
        bad = 1;
    }
    (void)pthread_condattr_destroy(&ca);
    l->sync_ready = !bad;
    return bad ? -1 : 0;
}

static void carve_tables(void *obj, halo_arena *a) {
    halo_loader *l = obj;
    size_t slots = (size_t)l->n_slots, keys = (size_t)l->n_keys, batch = (size_t)l->max_batch;
    l->slots = halo_arena_take(a, slots, sizeof *l->slots);
    l->free_stack = halo_arena_take(a, slots, sizeof *l->free_stack);
    l->slot_of = halo_arena_take(a, keys, sizeof *l->slot_of);
    l->queued = halo_arena_take(a, keys, sizeof *l->queued);
    l->queue = halo_arena_take(a, (size_t)l->q_cap, sizeof *l->queue);
    l->batch_keys = halo_arena_take(a, batch, sizeof *l->batch_keys);
    l->batch_slots = halo_arena_take(a, batch, sizeof *l->batch_slots);
    l->iovs = halo_arena_take(a, batch, sizeof *l->iovs);
    l->sync_keys = halo_arena_take(a, batch, sizeof *l->sync_keys);
    l->sync_slots = halo_arena_take(a, batch, sizeof *l->sync_slots);
    l->sync_iovs = halo_arena_take(a, batch, sizeof *l->sync_iovs);
}

static int alloc_tables(halo_loader *l) {
    void *mem = NULL;
    size_t bytes = (size_t)l->n_slots * l->slot_bytes;
    if (posix_memalign(&mem, SLOT_ALIGN, bytes) != 0)
        return -1;
    /* Touch every page now, so the cache is really resident and a later shortage of memory
     * shows here rather than in the middle of a token. */
    memset(mem, 0, bytes);
    l->mem = mem;
    if (halo_arena_init(&l->tables, carve_tables, l, l->path, NULL) != HALO_OK)
        return -1;
    for (int k = 0; k < l->n_keys; k++)
        l->slot_of[k] = -1;
    for (int s = l->n_slots - 1; s >= 0; s--) {
        l->slots[s] = (slot){.key_idx = -1, .link = {-1, -1}};
        l->free_stack[l->n_free++] = s;
    }
    l->lru_end[LRU_NEWER] = l->lru_end[LRU_OLDER] = -1;
    return 0;
}

/* The largest group of a served kind (FFN groups are largest at full size, group 0). */
static size_t largest_group(const geom *x, unsigned kinds) {
    size_t m = 0;
    if (kinds & HALO_LOADER_KINDS_ATTN) {
        size_t b = (size_t)group_bytes(x, (halo_group_key){0, HALO_GROUP_KIND_ATTN, 0});
        m = b > m ? b : m;
    }
    if (kinds & HALO_LOADER_KINDS_FFN) {
        size_t b = (size_t)group_bytes(x, (halo_group_key){0, HALO_GROUP_KIND_FFN, 0});
        m = b > m ? b : m;
    }
    return (m + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
}

int halo_loader_new_opts(halo_loader **out, const char *path, const halo_model *model,
                         const halo_groups *g, size_t capacity_bytes, const halo_loader_opts *opts,
                         halo_err *err) {
    *out = NULL;
    const halo_model_config *cfg = halo_model_get_config(model);
    if (halo_model_format(model) == HALO_MODEL_GGUF)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: the group loader reads float32 llama2.c checkpoints only, not GGUF "
                         "files (map the whole model instead)",
                         path);
    if (!groups_match(g, cfg))
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: loader group geometry does not match the model (use halo_groups_init "
                         "of its config)",
                         path);
    halo_loader_opts o = opts ? *opts : (halo_loader_opts){0};
    const unsigned all = HALO_LOADER_KINDS_ATTN | HALO_LOADER_KINDS_FFN;
    if (o.kinds == 0)
        o.kinds = all;
    if ((o.kinds & ~all) != 0 || o.queue_capacity < 0 || o.max_batch < 0 || o.max_batch > MAX_BATCH)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: loader options: kinds 0x%x, queue capacity %d, max batch %d "
                         "(expected kinds within 0x%x, queue >= 0, batch 0..%d)",
                         path, o.kinds, o.queue_capacity, o.max_batch, all, MAX_BATCH);
    halo_loader *l = calloc(1, sizeof *l);
    if (!l)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: loader: out of memory", path);
    l->fd = -1;
    atomic_init(&l->stop, 0);
    geom_init(&l->x, cfg, g);
    l->kinds = o.kinds;
    l->slot_bytes = largest_group(&l->x, o.kinds);
    int per_layer = g->n_attn + g->n_ffn;
    l->n_keys = g->n_layers * per_layer;
    int served = g->n_layers * ((o.kinds & HALO_LOADER_KINDS_ATTN ? g->n_attn : 0) +
                                (o.kinds & HALO_LOADER_KINDS_FFN ? g->n_ffn : 0));
    size_t fit = l->slot_bytes > 0 ? capacity_bytes / l->slot_bytes : 0;
    l->q_cap = o.queue_capacity > 0 ? o.queue_capacity
                                    : (2 * per_layer > MIN_QUEUE ? 2 * per_layer : MIN_QUEUE);
    l->max_batch = o.max_batch > 0 ? o.max_batch : DEFAULT_BATCH;
    l->timeout_ns = o.timeout_ns > 0 ? o.timeout_ns : DEFAULT_TIMEOUT_NS;
    int rc;
    if (fit < 2) {
        rc = HALO_FAIL(err, HALO_ERR_ARG,
                       "%s: cache of %zu bytes holds %zu slot(s) of %zu bytes; at least 2 needed",
                       path, capacity_bytes, fit, l->slot_bytes);
        goto fail;
    }
    /* More slots than groups would never be used. */
    l->n_slots = fit > (size_t)(served > 2 ? served : 2) ? (served > 2 ? served : 2) : (int)fit;
    l->path = strdup(path);
    if (!l->path || init_sync(l) != 0 || alloc_tables(l) != 0) {
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: loader: out of memory (%d slots of %zu bytes)",
                       path, l->n_slots, l->slot_bytes);
        goto fail;
    }
    l->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (l->fd < 0) {
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: cannot open checkpoint: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(l->fd, &st) != 0) {
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: cannot stat checkpoint: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    rc = check_header(l, err);
    if (rc != HALO_OK)
        goto fail;
    l->st.n_slots = l->n_slots;
    if (pthread_create(&l->thread, NULL, loader_main, l) != 0) {
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: cannot start the loader thread", path);
        goto fail;
    }
    l->thread_started = 1;
    *out = l;
    return HALO_OK;
fail:
    halo_loader_free(l);
    return rc;
}

int halo_loader_new(halo_loader **out, const char *path, const halo_model *model,
                    const halo_groups *g, size_t capacity_bytes, halo_err *err) {
    return halo_loader_new_opts(out, path, model, g, capacity_bytes, NULL, err);
}

void halo_loader_free(halo_loader *l) {
    if (!l)
        return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        atomic_store(&l->stop, 1);
        pthread_cond_broadcast(&l->work);
        pthread_mutex_unlock(&l->mu);
        (void)pthread_join(l->thread, NULL);
    }
    if (l->sync_ready) {
        pthread_cond_destroy(&l->done);
        pthread_cond_destroy(&l->work);
        pthread_mutex_destroy(&l->mu);
    }
    if (l->fd >= 0)
        (void)close(l->fd);
    halo_arena_free(&l->tables);
    free(l->mem);
    free(l->path);
    free(l);
}

/* ==== Prefetch, acquire, release ==== */

static const char *kind_name(int kind) {
    return kind == HALO_GROUP_KIND_ATTN ? "attention" : kind == HALO_GROUP_KIND_FFN ? "ffn" : "?";
}

static int bad_key(const halo_loader *l, halo_group_key k, halo_err *err) {
    return HALO_FAIL(err, HALO_ERR_ARG,
                     "%s: group key (layer %d, kind %d %s, index %d) is outside the model's "
                     "groups or of a kind this loader does not serve",
                     l->path, k.layer, k.kind, kind_name(k.kind), k.idx);
}

int halo_loader_prefetch(halo_loader *l, const halo_group_key *keys, int n, halo_err *err) {
    for (int i = 0; i < n; i++)
        if (key_index(l, keys[i]) < 0)
            return bad_key(l, keys[i], err);
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < n; i++) {
        int k = key_index(l, keys[i]);
        l->st.n_prefetch_requests++;
        if (l->slot_of[k] >= 0 || l->queued[k]) {
            l->st.n_prefetch_skipped++;
            continue;
        }
        if (l->q_count == l->q_cap) {
            int old = queue_pop(l);
            if (l->queued[old]) {
                l->queued[old] = 0;
                l->st.n_prefetch_dropped++;
            }
        }
        l->queue[(l->q_head + l->q_count) % l->q_cap] = k;
        l->q_count++;
        l->queued[k] = 1;
    }
    pthread_cond_signal(&l->work);
    pthread_mutex_unlock(&l->mu);
    return HALO_OK;
}

static void fill_view(const halo_loader *l, int s, halo_group_key k, halo_group_weights *out) {
    const float *base = (const float *)(const void *)slot_mem(l, s);
    size_t dim = (size_t)l->x.cfg.dim, n = (size_t)group_rows(&l->x, k);
    out->key = k;
    out->n_rows = (int)n;
    out->dim = (int)dim;
    out->data = base;
    out->n_bytes = (size_t)group_bytes(&l->x, k);
    if (k.kind == HALO_GROUP_KIND_FFN) {
        out->w1 = base;
        out->w3 = base + n * dim;
        out->w2 = base + 2 * n * dim;
    } else {
        size_t hs = (size_t)l->x.g.head_size;
        out->wq = base;
        out->wk = base + n * dim;
        out->wv = base + (n + hs) * dim;
        out->wo = base + (n + 2 * hs) * dim;
    }
}

/*
 * Gathers, after key k, the consecutive groups whose prefetch requests are still queued
 * into keys[1..) / slots[1..), each with a slot of its own (mutex held). Returns the run's
 * length (1 when nothing follows).
 */
static int gather_queued_run(halo_loader *l, int k, int *keys, int *slots) {
    halo_group_key key = key_of(l, k);
    int n_kind = key.kind == HALO_GROUP_KIND_FFN ? l->x.g.n_ffn : l->x.g.n_attn;
    int n = 1;
    /* Consecutive groups of one layer and kind have consecutive key indices. */
    while (n < l->max_batch && key.idx + n < n_kind) {
        int k2 = k + n;
        if (!l->queued[k2] || l->slot_of[k2] >= 0)
            break;
        int s2 = take_victim(l);
        if (s2 < 0)
            break;
        l->queued[k2] = 0;
        slot_start(l, s2, k2);
        keys[n] = k2;
        slots[n] = s2;
        n++;
    }
    return n;
}

/*
 * Loads key k into the free slot v on the calling thread (mutex held on entry and exit) and
 * pins it. When k's prefetch request is still queued (the loader thread is behind), the run
 * of consecutive queued groups after it is read in the same batch and left resident,
 * unpinned: a strided column window costs one read per row whether it serves one group or
 * the whole run, so reading k alone would cost nearly as much and leave the rest to read.
 */
static int load_sync(halo_loader *l, int k, int v, halo_err *err) {
    int one_key[1] = {k}, one_slot[1] = {v};
    int *keys = one_key, *slots = one_slot, n = 1, batched = 0;
    struct iovec one_iov;
    struct iovec *iov = &one_iov;
    if (l->queued[k] && !l->sync_busy && l->max_batch > 1) {
        batched = 1;
        l->sync_busy = 1;
        keys = l->sync_keys;
        slots = l->sync_slots;
        iov = l->sync_iovs;
        keys[0] = k;
        slots[0] = v;
        n = gather_queued_run(l, k, keys, slots);
    }
    l->queued[k] = 0; /* a queued prefetch of it is now stale */
    slot_start(l, v, k);
    pthread_mutex_unlock(&l->mu);
    uint64_t calls = 0, t0 = now_ns();
    halo_err e = {0};
    int rc = read_groups(l, keys, slots, n, iov, &calls, &e);
    int rcs[MAX_BATCH];
    rcs[0] = rc;
    for (int j = 1; j < n; j++)
        rcs[j] = rc;
    if (rc == HALO_ERR_IO && n > 1) {
        /* As in run_batch: read again group by group so only the affected groups fail.
         * A loading slot's error record belongs to the loading thread. */
        for (int j = 0; j < n; j++)
            rcs[j] = read_groups(l, &keys[j], &slots[j], 1, iov, &calls,
                                 j == 0 ? &e : &l->slots[slots[j]].err);
    } else if (rc != HALO_OK) {
        for (int j = 1; j < n; j++)
            l->slots[slots[j]].err = e;
    }
    uint64_t dt = now_ns() - t0;
    pthread_mutex_lock(&l->mu);
    l->n_loading -= n;
    l->st.n_reads += calls;
    l->st.load_ns += dt;
    for (int j = 1; j < n; j++) {
        slot *sj = &l->slots[slots[j]];
        l->n_resident++;
        if (rcs[j] == HALO_OK) {
            sj->state = SLOT_READY;
            sj->ahead = 1;
            lru_push(l, slots[j], LRU_NEWER);
            l->st.n_sync_extra++;
            l->st.bytes_read += group_bytes(&l->x, key_of(l, keys[j]));
        } else {
            sj->state = SLOT_FAILED;
            lru_push(l, slots[j], LRU_OLDER);
            l->st.n_read_errors++;
        }
    }
    if (batched)
        l->sync_busy = 0;
    slot *sl = &l->slots[v];
    rc = rcs[0];
    if (rc != HALO_OK) {
        l->st.n_read_errors++;
        slot_clear(l, v);
        if (err)
            *err = e;
    } else {
        sl->state = SLOT_READY;
        sl->pins = 1;
        sl->load_ns = dt;
        l->n_resident++;
        l->st.n_misses++;
        l->st.bytes_read += group_bytes(&l->x, key_of(l, k));
    }
    pthread_cond_broadcast(&l->done); /* others waiting for these keys, or for a slot */
    return rc;
}

/* Acquire's state machine (mutex held). */
static int acquire_locked(halo_loader *l, int k, uint64_t deadline, halo_err *err) {
    int waited = 0;
    uint64_t wait_start = 0;
    for (;;) {
        int s = l->slot_of[k];
        if (s >= 0) {
            slot *sl = &l->slots[s];
            if (sl->state == SLOT_READY) {
                lru_unlink(l, s);
                sl->pins++;
                sl->ahead = 0;
                if (waited)
                    l->st.n_inflight++;
                else
                    l->st.n_hits++;
                if (sl->prefetched) {
                    /* Of the loader thread's reading, the part this thread waited for is
                     * not hidden. A wait for a batch is charged to the group that waited and
                     * the batch's other groups then count whole: the sum is right. */
                    l->st.n_prefetch_used++;
                    l->used_load_ns += sl->load_ns;
                    if (waited)
                        l->st.prefetch_wait_ns += now_ns() - wait_start;
                    sl->prefetched = 0;
                }
                return HALO_OK;
            }
            if (sl->state == SLOT_FAILED) {
                int code = sl->err.code;
                if (err)
                    *err = sl->err;
                lru_unlink(l, s);
                l->n_resident--;
                slot_clear(l, s);
                return code;
            }
            if (!waited) /* in flight: wait for it */
                wait_start = now_ns();
            waited = 1;
            if (wait_until(&l->done, &l->mu, deadline) != 0)
                break;
            continue;
        }
        int v = take_victim(l);
        if (v >= 0)
            return load_sync(l, k, v, err);
        if (l->n_loading == 0) {
            l->st.n_again++;
            return HALO_FAIL(err, HALO_ERR_AGAIN, "%s: all %d cache slots are pinned", l->path,
                             l->n_slots);
        }
        /* Every slot is pinned or loading: wait for a read to finish. The loader thread
         * starts no new read while slot_wanted > 0, so the slot it frees is ours. */
        l->slot_wanted++;
        int tw = wait_until(&l->done, &l->mu, deadline);
        if (--l->slot_wanted == 0)
            pthread_cond_signal(&l->work);
        if (tw != 0)
            break;
    }
    halo_group_key key = key_of(l, k);
    return HALO_FAIL(err, HALO_ERR_TIMEOUT, "%s: layer %d %s group %d not loaded within %llu ms",
                     l->path, key.layer, kind_name(key.kind), key.idx,
                     (unsigned long long)(l->timeout_ns / 1000000));
}

int halo_loader_acquire(halo_loader *l, halo_group_key key, halo_group_weights *out,
                        halo_err *err) {
    memset(out, 0, sizeof *out);
    int k = key_index(l, key);
    if (k < 0)
        return bad_key(l, key, err);
    uint64_t t0 = now_ns();
    pthread_mutex_lock(&l->mu);
    int rc = acquire_locked(l, k, t0 + l->timeout_ns, err);
    if (rc == HALO_OK) {
        fill_view(l, l->slot_of[k], key, out);
        l->st.n_acquires++;
    } else if (rc == HALO_ERR_IO) {
        l->st.n_errors++;
    }
    l->st.wait_ns += now_ns() - t0;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void halo_loader_release(halo_loader *l, halo_group_key key) {
    int k = key_index(l, key);
    HALO_ASSERT(k >= 0);
    pthread_mutex_lock(&l->mu);
    int s = l->slot_of[k];
    HALO_ASSERT(s >= 0 && l->slots[s].state == SLOT_READY && l->slots[s].pins > 0);
    if (--l->slots[s].pins == 0)
        lru_push(l, s, LRU_NEWER);
    pthread_mutex_unlock(&l->mu);
}

/* ==== Control and statistics ==== */

void halo_loader_pause(halo_loader *l, int paused) {
    pthread_mutex_lock(&l->mu);
    l->paused = paused != 0;
    pthread_cond_broadcast(&l->work);
    pthread_cond_broadcast(&l->done);
    pthread_mutex_unlock(&l->mu);
}

int halo_loader_wait_idle(halo_loader *l, halo_err *err) {
    uint64_t deadline = now_ns() + l->timeout_ns;
    int rc = HALO_OK;
    pthread_mutex_lock(&l->mu);
    while ((l->q_count > 0 && !l->paused) || l->n_loading > 0) {
        if (wait_until(&l->done, &l->mu, deadline) != 0) {
            rc = HALO_FAIL(err, HALO_ERR_TIMEOUT,
                           "%s: loader not idle within %llu ms (%d queued, %d loading)", l->path,
                           (unsigned long long)(l->timeout_ns / 1000000), l->q_count, l->n_loading);
            break;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int halo_loader_state(halo_loader *l, halo_group_key key) {
    int k = key_index(l, key);
    if (k < 0)
        return HALO_LOADER_ABSENT;
    pthread_mutex_lock(&l->mu);
    int s = l->slot_of[k], r = HALO_LOADER_ABSENT;
    if (s >= 0)
        r = l->slots[s].state == SLOT_LOADING  ? HALO_LOADER_LOADING
            : l->slots[s].state == SLOT_FAILED ? HALO_LOADER_FAILED
                                               : HALO_LOADER_RESIDENT;
    else if (l->queued[k])
        r = HALO_LOADER_QUEUED;
    pthread_mutex_unlock(&l->mu);
    return r;
}

void halo_loader_get_stats(halo_loader *l, halo_loader_stats *out) {
    pthread_mutex_lock(&l->mu);
    *out = l->st;
    out->hidden_load_ns =
        l->used_load_ns > l->st.prefetch_wait_ns ? l->used_load_ns - l->st.prefetch_wait_ns : 0;
    out->n_slots = l->n_slots;
    out->n_resident = l->n_resident;
    pthread_mutex_unlock(&l->mu);
}

void halo_loader_reset_stats(halo_loader *l) {
    pthread_mutex_lock(&l->mu);
    l->used_load_ns = 0;
    l->st =
        (halo_loader_stats){.n_slots = l->n_slots, .max_resident = l->n_resident + l->n_loading};
    pthread_mutex_unlock(&l->mu);
}

size_t halo_loader_slot_bytes(const halo_loader *l) {
    return l->slot_bytes;
}

int halo_loader_n_slots(const halo_loader *l) {
    return l->n_slots;
}

int halo_loader_queue_capacity(const halo_loader *l) {
    return l->q_cap;
}
