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

int halo_share_plan(halo_share_seg *segs, int n, int max_m, uint64_t base_ns, uint64_t until_ns) {
    if (max_m < 1)
        max_m = 1;
    if (max_m > HALO_SHARE_MAX)
        max_m = HALO_SHARE_MAX;
    int ended = 0;
    for (int i = 0; i < n; i++) {
        if (first_of_chain(segs, i)) {
            segs[i].gap_ns = 0;
            segs[i].state = segs[i].start_ns <= base_ns ? RUNNING : PENDING;
        } else {
            segs[i].gap_ns =
                segs[i].start_ns > segs[i - 1].end_ns ? segs[i].start_ns - segs[i - 1].end_ns : 0;
            segs[i].state = WAITING;
        }
    }
    double t = (double)base_ns, until = (double)until_ns;
    int keep_left = until_ns == UINT64_MAX;
    for (int i = 0; i < n; i++)
        segs[i].kept_ns = segs[i].left_ns;
    for (;;) {
        int running = 0;
        for (int i = 0; i < n; i++)
            running += segs[i].state == RUNNING;
        int m = running < 1 ? 1 : (running > max_m ? max_m : running);
        double next = HUGE_VAL;
        for (int i = 0; i < n; i++) {
            double at = segs[i].state == RUNNING   ? t + segs[i].left_ns * segs[i].ratio[m - 1]
                        : segs[i].state == PENDING ? (double)segs[i].start_ns
                                                   : HUGE_VAL;
            if (at < next)
                next = at;
        }
        if (next == HUGE_VAL)
            break;
        if (next > until) { /* stop at until: the running keep what they still need */
            for (int i = 0; i < n; i++)
                if (segs[i].state == RUNNING)
                    segs[i].left_ns -= (until - t) / segs[i].ratio[m - 1];
            break;
        }
        for (int i = 0; i < n; i++) {
            if (segs[i].state != RUNNING)
                continue;
            if (t + segs[i].left_ns * segs[i].ratio[m - 1] == next) {
                segs[i].state = ENDED;
                segs[i].left_ns = 0;
                segs[i].end_ns = (uint64_t)llround(next);
                ended++;
                if (i + 1 < n && !first_of_chain(segs, i + 1)) {
                    segs[i + 1].start_ns = segs[i].end_ns + segs[i + 1].gap_ns;
                    segs[i + 1].state = PENDING;
                }
            } else {
                segs[i].left_ns -= (next - t) / segs[i].ratio[m - 1];
            }
        }
        t = next;
        for (int i = 0; i < n; i++)
            if (segs[i].state == PENDING && (double)segs[i].start_ns <= t)
                segs[i].state = RUNNING;
    }
    for (int i = 0; keep_left && i < n; i++)
        segs[i].left_ns = segs[i].kept_ns;
    return ended;
}
