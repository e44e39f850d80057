/*
 * Processor sharing of a host's memory bandwidth and cores (sim/hostshare.h): a small event loop
 * over one host's segments, from one change (a segment starts or ends) to the next.
 */
#include "sim/hostshare.h"

#include <math.h>

enum {
    WAITING = HALO_SHARE_WAITING, /* for the segment before it to end */
    PENDING = HALO_SHARE_PENDING,
    RUNNING = HALO_SHARE_RUNNING,
    ENDED = HALO_SHARE_ENDED
};

static int first_of_chain(const halo_share_seg *segs, int i) {
    return i == 0 || segs[i - 1].dev != segs[i].dev;
}

/* Placed: where a segment that starts now runs, given how many run on each core (Linux's wake
   placement: its last core if idle, else the first idle one, else its last core). */
static int place(const int *on_core, int cores, int home) {
    if (home < 0 || home >= cores)
        home = 0;
    if (on_core[home] == 0)
        return home;
    for (int c = 0; c < cores; c++)
        if (on_core[c] == 0)
            return c;
    return home;
}

/* Placed: a core idles while another runs two or more segments. */
static int imbalanced(const int *on_core, int cores) {
    int idle = 0, crowded = 0;
    for (int c = 0; c < cores; c++) {
        idle |= on_core[c] == 0;
        crowded |= on_core[c] >= 2;
    }
    return idle && crowded;
}

/* Placed, at a balance tick: while a core idles and another runs two or more, the segment
   with the most work left on the most crowded core (the first such core and segment on a tie)
   moves to the first idle core. */
static void balance(halo_share_seg *segs, int n, int *on_core, int cores) {
    for (;;) {
        int idle = -1, most = 0;
        for (int c = 0; c < cores; c++) {
            if (on_core[c] == 0 && idle < 0)
                idle = c;
            if (on_core[c] > on_core[most])
                most = c;
        }
        if (idle < 0 || on_core[most] < 2)
            return;
        int pick = -1;
        for (int i = 0; i < n; i++)
            if (segs[i].state == RUNNING && segs[i].core == most &&
                (pick < 0 || segs[i].left_ns > segs[pick].left_ns))
                pick = i;
        if (pick < 0) /* cannot be: on_core counts the running */
            return;
        segs[pick].core = idle;
        on_core[most]--;
        on_core[idle]++;
    }
}

/* Its time per unit of work alone, with what runs now: m running (shared), or on_core and
   busy cores (placed). */
static double slowdown(const halo_share_seg *g, int placed, int m, const int *on_core, int busy,
                       int max_m) {
    if (!placed)
        return g->ratio[m - 1];
    int b = busy < 1 ? 1 : (busy > max_m ? max_m : busy);
    return g->ratio[b - 1] * (double)on_core[g->core];
}

int halo_share_plan(halo_share_seg *segs, int n, int max_m, int cores, uint64_t balance_ns,
                    uint64_t base_ns, uint64_t until_ns) {
    if (max_m < 1)
        max_m = 1;
    if (max_m > HALO_SHARE_MAX)
        max_m = HALO_SHARE_MAX;
    int placed = cores >= 1 && cores <= HALO_SHARE_MAX_CORES;
    int on_core[HALO_SHARE_MAX_CORES] = {0};
    int ended = 0;
    for (int i = 0; i < n; i++) {
        if (first_of_chain(segs, i)) {
            segs[i].gap_ns = 0;
            segs[i].state = segs[i].start_ns <= base_ns ? RUNNING : PENDING;
            if (placed && segs[i].state == RUNNING && segs[i].core >= cores)
                segs[i].core = -1;
            if (placed && segs[i].state == RUNNING && segs[i].core >= 0)
                on_core[segs[i].core]++;
        } else {
            segs[i].gap_ns =
                segs[i].start_ns > segs[i - 1].end_ns ? segs[i].start_ns - segs[i - 1].end_ns : 0;
            segs[i].state = WAITING;
        }
    }
    for (int i = 0; placed && i < n; i++) /* running from the base, not placed yet */
        if (segs[i].state == RUNNING && segs[i].core < 0) {
            segs[i].core = place(on_core, cores, segs[i].home);
            on_core[segs[i].core]++;
        }
    double t = (double)base_ns, until = (double)until_ns;
    int keep_left = until_ns == UINT64_MAX;
    double tick = placed ? (double)balance_ns : 0;
    for (int i = 0; i < n; i++) {
        segs[i].kept_ns = segs[i].left_ns;
        segs[i].kept_core = segs[i].core;
    }
    for (;;) {
        int running = 0, busy = 0;
        for (int i = 0; i < n; i++)
            running += segs[i].state == RUNNING;
        for (int c = 0; placed && c < cores; c++)
            busy += on_core[c] > 0;
        int m = running < 1 ? 1 : (running > max_m ? max_m : running);
        for (int i = 0; i < n; i++)
            segs[i].kept_slow =
                segs[i].state == RUNNING ? slowdown(&segs[i], placed, m, on_core, busy, max_m) : 0;
        double next = HUGE_VAL;
        for (int i = 0; i < n; i++) {
            double at = segs[i].state == RUNNING   ? t + segs[i].left_ns * segs[i].kept_slow
                        : segs[i].state == PENDING ? (double)segs[i].start_ns
                                                   : HUGE_VAL;
            if (at < next)
                next = at;
        }
        if (next == HUGE_VAL)
            break;
        /* the next balance tick, while it would move something */
        double tick_at = HUGE_VAL;
        if (tick > 0 && imbalanced(on_core, cores)) {
            tick_at = (floor(t / tick) + 1) * tick;
            if (tick_at < next)
                next = tick_at;
        }
        if (next > until) { /* stop at until: the running keep what they still need */
            for (int i = 0; i < n; i++)
                if (segs[i].state == RUNNING)
                    segs[i].left_ns -= (until - t) / segs[i].kept_slow;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (segs[i].state != RUNNING)
                continue;
            if (t + segs[i].left_ns * segs[i].kept_slow == next) {
                segs[i].state = ENDED;
                segs[i].left_ns = 0;
                segs[i].end_ns = (uint64_t)llround(next);
                ended++;
                if (placed)
                    on_core[segs[i].core]--;
                if (i + 1 < n && !first_of_chain(segs, i + 1)) {
                    segs[i + 1].start_ns = segs[i].end_ns + segs[i + 1].gap_ns;
                    segs[i + 1].state = PENDING;
                    segs[i + 1].home = segs[i].core;
                }
            } else {
                segs[i].left_ns -= (next - t) / segs[i].kept_slow;
            }
        }
        t = next;
        for (int i = 0; i < n; i++)
            if (segs[i].state == PENDING && (double)segs[i].start_ns <= t) {
                segs[i].state = RUNNING;
                if (placed) {
                    segs[i].core = place(on_core, cores, segs[i].home);
                    on_core[segs[i].core]++;
                }
            }
        if (t == tick_at)
            balance(segs, n, on_core, cores);
    }
    for (int i = 0; keep_left && i < n; i++) {
        segs[i].left_ns = segs[i].kept_ns;
        if (tick > 0) /* moves at later ticks are planned again */
            segs[i].core = segs[i].kept_core;
    }
    return ended;
}
