/*
 * Linux's CUBIC congestion window growth (net/ipv4/tcp_cubic.c, the kernel's default), for
 * the simulator's TCP model (sim/sim.c): the cubic curve W(t) = C (t - K)^3 + W_max in time
 * since the last reduction (C = 0.4 per second cubed, K the time to climb back to W_max),
 * the TCP-friendly estimate (about 0.53 segments per window acknowledged, cubic's Reno
 * emulation with beta 0.7), the cap of one segment per two acknowledged, and, what matters
 * on a LAN with frequent losses, the kernel's rate limit: the growth rate (`cnt`, segments
 * acknowledged per segment of growth) is recomputed only when the window changed or after
 * HZ / 32 jiffies (28 ms at HZ = 250), and a reduction starts a new epoch whose first rate is
 * the curve's slowest (100 x cwnd). A window reduced more often than every 28 ms therefore
 * barely grows above ssthresh (docs/kernel-tcp.md, "The cluster's windows").
 *
 * Integer arithmetic as in the kernel, in its units: windows in segments, time in jiffies
 * (the caller's tick), K and t in 1/1024 s. What it is not: HyStart (it acts from a window of
 * 16 segments in slow start, above what loss leaves here), the sender's cwnd-limited test
 * (tcp_is_cwnd_limited: the caller asks only when the window was the limit), undo, or the
 * window clamp.
 */
#ifndef HALO_SIM_CUBIC_H
#define HALO_SIM_CUBIC_H

#include <stdint.h>

/* struct bictcp: per-connection state; zeroed (halo_cubic_reset) at the start and after a
   retransmission timeout (the kernel's cubic state on entering the loss state). */
typedef struct halo_cubic {
    uint32_t cnt;           /* segments acknowledged per segment of window growth */
    uint32_t last_max_cwnd; /* W_max: the window before the last reduction (fast convergence) */
    uint32_t last_cwnd;     /* the window at the last full update */
    uint64_t last_time;     /* jiffies of the last full update */
    uint32_t origin_point;  /* the curve's plateau (W_max, or the window at the epoch's start) */
    uint32_t k;             /* time from the epoch's start to the plateau, 1/1024 s */
    uint32_t delay_min_us;  /* least RTT seen outside the first second of an epoch, 0: none */
    uint64_t epoch_start;   /* jiffies when the epoch began, 0: none (the next update starts one) */
    uint32_t ack_cnt;       /* segments acknowledged in the epoch, for the TCP-friendly estimate */
    uint32_t tcp_cwnd;      /* the TCP-friendly (Reno-like) window estimate */
} halo_cubic;

/* The sender's window as cubic changes it (snd_cwnd, snd_ssthresh, snd_cwnd_cnt). */
typedef struct halo_cubic_window {
    uint32_t cwnd;     /* segments, >= 1 */
    uint32_t ssthresh; /* segments */
    uint32_t cwnd_cnt; /* segments acknowledged toward the next +1 (congestion avoidance) */
} halo_cubic_window;

/* Clears the state (bictcp_reset): a new connection, or a retransmission timeout. */
void halo_cubic_reset(halo_cubic *c);

/*
 * A reduction (bictcp_recalc_ssthresh): ends the epoch, remembers W_max (with fast
 * convergence: below the previous W_max, remembers (1 + 0.7) / 2 of the window), and returns
 * the new ssthresh, max(cwnd * 717 / 1024, 2). The caller also zeroes its cwnd_cnt, as
 * tcp_init_cwnd_reduction and tcp_enter_loss do.
 */
uint32_t halo_cubic_ssthresh(halo_cubic *c, uint32_t cwnd);

/*
 * `acked` segments newly acknowledged while the window was the limit (bictcp_cong_avoid):
 * slow start up to ssthresh (tcp_slow_start), the rest by the cubic rate (bictcp_update,
 * tcp_cong_avoid_ai). now_j: the current jiffy (> 0); hz: jiffies per second (> 0).
 */
void halo_cubic_cong_avoid(halo_cubic *c, halo_cubic_window *w, uint32_t acked, uint64_t now_j,
                           uint32_t hz);

/* Data is sent with nothing in flight (CA_EVENT_TX_START): the epoch moves forward by the idle
   time since the last send, so that idle time does not count on the curve. */
void halo_cubic_tx_start(halo_cubic *c, uint64_t now_j, uint64_t last_send_j);

/* An RTT sample of rtt_us (bictcp_acked): the least one, skipping the first second (hz
   jiffies) of an epoch. */
void halo_cubic_rtt_sample(halo_cubic *c, uint64_t rtt_us, uint64_t now_j, uint32_t hz);

#endif /* HALO_SIM_CUBIC_H */
