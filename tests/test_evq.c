/* The event queue against a brute-force reference under random pushes, pops and cancels, and
 * the timer events the transports push. */
#include "core/evq.h"
#include "core/rng.h"
#include "tests/test.h"

enum {
    MAXE = 4096
};

typedef struct ref_ev {
    uint64_t time, seq, id;
    int live;
} ref_ev;

static void matches_reference_under_random_operations(void) {
    halo_evq *q = NULL;
    ASSERT_OK(halo_evq_new(&q, NULL));
    static ref_ev ref[MAXE * 4];
    int n_ref = 0;
    uint64_t seq = 0;
    halo_rng rng;
    halo_rng_init(&rng, 5);
    for (int step = 0; step < 20000; step++) {
        uint64_t r = halo_rng_u64(&rng) % 10;
        if (r < 5 && n_ref < MAXE * 4) { /* push; few distinct times, so ties are common */
            halo_event ev = {.time_ns = halo_rng_u64(&rng) % 50, .u64 = seq};
            uint64_t id;
            ASSERT_OK(halo_evq_push(q, &ev, &id, NULL));
            ref[n_ref++] = (ref_ev){ev.time_ns, seq++, id, 1};
        } else if (r < 7 && n_ref > 0) { /* cancel a random (maybe dead) event */
            ref_ev *e = &ref[halo_rng_u64(&rng) % (uint64_t)n_ref];
            ASSERT_EQ(halo_evq_cancel(q, e->id), e->live);
            e->live = 0;
        } else { /* pop: must be the live (time, seq) minimum */
            int best = -1;
            for (int i = 0; i < n_ref; i++)
                if (ref[i].live && (best < 0 || ref[i].time < ref[best].time ||
                                    (ref[i].time == ref[best].time && ref[i].seq < ref[best].seq)))
                    best = i;
            halo_event ev;
            int got = halo_evq_pop(q, &ev);
            ASSERT_EQ(got, best >= 0);
            if (got) {
                ASSERT_EQ(ev.u64, ref[best].seq);
                ASSERT_EQ(ev.time_ns, ref[best].time);
                ref[best].live = 0;
            }
        }
        size_t live = 0;
        for (int i = 0; i < n_ref; i++)
            live += (size_t)ref[i].live;
        ASSERT_EQ(halo_evq_size(q), live);
    }
    halo_evq_free(q);
}

static void on_timer(void *arg) {
    (*(int *)arg)++;
}

static void timers_carry_kind_node_time_and_callback(void) {
    halo_evq *q = NULL;
    ASSERT_OK(halo_evq_new(&q, NULL));
    int fired = 0;
    uint64_t id;
    ASSERT_OK(halo_evq_push_timer(q, 7, 3, 1000, 250, on_timer, &fired, &id, "test", NULL));
    halo_err err = {0};
    ASSERT_EQ(halo_evq_push_timer(q, 7, 3, UINT64_MAX - 5, 6, on_timer, &fired, NULL, "test", &err),
              HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "test: timer delay 6 ns overflows");
    ASSERT_EQ(halo_evq_size(q), 1);
    halo_event ev;
    ASSERT_EQ(halo_evq_pop(q, &ev), 1);
    ASSERT_EQ(ev.kind, 7);
    ASSERT_EQ(ev.node, 3);
    ASSERT_EQ(ev.time_ns, 1250);
    ev.fn(ev.ptr2);
    ASSERT_EQ(fired, 1);
    ASSERT_EQ(halo_evq_cancel(q, id), 0); /* already popped */
    halo_evq_free(q);
}

/* Moves node 1's events 500 ns later. */
static uint64_t later_for_node_1(void *ctx, const halo_event *ev) {
    (void)ctx;
    return ev->node == 1 ? ev->time_ns + 500 : ev->time_ns;
}

/* Retiming moves the events it is told to, keeps the heap in order (ties in insertion order)
   and keeps ids: a moved event can still be cancelled. */
static void retime_moves_events_and_keeps_order_and_ids(void) {
    halo_evq *q = NULL;
    ASSERT_OK(halo_evq_new(&q, NULL));
    uint64_t ids[8];
    for (int i = 0; i < 8; i++) { /* times 0, 100, ..., 700; odd ones on node 1 */
        halo_event ev = {.time_ns = (uint64_t)i * 100, .node = i % 2, .u64 = (uint64_t)i};
        ASSERT_OK(halo_evq_push(q, &ev, &ids[i], NULL));
    }
    halo_evq_retime(q, later_for_node_1, NULL);
    ASSERT_EQ(halo_evq_cancel(q, ids[7]), 1); /* 700 -> 1200, then gone */
    /* node 0 at 0, 200, 400, 600; node 1 at 600 (event 1, pushed before node 0's event 6 at
       600, so first of the two), 800, 1000 */
    uint64_t want_time[] = {0, 200, 400, 600, 600, 800, 1000};
    uint64_t want_index[] = {0, 2, 4, 1, 6, 3, 5};
    halo_event ev;
    for (int k = 0; k < 7; k++) {
        ASSERT_EQ(halo_evq_pop(q, &ev), 1);
        ASSERT_EQ(ev.time_ns, want_time[k]);
        ASSERT_EQ(ev.u64, want_index[k]);
    }
    ASSERT_EQ(halo_evq_pop(q, &ev), 0);
    halo_evq_free(q);
}

TEST_MAIN(TEST(matches_reference_under_random_operations),
          TEST(timers_carry_kind_node_time_and_callback),
          TEST(retime_moves_events_and_keeps_order_and_ids))
