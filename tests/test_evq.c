/* The event queue against a brute-force reference under random pushes, pops and cancels. */
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

TEST_MAIN(TEST(matches_reference_under_random_operations))
