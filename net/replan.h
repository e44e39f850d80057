/*
 * Runtime scheduling of a socket cluster (issue 15, `engine.placement: scheduled`): the
 * root's load-balancing scheduler (core/sched.h, the one the engine runs for simulated
 * worlds) fed with what the root measures instead of device profiles, and the rule for when
 * to run it again.
 *
 * What is measured (by the caller, net/root.c):
 *  - each device's speed: the probe at join (net/probe.h), flop/s on real compute;
 *  - each worker's round trip: from the root node's sync machinery (halo_node_get_link), the
 *    smoothed delay from broadcast to contribution per block kind less the modelled compute
 *    of the groups the device holds at its probed speed;
 *  - each worker's loss: the gaps in the sequence numbers of the frames the root receives
 *    from it (halo_net_peer_rx), over windows of at least 256 frames. Only the direction
 *    worker -> root is seen; the link is taken to lose as much the other way. Unlike a count
 *    of repeated requests, a worker that is merely slow (descheduled on a busy host) makes no
 *    gap.
 *
 * The schedule: the scheduler's heuristic over the alive devices with those speeds, round
 * trips (a worker not measured yet: the largest measured one) and losses (penalty of a lost
 * exchange: what the caller says, the deadline under relaxed sync), and one rule of HALO's critical
 * placement on top: a device whose link is lossy (frame loss above `lossy_rate`) holds no attention
 * group. Attention groups are pinned to their devices by their KV caches and awaited at every sync
 * (the importance hook moves only FFN groups per sync), so each of their lost exchanges costs a
 * deadline; they go to the non-lossy device whose modelled time grows least.
 *
 * The re-plan rule (hysteresis, bounded rate): at a token boundary, at most once every
 * `every_tokens` tokens, the measurements are compared with those the current plan was made
 * with. A re-plan happens when a link turned lossy or clean (frame loss above `lossy_rate`,
 * clean again below half of it), or when a speed or a round trip drifted by more than `band`
 * (relative; round trips by at least 100 us) and the new schedule's modelled time is better
 * than the current one's by more than `band` as well; a new schedule equal to the current one
 * is no re-plan. A drift moves FFN groups only (they hold no state); attention groups, whose
 * KV caches make a move cost a recomputation of the sequence so far, move when a link turns
 * lossy or clean and when the membership changes. Membership changes (a lost or rejoined worker)
 * always plan again. Each re-plan is kept as an event (token, reason, old and new split).
 *
 * Not here: applying a plan (net/root.c sets the placement at a token boundary and
 * recomputes the sequence when attention groups moved), the measurements themselves.
 */
#ifndef HALO_NET_REPLAN_H
#define HALO_NET_REPLAN_H

#include "core/model.h"
#include "core/node.h"
#include "core/plan.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct halo_replan_config {
    const halo_model *model;   /* borrowed; outlives the object */
    const halo_groups *groups; /* copied */
    int n_devices;             /* root included, 2..HALO_MAX_DEVICES */
    int every_tokens;          /* at most one re-plan per this many tokens; 0 = 32 */
    double band;               /* hysteresis (relative drift and gain); 0 = 0.5 */
    double lossy_rate;         /* frame loss that makes a link lossy; 0 = 0.01 */
    uint64_t packet_bytes;     /* payload per datagram; 0 = 1336 (UDP, 1400-byte MTU) */
} halo_replan_config;

/* What is known of one device. */
typedef struct halo_replan_device {
    int alive;          /* in the cluster now (the root always) */
    double flops_per_s; /* probed speed, > 0 (0: unknown, the root's is used) */
    uint64_t comm_ns;   /* measured round trip of one exchange without compute; 0: unknown */
    double loss;        /* measured frame loss of its link, [0, 1) */
} halo_replan_device;

/* One re-plan. */
typedef struct halo_replan_event {
    int token;                           /* tokens run before the new split applied (the
                                            position, in one sequence from 0) */
    char reason[256];                    /* what drifted (cut at 255 bytes) */
    char old_split[192], new_split[192]; /* "attn 2,1,1,0 ffn 2,2,1,1": groups per device */
    int attn_moved; /* attention groups changed device (KV caches must be rebuilt) */
} halo_replan_event;

typedef struct halo_replan halo_replan;

/* Errors: HALO_ERR_ARG (counts, settings), HALO_ERR_NOMEM. */
int halo_replan_new(halo_replan **out, const halo_replan_config *cfg, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_replan_free(halo_replan *rp);

/* Device d is in the cluster (alive) with probed speed flops_per_s (0: unknown, the root's
   is used); its link's measurements are kept. The root is always alive. */
void halo_replan_set_device(halo_replan *rp, int d, int alive, double flops_per_s);

/* The measurement of device d's link from the root node (halo_node_get_link): updates its
   comm_ns (the delay less the modelled compute of its current groups). */
void halo_replan_observe(halo_replan *rp, int d, const halo_node_link *link);

/* Device d's round trip without compute, measured otherwise (ping at join), ns. */
void halo_replan_set_comm(halo_replan *rp, int d, uint64_t comm_ns);

/* Device d's measured frame loss (clamped to [0, 0.99]). */
void halo_replan_set_loss(halo_replan *rp, int d, double loss);

/* The penalty of one failed exchange, ns (the relaxed deadline, a strict RTO); default
   10 ms. */
void halo_replan_set_penalty(halo_replan *rp, uint64_t penalty_ns);

/*
 * Plans from scratch with what is known now (initial plan, membership change) and adopts
 * the result; `token` and `reason` (borrowed) go into the event when a plan existed
 * before. Errors: HALO_ERR_ARG (no schedule fits), HALO_ERR_NOMEM.
 */
int halo_replan_plan(halo_replan *rp, int token, const char *reason, halo_err *err);

/*
 * The re-plan rule at the boundary before position `token` (above): *changed = 1 when a new
 * plan was adopted (its event is the last one). Errors: those of halo_replan_plan.
 */
int halo_replan_check(halo_replan *rp, int token, int *changed, halo_err *err);

/* The current plan as a placement (initialised here; free with halo_placement_free).
   Errors: HALO_ERR_NOMEM. */
int halo_replan_placement(const halo_replan *rp, halo_placement *out, halo_err *err);

/* Groups of `block` (enum halo_sched_block) device d holds in the current plan. */
int halo_replan_count(const halo_replan *rp, int block, int d);

/* The current split as text ("attn 2,1,1,0 ffn 2,2,1,1") into buf (cap bytes). */
void halo_replan_split(const halo_replan *rp, char *buf, size_t cap);

/* Re-plans so far (the initial plan is not one) and the i-th of the last 64 (i from 0;
   older ones are dropped: event i of n is halo_replan_event_at(rp, i) for i >= n - 64). */
int halo_replan_count_events(const halo_replan *rp);
const halo_replan_event *halo_replan_event_at(const halo_replan *rp, int i);

#endif /* HALO_NET_REPLAN_H */
