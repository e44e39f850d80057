/*
 * Packed weight windows (core/winpack.h).
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise */

#include "core/winpack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#define WINPACK_MMAP 1
#endif

enum {
    CHUNK_MIN_BYTES = 32 << 20, /* a chunk holds several layers' windows */
    HUGE_BYTES = 2 << 20,       /* a huge page on x86-64 and most aarch64 kernels */
    ALIGN_BYTES = 64,           /* a cache line: every window starts on one */
    COPIES_PER_SLOT = 4         /* on average, before the windows count as moving */
};

typedef struct chunk {
    struct chunk *next;
    unsigned char *base; /* HUGE_BYTES-aligned from one huge page up, else ALIGN_BYTES */
    size_t cap, used;
    void *map; /* what munmap or free takes */
    size_t map_bytes;
} chunk;

typedef struct slot {
    size_t r0, rows, c0, cols;
    const void *src; /* the matrix's data: a slot may serve another matrix */
    float *w;        /* the copy; NULL: none */
    size_t cap;      /* floats w can hold */
} slot;

struct halo_winpack {
    int n_slots;
    slot *slots;
    chunk *chunks;
    size_t budget, held;
    long copies;
    int huge, stopped;
};

int halo_winpack_new(halo_winpack **out, int n_slots, size_t budget_bytes, halo_err *err) {
    *out = NULL;
    if (n_slots < 1)
        return HALO_FAIL(err, HALO_ERR_ARG, "winpack: %d slots", n_slots);
    halo_winpack *p = calloc(1, sizeof *p);
    slot *s = calloc((size_t)n_slots, sizeof *s);
    if (!p || !s) {
        free(p);
        free(s);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "winpack: out of memory (%d slots)", n_slots);
    }
    p->n_slots = n_slots;
    p->slots = s;
    p->budget = budget_bytes;
    *out = p;
    return HALO_OK;
}

static void chunk_release(chunk *c) {
#ifdef WINPACK_MMAP
    (void)munmap(c->map, c->map_bytes);
#else
    free(c->map);
#endif
    free(c);
}

void halo_winpack_free(halo_winpack *p) {
    if (!p)
        return;
    for (chunk *c = p->chunks, *next; c; c = next) {
        next = c->next;
        chunk_release(c);
    }
    free(p->slots);
    free(p);
}

/* A new chunk of cap bytes, or NULL. */
static chunk *chunk_new(halo_winpack *p, size_t cap) {
    chunk *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    size_t align = cap >= HUGE_BYTES ? HUGE_BYTES : ALIGN_BYTES;
    c->map_bytes = cap + align; /* room to start the chunk on an `align` boundary */
#ifdef WINPACK_MMAP
    c->map = mmap(NULL, c->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c->map == MAP_FAILED) {
        free(c);
        return NULL;
    }
#else
    c->map = malloc(c->map_bytes);
    if (!c->map) {
        free(c);
        return NULL;
    }
#endif
    c->base = (unsigned char *)(((uintptr_t)c->map + align - 1) & ~(uintptr_t)(align - 1));
#if defined(WINPACK_MMAP) && defined(MADV_HUGEPAGE)
    if (align == HUGE_BYTES && madvise(c->base, cap, MADV_HUGEPAGE) == 0)
        p->huge = 1;
#endif
    c->cap = cap;
    c->next = p->chunks;
    p->chunks = c;
    p->held += cap;
    return c;
}

/* `floats` floats of chunk memory, or NULL (the budget reached: copying stops; no memory).
   A new chunk takes CHUNK_MIN_BYTES, or what is left of the budget when that is less, in
   whole huge pages from one huge page up. */
static float *carve(halo_winpack *p, size_t floats) {
    size_t bytes = (floats * sizeof(float) + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES;
    chunk *c = p->chunks;
    if (!c || c->cap - c->used < bytes) {
        size_t left = p->budget > p->held ? p->budget - p->held : 0;
        size_t cap = left < CHUNK_MIN_BYTES ? left : CHUNK_MIN_BYTES;
        cap = cap >= HUGE_BYTES ? cap / HUGE_BYTES * HUGE_BYTES : cap / ALIGN_BYTES * ALIGN_BYTES;
        if (cap < bytes)
            cap = bytes; /* a window larger than a chunk: a chunk of its own */
        if (cap > left) {
            p->stopped = 1;
            return NULL;
        }
        c = chunk_new(p, cap);
        if (!c)
            return NULL;
    }
    float *w = (void *)(c->base + c->used); /* ALIGN_BYTES-aligned */
    c->used += bytes;
    return w;
}

const float *halo_winpack_get(halo_winpack *p, int slot_idx, const halo_mat *m, size_t r0,
                              size_t rows, size_t c0, size_t cols) {
    if (!p || slot_idx < 0 || slot_idx >= p->n_slots || m->type != HALO_TYPE_F32 ||
        (rows >= (size_t)m->rows && cols >= (size_t)m->cols) || rows == 0 || cols == 0)
        return NULL;
    slot *s = &p->slots[slot_idx];
    if (s->w && s->src == m->data && s->r0 == r0 && s->rows == rows && s->c0 == c0 &&
        s->cols == cols)
        return s->w;
    if (p->stopped)
        return NULL;
    if (p->copies >= (long)COPIES_PER_SLOT * p->n_slots) { /* windows keep moving */
        p->stopped = 1;
        return NULL;
    }
    size_t floats = rows * cols;
    float *w = s->w && s->cap >= floats ? s->w : carve(p, floats);
    if (!w)
        return NULL;
    if (w != s->w) {
        s->w = w;
        s->cap = floats;
    }
    size_t stride = m->row_bytes / sizeof(float);
    const float *src = (const float *)m->data + r0 * stride + c0;
    if (cols == stride)
        memcpy(w, src, floats * sizeof *w);
    else
        for (size_t r = 0; r < rows; r++)
            memcpy(w + r * cols, src + r * stride, cols * sizeof *w);
    s->src = m->data;
    s->r0 = r0;
    s->rows = rows;
    s->c0 = c0;
    s->cols = cols;
    p->copies++;
    return w;
}

halo_winpack_stats halo_winpack_get_stats(const halo_winpack *p) {
    halo_winpack_stats st = {0};
    if (!p)
        return st;
    st.copies = p->copies;
    st.bytes = p->held;
    for (int i = 0; i < p->n_slots; i++)
        if (p->slots[i].w)
            st.window_bytes += p->slots[i].rows * p->slots[i].cols * sizeof(float);
    st.huge = p->huge;
    st.stopped = p->stopped;
    return st;
}
