/* The planner of a host's shared memory bandwidth (sim/hostshare.h) on small cases worked out
 * by hand: overlap, chains with gaps, the cap on how many run at once, and planning in two
 * steps (to the present, then the rest) giving the plan made in one; shared and placed on
 * cores (a segment's core chosen as Linux wakes a task, moved at a balance tick). */
#include "sim/hostshare.h"
#include "tests/test.h"

#include <string.h>

/* A segment of device dev from start_ns needing work_ns alone, 4/3 as long with 2 or more at
   once (a host bandwidth of 1.5 times a device's own, split two ways). */
static halo_share_seg seg(int dev, uint64_t start_ns, uint64_t work_ns) {
    halo_share_seg s;
    memset(&s, 0, sizeof s);
    s.dev = dev;
    s.start_ns = start_ns;
    s.end_ns = start_ns + work_ns;
    s.left_ns = (double)work_ns;
    s.tag = -1;
    for (int m = 0; m < HALO_SHARE_MAX; m++)
        s.ratio[m] = m == 0 ? 1.0 : 4.0 / 3.0;
    return s;
}

/* Two that overlap are both slowed, only while they overlap. */
static void overlapping_segments_slow_each_other_while_they_overlap(void) {
    halo_share_seg s[2] = {seg(0, 0, 3000), seg(1, 1500, 3000)};
    ASSERT_EQ(halo_share_plan(s, 2, 2, 0, 0, 0, UINT64_MAX), 2);
    /* 0: 1500 alone, 1500 more at 3/4 speed (2000): ends 3500; 1: 1500 of its work in that
       time, the other 1500 alone: ends 5000 */
    ASSERT_EQ(s[0].end_ns, 3500);
    ASSERT_EQ(s[1].end_ns, 5000);
    ASSERT_EQ(s[0].state, HALO_SHARE_ENDED);
    ASSERT(s[1].left_ns == 3000.0); /* a plan to the end keeps what they needed */
}

/* A device's next segment starts its gap after the one before ends, however late that is. */
static void a_chain_keeps_its_gaps(void) {
    /* device 0: [0, 1000) then, 500 later, [1500, 2500); device 1 [0, 3000) */
    halo_share_seg s[3] = {seg(0, 0, 1000), seg(0, 1500, 1000), seg(1, 0, 3000)};
    halo_share_plan(s, 3, 2, 0, 0, 0, UINT64_MAX);
    /* both run at 3/4 speed: 0's first ends at 1333.3 (1333); its second starts 500 later, at
       1833, while 1 has about 1500 left; both slowed again: 0's ends at 3166.3 */
    ASSERT_EQ(s[0].end_ns, 1333);
    ASSERT_EQ(s[1].start_ns, 1833);
    ASSERT_EQ(s[1].end_ns, 3166);
    /* 1: 1000 by 1333.3, 499.7 alone by 1833, 1000 more by 3166.3, its last 500.3 alone */
    ASSERT_EQ(s[2].end_ns, 3667);
}

/* With at most max_m at once at the shared speed, a third is no slower than two. */
static void more_than_max_m_run_at_max_ms_speed(void) {
    halo_share_seg s[3] = {seg(0, 0, 3000), seg(1, 0, 3000), seg(2, 0, 3000)};
    for (int m = 0; m < HALO_SHARE_MAX; m++)
        s[2].ratio[m] = m == 0 ? 1.0 : (m == 1 ? 4.0 / 3.0 : 10.0);
    halo_share_plan(s, 3, 2, 0, 0, 0, UINT64_MAX);
    ASSERT_EQ(s[0].end_ns, 4000);
    ASSERT_EQ(s[2].end_ns, 4000); /* ratio[2] never used */
}

/* Planning to a time and then on from it gives the same plan as planning at once, and a
   segment that started before the base runs from the base with what it still needs. */
static void planning_in_two_steps_gives_the_same_plan(void) {
    halo_share_seg once[4] = {seg(0, 0, 3000), seg(0, 3200, 800), seg(1, 1500, 3000),
                              seg(2, 2500, 700)};
    halo_share_seg twice[4];
    memcpy(twice, once, sizeof once);
    halo_share_plan(once, 4, 2, 0, 0, 0, UINT64_MAX);
    /* all three at 3/4 speed from 2500: device 2's ends at 3433, device 0's first at 3500 */
    int ended = halo_share_plan(twice, 4, 2, 0, 0, 0, 3450);
    ASSERT_EQ(ended, 1);
    int kept = 0;
    for (int k = 0; k < 4; k++)
        if (twice[k].state != HALO_SHARE_ENDED)
            twice[kept++] = twice[k];
    ASSERT_EQ(kept, 3);
    halo_share_plan(twice, kept, 2, 0, 0, 3450, UINT64_MAX);
    for (int k = 0, t = 0; k < 4; k++) {
        if (once[k].end_ns <= 3450)
            continue;
        ASSERT(twice[t].end_ns >= once[k].end_ns - 1 && twice[t].end_ns <= once[k].end_ns + 1);
        t++;
    }
}

/* A segment of a placed host, not placed yet, whose device last ran on core home. */
static halo_share_seg placed_seg(int dev, uint64_t start_ns, uint64_t work_ns, int home) {
    halo_share_seg s = seg(dev, start_ns, work_ns);
    s.home = home;
    s.core = -1;
    return s;
}

/* Placed on 2 cores: a segment takes its last core when idle, else the first idle one, else
   shares its last core; the bandwidth is split among the busy cores. */
static void a_placed_segment_takes_an_idle_core_else_its_last(void) {
    halo_share_seg s[3] = {placed_seg(0, 0, 3000, 0), placed_seg(1, 0, 3000, 0),
                           placed_seg(2, 0, 3000, 1)};
    ASSERT_EQ(halo_share_plan(s, 3, HALO_SHARE_MAX, 2, 0, 0, UINT64_MAX), 3);
    ASSERT_EQ(s[0].core, 0);
    ASSERT_EQ(s[1].core, 1); /* its core 0 was taken, 1 idle */
    ASSERT_EQ(s[2].core, 1); /* no core idle: its own, shared with 1 */
    /* 0 alone on core 0 at 3/4 speed (two cores busy): ends 4000; 1 and 2 at 3/8 each, 1500
       of their work by 4000, then core 0 idles while they share core 1 at full bandwidth:
       1500 at 1/2 more, both end 7000 (never moved to the idle core) */
    ASSERT_EQ(s[0].end_ns, 4000);
    ASSERT_EQ(s[1].end_ns, 7000);
    ASSERT_EQ(s[2].end_ns, 7000);
}

/* A device's next segment starts on the core the one before it ran on, when idle. */
static void a_chain_goes_back_to_its_core(void) {
    /* device 0 on its core 2, then again without a gap; device 1 (last on 2) at 500 */
    halo_share_seg s[3] = {placed_seg(0, 0, 1000, 2), placed_seg(0, 1000, 1000, 0),
                           placed_seg(1, 500, 3000, 2)};
    halo_share_plan(s, 3, HALO_SHARE_MAX, 3, 0, 0, UINT64_MAX);
    ASSERT_EQ(s[0].core, 2);
    ASSERT_EQ(s[2].core, 0); /* its core 2 busy: the first idle */
    /* 0's first: 500 alone, its other 500 at 3/4 speed: ends 1167; its second on core 2
       again (idle), not on core 1 (the first idle one) */
    ASSERT_EQ(s[0].end_ns, 1167);
    ASSERT_EQ(s[1].start_ns, 1167);
    ASSERT_EQ(s[1].core, 2);
}

/* Placed, too: planning to a time and then on from it gives the plan made at once. */
static void a_placed_plan_in_two_steps_is_the_same(void) {
    halo_share_seg once[5] = {placed_seg(0, 0, 3000, 0), placed_seg(0, 3200, 800, 0),
                              placed_seg(1, 1500, 3000, 0), placed_seg(2, 2500, 700, 1),
                              placed_seg(3, 2600, 900, 1)};
    halo_share_seg twice[5];
    memcpy(twice, once, sizeof once);
    halo_share_plan(once, 5, HALO_SHARE_MAX, 2, 0, 0, UINT64_MAX);
    halo_share_plan(twice, 5, HALO_SHARE_MAX, 2, 0, 0, 2800);
    int kept = 0;
    for (int k = 0; k < 5; k++)
        if (twice[k].state != HALO_SHARE_ENDED)
            twice[kept++] = twice[k];
    ASSERT_EQ(kept, 5);
    halo_share_plan(twice, kept, HALO_SHARE_MAX, 2, 0, 2800, UINT64_MAX);
    for (int k = 0; k < 5; k++) {
        ASSERT(twice[k].end_ns >= once[k].end_ns - 1 && twice[k].end_ns <= once[k].end_ns + 1);
        ASSERT_EQ(twice[k].core, once[k].core);
    }
    ASSERT_EQ(once[2].core, 1); /* device 1 found core 0 busy */
    ASSERT_EQ(once[3].core, 1); /* device 2: no idle core, its own */
}

/* A balance tick: while a core idles and another runs two, at the next multiple of the tick
   the one with more work left (the first on a tie) moves to the idle core. */
static void a_balance_tick_moves_one_of_two_to_an_idle_core(void) {
    halo_share_seg s[3] = {placed_seg(0, 0, 3000, 0), placed_seg(1, 0, 3000, 0),
                           placed_seg(2, 0, 3000, 1)};
    halo_share_seg by_then[3];
    memcpy(by_then, s, sizeof s);
    ASSERT_EQ(halo_share_plan(s, 3, HALO_SHARE_MAX, 2, 2000, 0, UINT64_MAX), 3);
    /* as without the tick until 4000 (the tick at 2000 finds no core idle): 0 ends 4000, 1
       and 2 have 1500 left each; they share core 1 at full bandwidth until the tick at 6000
       (500 left each), then 1 moves to core 0 and both go on at 3/4 speed: 667 more */
    ASSERT_EQ(s[0].end_ns, 4000);
    ASSERT_EQ(s[1].end_ns, 6667);
    ASSERT_EQ(s[2].end_ns, 6667);
    ASSERT_EQ(s[1].core, 1); /* a plan to the end is made again from its base: cores as there */
    ASSERT_EQ(halo_share_plan(by_then, 3, HALO_SHARE_MAX, 2, 2000, 0, 6500), 1);
    ASSERT_EQ(by_then[1].core, 0); /* moved by 6500 */
    ASSERT_EQ(by_then[2].core, 1);
    /* without a tick they stay together (a_placed_segment_takes_an_idle_core_else_its_last) */
}

/* With a balance tick, too, planning to a time and then on from it gives the plan made at once,
   whether the time falls before, between or after the moves. */
static void a_balanced_plan_in_two_steps_is_the_same(void) {
    const halo_share_seg start[5] = {placed_seg(0, 0, 3000, 0), placed_seg(0, 3200, 800, 0),
                                     placed_seg(1, 0, 3000, 0), placed_seg(2, 0, 3500, 1),
                                     placed_seg(3, 2600, 2900, 1)};
    halo_share_seg once[5];
    memcpy(once, start, sizeof start);
    halo_share_plan(once, 5, HALO_SHARE_MAX, 2, 1000, 0, UINT64_MAX);
    static const uint64_t untils[] = {2800, 4500, 5500, 6100, 7200};
    for (size_t u = 0; u < sizeof untils / sizeof untils[0]; u++) {
        halo_share_seg twice[5];
        int index[5];
        memcpy(twice, start, sizeof start);
        halo_share_plan(twice, 5, HALO_SHARE_MAX, 2, 1000, 0, untils[u]);
        int kept = 0;
        for (int k = 0; k < 5; k++) {
            if (twice[k].state == HALO_SHARE_ENDED) {
                ASSERT(twice[k].end_ns >= once[k].end_ns - 1 &&
                       twice[k].end_ns <= once[k].end_ns + 1);
                continue;
            }
            index[kept] = k;
            twice[kept++] = twice[k];
        }
        halo_share_plan(twice, kept, HALO_SHARE_MAX, 2, 1000, untils[u], UINT64_MAX);
        for (int t = 0; t < kept; t++) {
            const halo_share_seg *o = &once[index[t]];
            ASSERT(twice[t].end_ns >= o->end_ns - 1 && twice[t].end_ns <= o->end_ns + 1);
        }
    }
    /* the ticks changed the plan: without them it ends otherwise */
    halo_share_seg never[5];
    memcpy(never, start, sizeof start);
    halo_share_plan(never, 5, HALO_SHARE_MAX, 2, 0, 0, UINT64_MAX);
    int differs = 0;
    for (int k = 0; k < 5; k++)
        differs |= never[k].end_ns != once[k].end_ns;
    ASSERT(differs);
}

TEST_MAIN(TEST(overlapping_segments_slow_each_other_while_they_overlap),
          TEST(a_chain_keeps_its_gaps), TEST(more_than_max_m_run_at_max_ms_speed),
          TEST(planning_in_two_steps_gives_the_same_plan),
          TEST(a_placed_segment_takes_an_idle_core_else_its_last),
          TEST(a_chain_goes_back_to_its_core), TEST(a_placed_plan_in_two_steps_is_the_same),
          TEST(a_balance_tick_moves_one_of_two_to_an_idle_core),
          TEST(a_balanced_plan_in_two_steps_is_the_same))
