/*
 * Binary heap over slot indices. Each slot holds one event, its heap position and the
 * generation part of its id; freed slots go on a free list. An id is (generation << 32 |
 * slot), so a stale id never cancels the slot's next occupant.
 */
#include "core/evq.h"

#include <stdlib.h>

typedef struct slot {
    halo_event ev;
    uint32_t gen; /* bumped every time the slot is freed */
    int32_t pos;  /* index in heap[], or -1 when free */
    uint32_t next_free;
} slot;

struct halo_evq {
    slot *slots;
    uint32_t *heap;     /* slot indices */
    size_t n, cap;      /* heap size and slot capacity */
    uint32_t free_head; /* UINT32_MAX when empty */
    uint64_t next_seq;
};

int halo_evq_new(halo_evq **out, halo_err *err) {
    *out = calloc(1, sizeof **out);
    if (!*out)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "event queue: out of memory");
    (*out)->free_head = UINT32_MAX;
    return HALO_OK;
}

void halo_evq_free(halo_evq *q) {
    if (!q)
        return;
    free(q->slots);
    free(q->heap);
    free(q);
}

static int before(const halo_evq *q, uint32_t a, uint32_t b) {
    const halo_event *x = &q->slots[a].ev, *y = &q->slots[b].ev;
    return x->time_ns < y->time_ns || (x->time_ns == y->time_ns && x->seq < y->seq);
}

static void place(halo_evq *q, size_t i, uint32_t s) {
    q->heap[i] = s;
    q->slots[s].pos = (int32_t)i;
}

static void sift_up(halo_evq *q, size_t i) {
    uint32_t s = q->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(q, s, q->heap[parent]))
            break;
        place(q, i, q->heap[parent]);
        i = parent;
    }
    place(q, i, s);
}

static void sift_down(halo_evq *q, size_t i) {
    uint32_t s = q->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n)
            break;
        if (c + 1 < q->n && before(q, q->heap[c + 1], q->heap[c]))
            c++;
        if (!before(q, q->heap[c], s))
            break;
        place(q, i, q->heap[c]);
        i = c;
    }
    place(q, i, s);
}

static int grow(halo_evq *q, halo_err *err) {
    size_t cap = q->cap ? q->cap * 2 : 64;
    if (cap > UINT32_MAX / 2)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "event queue: too many events");
    slot *slots = realloc(q->slots, cap * sizeof *slots);
    if (!slots)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "event queue: out of memory");
    q->slots = slots;
    uint32_t *heap = realloc(q->heap, cap * sizeof *heap);
    if (!heap)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "event queue: out of memory");
    q->heap = heap;
    for (size_t i = cap; i-- > q->cap;) { /* new slots onto the free list, lowest first */
        slots[i].gen = 0;
        slots[i].pos = -1;
        slots[i].next_free = q->free_head;
        q->free_head = (uint32_t)i;
    }
    q->cap = cap;
    return HALO_OK;
}

int halo_evq_push(halo_evq *q, const halo_event *ev, uint64_t *id, halo_err *err) {
    if (q->free_head == UINT32_MAX) {
        int rc = grow(q, err);
        if (rc != HALO_OK)
            return rc;
    }
    uint32_t s = q->free_head;
    q->free_head = q->slots[s].next_free;
    q->slots[s].ev = *ev;
    q->slots[s].ev.seq = q->next_seq++;
    q->n++;
    place(q, q->n - 1, s);
    sift_up(q, q->n - 1);
    if (id)
        *id = (uint64_t)q->slots[s].gen << 32 | s;
    return HALO_OK;
}

int halo_evq_push_timer(halo_evq *q, int kind, int node, uint64_t now_ns, uint64_t delay_ns,
                        void (*fn)(void *arg), void *arg, uint64_t *id, const char *who,
                        halo_err *err) {
    if (delay_ns > UINT64_MAX - now_ns)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: timer delay %llu ns overflows", who,
                         (unsigned long long)delay_ns);
    halo_event ev = {
        .time_ns = now_ns + delay_ns, .kind = kind, .node = node, .fn = fn, .ptr2 = arg};
    return halo_evq_push(q, &ev, id, err);
}

static void remove_at(halo_evq *q, size_t i) {
    uint32_t s = q->heap[i];
    q->n--;
    if (i < q->n) {
        place(q, i, q->heap[q->n]); /* the last element fills the hole, then moves */
        if (i > 0 && before(q, q->heap[i], q->heap[(i - 1) / 2]))
            sift_up(q, i);
        else
            sift_down(q, i);
    }
    q->slots[s].pos = -1;
    q->slots[s].gen++;
    q->slots[s].next_free = q->free_head;
    q->free_head = s;
}

int halo_evq_pop(halo_evq *q, halo_event *ev) {
    if (q->n == 0)
        return 0;
    *ev = q->slots[q->heap[0]].ev;
    remove_at(q, 0);
    return 1;
}

const halo_event *halo_evq_peek(const halo_evq *q) {
    return q->n ? &q->slots[q->heap[0]].ev : NULL;
}

int halo_evq_cancel(halo_evq *q, uint64_t id) {
    uint32_t s = (uint32_t)id, gen = (uint32_t)(id >> 32);
    if (s >= q->cap || q->slots[s].pos < 0 || q->slots[s].gen != gen)
        return 0;
    remove_at(q, (size_t)q->slots[s].pos);
    return 1;
}

void halo_evq_retime(halo_evq *q, uint64_t (*fn)(void *ctx, const halo_event *ev), void *ctx) {
    int moved = 0;
    for (size_t i = 0; i < q->n; i++) {
        halo_event *ev = &q->slots[q->heap[i]].ev;
        uint64_t t = fn(ctx, ev);
        moved |= t != ev->time_ns;
        ev->time_ns = t;
    }
    if (moved) /* heapify again, bottom up */
        for (size_t i = q->n / 2; i-- > 0;)
            sift_down(q, i);
}

size_t halo_evq_size(const halo_evq *q) {
    return q->n;
}
