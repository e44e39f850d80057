/*
 * CUBIC window growth as Linux computes it (net/ipv4/tcp_cubic.c, 6.x; sim/cubic.h says what
 * is and is not modelled). The constants are the kernel's module defaults: beta 717/1024,
 * bic_scale 41 (C = 0.4), fast convergence and TCP friendliness on.
 */
#include "sim/cubic.h"

#include <string.h>

enum {
    BETA = 717,          /* multiplicative decrease, 1/1024 */
    BETA_SCALE = 1024,   /* BICTCP_BETA_SCALE */
    BIC_SCALE = 41,      /* C, 1/1024 */
    CUBIC_HZ_SHIFT = 10, /* BICTCP_HZ: curve time in 1/1024 s */
};

/* beta_scale = 8 * (1024 + 717) / 3 / (1024 - 717) = 15 (integer steps, as the kernel) */
#define FRIENDLY_SCALE ((8u * (BETA_SCALE + BETA) / 3u) / (BETA_SCALE - BETA))
/* cube_rtt_scale = bic_scale * 10 (1024 * C / rtt for the 100 ms reference RTT) */
#define CUBE_RTT_SCALE ((uint64_t)BIC_SCALE * 10u)
/* cube_factor = 2^40 / (bic_scale * 10) */
#define CUBE_FACTOR    ((1ull << (10 + 3 * CUBIC_HZ_SHIFT)) / CUBE_RTT_SCALE)

void halo_cubic_reset(halo_cubic *c) {
    memset(c, 0, sizeof *c);
}

/* floor(cbrt(a)) (the kernel's cubic_root is a table and one Newton step, within 0.2%) */
static uint32_t cube_root(uint64_t a) {
    uint64_t lo = 0, hi = 2642245; /* 2642245^3 < 2^64 */
    while (lo < hi) {
        uint64_t mid = (lo + hi + 1) / 2;
        if (mid * mid * mid <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    return (uint32_t)lo;
}

uint32_t halo_cubic_ssthresh(halo_cubic *c, uint32_t cwnd) {
    c->epoch_start = 0;
    if (cwnd < c->last_max_cwnd) /* fast convergence */
        c->last_max_cwnd = (uint32_t)(((uint64_t)cwnd * (BETA_SCALE + BETA)) / (2 * BETA_SCALE));
    else
        c->last_max_cwnd = cwnd;
    uint32_t t = (uint32_t)(((uint64_t)cwnd * BETA) / BETA_SCALE);
    return t > 2 ? t : 2;
}

static uint64_t usecs_to_jiffies(uint64_t us, uint32_t hz) {
    return (us * hz + 999999) / 1000000; /* rounded up */
}

/* bictcp_update: the rate (c->cnt) for the current window. */
static void update(halo_cubic *c, uint32_t cwnd, uint32_t acked, uint64_t now_j, uint32_t hz) {
    c->ack_cnt += acked;
    if (c->last_cwnd == cwnd && now_j - c->last_time <= hz / 32)
        return; /* at most one update per HZ / 32 while the window stands still */
    if (!(c->epoch_start && now_j == c->last_time)) {
        c->last_cwnd = cwnd;
        c->last_time = now_j;
        if (c->epoch_start == 0) {
            c->epoch_start = now_j;
            c->ack_cnt = acked;
            c->tcp_cwnd = cwnd;
            if (c->last_max_cwnd <= cwnd) {
                c->k = 0;
                c->origin_point = cwnd;
            } else {
                c->k = cube_root(CUBE_FACTOR * (uint64_t)(c->last_max_cwnd - cwnd));
                c->origin_point = c->last_max_cwnd;
            }
        }
        uint64_t t = now_j - c->epoch_start + usecs_to_jiffies(c->delay_min_us, hz);
        t = (t << CUBIC_HZ_SHIFT) / hz;
        uint64_t offs = t < c->k ? c->k - t : t - c->k;
        if (offs > (1u << 17)) /* 128 s from the plateau: keeps offs^3 * 410 within 64 bits */
            offs = 1u << 17;
        uint64_t delta = (CUBE_RTT_SCALE * offs * offs * offs) >> (10 + 3 * CUBIC_HZ_SHIFT);
        uint64_t target;
        if (t < c->k)
            target = delta < c->origin_point ? c->origin_point - delta : 0;
        else
            target = c->origin_point + delta;
        if (target > cwnd)
            c->cnt = (uint32_t)(cwnd / (target - cwnd));
        else
            c->cnt = 100 * cwnd; /* a very small increment */
        if (c->last_max_cwnd == 0 && c->cnt > 20)
            c->cnt = 20; /* no W_max yet: 5% per window */
    }
    /* TCP friendliness: never slower than Reno with cubic's beta */
    uint32_t d = (cwnd * FRIENDLY_SCALE) >> 3;
    if (d == 0)
        d = 1;
    while (c->ack_cnt > d) {
        c->ack_cnt -= d;
        c->tcp_cwnd++;
    }
    if (c->tcp_cwnd > cwnd) {
        uint32_t max_cnt = cwnd / (c->tcp_cwnd - cwnd);
        if (c->cnt > max_cnt)
            c->cnt = max_cnt;
    }
    if (c->cnt < 2)
        c->cnt = 2; /* at most one segment per two acknowledged */
}

/* tcp_cong_avoid_ai: +1 segment per w acknowledged */
static void cong_avoid_ai(halo_cubic_window *w, uint32_t cnt, uint32_t acked) {
    if (w->cwnd_cnt >= cnt) { /* credits from a higher cnt: applied gently */
        w->cwnd_cnt = 0;
        w->cwnd++;
    }
    w->cwnd_cnt += acked;
    if (w->cwnd_cnt >= cnt) {
        uint32_t delta = w->cwnd_cnt / cnt;
        w->cwnd_cnt -= delta * cnt;
        w->cwnd += delta;
    }
}

void halo_cubic_cong_avoid(halo_cubic *c, halo_cubic_window *w, uint32_t acked, uint64_t now_j,
                           uint32_t hz) {
    if (w->cwnd < w->ssthresh) { /* tcp_slow_start */
        uint32_t room = w->ssthresh - w->cwnd;
        uint32_t grow = acked < room ? acked : room;
        w->cwnd += grow;
        acked -= grow;
        if (acked == 0)
            return;
    }
    update(c, w->cwnd, acked, now_j, hz);
    cong_avoid_ai(w, c->cnt, acked);
}

void halo_cubic_tx_start(halo_cubic *c, uint64_t now_j, uint64_t last_send_j) {
    if (c->epoch_start && now_j > last_send_j) {
        c->epoch_start += now_j - last_send_j;
        if (c->epoch_start > now_j)
            c->epoch_start = now_j;
    }
}

void halo_cubic_rtt_sample(halo_cubic *c, uint64_t rtt_us, uint64_t now_j, uint32_t hz) {
    if (c->epoch_start && now_j - c->epoch_start < hz)
        return; /* right after a reduction */
    uint32_t d = rtt_us == 0 ? 1 : rtt_us > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt_us;
    if (c->delay_min_us == 0 || c->delay_min_us > d)
        c->delay_min_us = d;
}
