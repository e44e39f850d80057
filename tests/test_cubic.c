/*
 * sim/cubic.c: Linux's CUBIC window growth, step by step in jiffies (HZ = 250, as the
 * measured kernel), against values worked out from net/ipv4/tcp_cubic.c's arithmetic.
 */
#include "sim/cubic.h"
#include "tests/test.h"

enum {
    HZ = 250
};

/* A reduction keeps 717/1024 of the window (at least 2) and remembers W_max; below the
   previous W_max, fast convergence remembers (1024 + 717) / 2048 of the window instead. */
static void a_reduction_keeps_seven_tenths_and_remembers_w_max(void) {
    halo_cubic c;
    halo_cubic_reset(&c);
    ASSERT_EQ(halo_cubic_ssthresh(&c, 10), 7);
    ASSERT_EQ(c.last_max_cwnd, 10);
    ASSERT_EQ(c.epoch_start, 0);
    ASSERT_EQ(halo_cubic_ssthresh(&c, 7), 4); /* 7 * 717 / 1024 = 4.9 */
    ASSERT_EQ(c.last_max_cwnd, 5);            /* 7 * 1741 / 2048 = 5.95 */
    ASSERT_EQ(halo_cubic_ssthresh(&c, 3), 2);
    ASSERT_EQ(c.last_max_cwnd, 2); /* 3 * 1741 / 2048 = 2.55 */
    ASSERT_EQ(halo_cubic_ssthresh(&c, 1), 2);
}

/* Below ssthresh the window grows by what is acknowledged (slow start), and only the rest
   goes to the cubic rate. */
static void slow_start_up_to_ssthresh_then_the_cubic_rate(void) {
    halo_cubic c;
    halo_cubic_reset(&c);
    halo_cubic_window w = {.cwnd = 1, .ssthresh = 4};
    halo_cubic_cong_avoid(&c, &w, 2, 100, HZ);
    ASSERT_EQ(w.cwnd, 3);
    ASSERT_EQ(c.epoch_start, 0); /* no congestion avoidance yet */
    halo_cubic_cong_avoid(&c, &w, 3, 100, HZ);
    ASSERT_EQ(w.cwnd, 4); /* 1 to reach ssthresh; 2 toward the cubic rate */
    ASSERT_EQ(c.epoch_start, 100);
    ASSERT_EQ(w.cwnd_cnt, 2);
}

/*
 * The kernel's rate limit (bictcp_update): while the window stands still, the growth rate is
 * recomputed at most once per HZ / 32 jiffies (7 at HZ = 250, 28 ms). After a reduction that
 * leaves W_max at the window (fast convergence), the curve is flat for over a second (its
 * first rate is 100 x cwnd), so the window stands for 7 jiffies however many segments are
 * acknowledged; on the 8th the TCP-friendly estimate (one segment per 15 * cwnd / 8
 * acknowledged) has counted them and the window grows. The same ACKs within one jiffy leave
 * it where it was.
 */
static void the_window_stands_for_hz_over_32_after_a_reduction(void) {
    for (int spread = 1; spread >= 0; spread--) {
        halo_cubic c;
        halo_cubic_reset(&c);
        ASSERT_EQ(halo_cubic_ssthresh(&c, 4), 2); /* W_max 4 */
        ASSERT_EQ(halo_cubic_ssthresh(&c, 3), 2); /* fast convergence: W_max 2 */
        halo_cubic_window w = {.cwnd = 2, .ssthresh = 2};
        for (uint64_t j = 100; j <= 107; j++) {
            halo_cubic_cong_avoid(&c, &w, 1, spread ? j : 100, HZ);
            ASSERT_EQ(w.cwnd, 2);
        }
        ASSERT_EQ(c.cnt, 200); /* 100 x cwnd: the flat curve's rate */
        halo_cubic_cong_avoid(&c, &w, 1, spread ? 108 : 100, HZ);
        ASSERT_EQ(w.cwnd, spread ? 3 : 2);
        ASSERT_EQ(c.tcp_cwnd, spread ? 4 : 2); /* 9 ACKed: two steps of 3 past the first */
    }
}

/* Below W_max the curve climbs back toward it: cwnd 7 after a reduction from 10 has a target
   of 8 at the epoch's start (K = 1.96 s; the kernel's integer delta), a rate of 7 ACKs per
   segment. */
static void below_w_max_the_curve_climbs_back(void) {
    halo_cubic c;
    halo_cubic_reset(&c);
    ASSERT_EQ(halo_cubic_ssthresh(&c, 10), 7);
    halo_cubic_window w = {.cwnd = 7, .ssthresh = 7};
    halo_cubic_cong_avoid(&c, &w, 7, 100, HZ);
    ASSERT_EQ(c.origin_point, 10);
    ASSERT_NEAR(c.k / 1024.0, 1.96, 0.01);
    ASSERT_EQ(c.cnt, 7);
    ASSERT_EQ(w.cwnd, 8);
    ASSERT_EQ(w.cwnd_cnt, 0);
}

/* Idle time does not count on the curve: sending after an idle period moves the epoch's
   start forward by it (never past now); no epoch, no move. */
static void idle_time_moves_the_epoch(void) {
    halo_cubic c;
    halo_cubic_reset(&c);
    halo_cubic_tx_start(&c, 500, 100);
    ASSERT_EQ(c.epoch_start, 0);
    c.epoch_start = 100;
    halo_cubic_tx_start(&c, 150, 120);
    ASSERT_EQ(c.epoch_start, 130);
    halo_cubic_tx_start(&c, 400, 130);
    ASSERT_EQ(c.epoch_start, 400);
}

/* RTT samples: the least one, none within a second (HZ jiffies) of an epoch's start. */
static void rtt_samples_skip_the_first_second_of_an_epoch(void) {
    halo_cubic c;
    halo_cubic_reset(&c);
    halo_cubic_rtt_sample(&c, 300, 10, HZ);
    ASSERT_EQ(c.delay_min_us, 300);
    c.epoch_start = 100;
    halo_cubic_rtt_sample(&c, 50, 100 + HZ - 1, HZ);
    ASSERT_EQ(c.delay_min_us, 300);
    halo_cubic_rtt_sample(&c, 50, 100 + HZ, HZ);
    ASSERT_EQ(c.delay_min_us, 50);
    halo_cubic_rtt_sample(&c, 0, 100 + HZ, HZ);
    ASSERT_EQ(c.delay_min_us, 1);
    halo_cubic_reset(&c); /* a retransmission timeout */
    ASSERT_EQ(c.delay_min_us, 0);
    ASSERT_EQ(c.last_max_cwnd, 0);
}

TEST_MAIN(TEST(a_reduction_keeps_seven_tenths_and_remembers_w_max),
          TEST(slow_start_up_to_ssthresh_then_the_cubic_rate),
          TEST(the_window_stands_for_hz_over_32_after_a_reduction),
          TEST(below_w_max_the_curve_climbs_back), TEST(idle_time_moves_the_epoch),
          TEST(rtt_samples_skip_the_first_second_of_an_epoch))
