/*
 * The memory bandwidth and cores of a host shared over time by its devices' compute segments
 * (issue 13): processor sharing. While m segments of one host run at once, each runs at
 * 1 / ratio[m - 1] of its speed alone (its time with the host's bandwidth split m ways, and
 * beyond its cores with a share of a core, over its time alone; sim/sim.c share_ratios),
 * so a segment that overlaps another is slowed only while they overlap, and both are: the
 * real host slows the device that started first as much as the one that started second.
 *
 * A device's segments form a chain: each later one starts a fixed gap after the one before
 * it ends (the device's system calls and waits between them), so a delay moves the rest of
 * the chain. The simulator plans a host's segments again whenever one is added and moves
 * every event of a device that the new plan delays (sim/sim.c).
 *
 * Where the host's cores are placed (`core_placement: wake`), each segment runs on one core
 * at a time, chosen when it starts as Linux places a task it wakes: the core it last ran on
 * when that core is idle, else the first idle core, else the core it last ran on; segments on
 * one core share it (k on a core run at 1 / k of a core), and the bandwidth is split among
 * the cores that are busy. A host with fewer devices busy than cores can so have two on one
 * core while another core idles, until one of them ends, or, with a balance tick
 * (`core_balance_ms`), until the next tick: at every multiple of the tick (absolute time, the
 * scheduler tick of Linux's periodic and idle balancing), while a core idles and another runs
 * two or more segments, the one of those with the most work left moves to the idle core, as
 * Linux's idle balancing pulls a waiting task (docs/ground-truth.md, "A balance tick for the
 * host's cores").
 */
#ifndef HALO_SIM_HOSTSHARE_H
#define HALO_SIM_HOSTSHARE_H

#include <stdint.h>

/* A segment's state in halo_share_plan (its scratch .state). */
enum {
    HALO_SHARE_WAITING,
    HALO_SHARE_PENDING,
    HALO_SHARE_RUNNING,
    HALO_SHARE_ENDED
};

/* The most devices of one host whose speeds at once a segment knows; more are as slow. */
#define HALO_SHARE_MAX 16

/* The most cores a placed plan places on (a host with more is planned as shared). */
#define HALO_SHARE_MAX_CORES 64

typedef struct halo_share_seg {
    int dev;           /* its device (a chain): a plan's segments are sorted by device, then time */
    uint64_t start_ns; /* planned start */
    uint64_t end_ns;   /* planned end */
    double left_ns;    /* time alone it still needs at max(start_ns, the plan's base) */
    double ratio[HALO_SHARE_MAX]; /* ratio[m - 1]: its time with m at once over its time alone
                                     (placed: with m cores busy, the bandwidth alone) */
    int home;      /* placed: the core its device last ran on, for the first segment of a chain
                      that has not started (the planner sets it for the later ones) */
    int core;      /* placed: the core it runs on, set when it starts (one running at the base keeps
                      its own; -1: not placed yet, placed at the base); a balance tick may move it */
    int kept_core; /* the planner's scratch */
    uint64_t gap_ns;  /* the planner's scratch */
    double kept_ns;   /* the planner's scratch */
    double kept_slow; /* the planner's scratch */
    int state;        /* the planner's state of it (HALO_SHARE_*) */
    long tag;         /* the caller's, carried along (sim/sim.c: its trace event, -1 none) */
} halo_share_seg;

/*
 * Plans segs[0..n) from base_ns, with at most max_m (1..HALO_SHARE_MAX) running at once at
 * the shared speed (more than max_m run at max_m's). cores 0: shared, ratio[] is the whole
 * slowdown; cores 1..HALO_SHARE_MAX_CORES: placed on that many cores (above), ratio[] is
 * indexed by the busy cores (at most max_m) and times the segments on its core; balance_ns > 0
 * (placed only): the balance tick above, 0 never. A device's first
 * segment starts at its start_ns (or at base_ns, running, when start_ns <= base_ns); each later one
 * starts as long after the previous one's end as the plan it is given says (start_ns - previous
 * end_ns). Runs until until_ns (UINT64_MAX: until every segment has ended) and sets end_ns of every
 * segment that ended by then, start_ns of every one that started and .state (ENDED for those
 * that ended); with a finite until_ns, left_ns of every one still running becomes what it
 * needs at until_ns, while a plan to the end leaves every left_ns as it was, so the same
 * segments can be planned again from the same base. Returns how many had ended by until_ns.
 */
int halo_share_plan(halo_share_seg *segs, int n, int max_m, int cores, uint64_t balance_ns,
                    uint64_t base_ns, uint64_t until_ns);

#endif /* HALO_SIM_HOSTSHARE_H */
