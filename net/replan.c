/*
 * Runtime scheduling of a socket cluster (net/replan.h).
 */
#include "net/replan.h"

#include "core/sched.h"
#include "core/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 64

struct halo_replan {
    halo_replan_config cfg;
    halo_groups groups;
    halo_replan_device dev[HALO_MAX_DEVICES];  /* measured now */
    halo_replan_device used[HALO_MAX_DEVICES]; /* what the current plan was made with */
    uint8_t lossy[HALO_MAX_DEVICES];           /* lossy state, with hysteresis */
    uint8_t lossy_used[HALO_MAX_DEVICES];      /* in the current plan */
    int count[2][HALO_MAX_DEVICES];            /* current plan: groups per block and device */
    int have_plan;
    int last_token; /* position of the last plan */
    uint64_t penalty_ns;
    int n_events;
    halo_replan_event events[MAX_EVENTS];
};

int halo_replan_new(halo_replan **out, const halo_replan_config *cfg, halo_err *err) {
    *out = NULL;
    if (cfg->n_devices < 2 || cfg->n_devices > HALO_MAX_DEVICES || !cfg->model || !cfg->groups)
        return HALO_FAIL(err, HALO_ERR_ARG, "replan: %d devices, expected 2..%d", cfg->n_devices,
                         HALO_MAX_DEVICES);
    if (cfg->every_tokens < 0 || !(cfg->band >= 0) || !(cfg->lossy_rate >= 0) ||
        cfg->lossy_rate >= 1)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "replan: every_tokens %d, band %g, lossy_rate %g out of range",
                         cfg->every_tokens, cfg->band, cfg->lossy_rate);
    halo_replan *rp = calloc(1, sizeof *rp);
    if (!rp)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "replan: out of memory");
    rp->cfg = *cfg;
    rp->groups = *cfg->groups;
    rp->cfg.groups = &rp->groups;
    if (!rp->cfg.every_tokens)
        rp->cfg.every_tokens = 32;
    if (!(rp->cfg.band > 0))
        rp->cfg.band = 0.5;
    if (!(rp->cfg.lossy_rate > 0))
        rp->cfg.lossy_rate = 0.01;
    if (!rp->cfg.packet_bytes)
        rp->cfg.packet_bytes = 1336;
    rp->penalty_ns = 10000000;
    for (int d = 0; d < cfg->n_devices; d++)
        rp->dev[d].alive = 1;
    *out = rp;
    return HALO_OK;
}

void halo_replan_free(halo_replan *rp) {
    free(rp);
}

void halo_replan_set_device(halo_replan *rp, int d, int alive, double flops_per_s) {
    if (d < 0 || d >= rp->cfg.n_devices)
        return;
    rp->dev[d].alive = alive || d == 0;
    rp->dev[d].flops_per_s = flops_per_s;
}

void halo_replan_set_penalty(halo_replan *rp, uint64_t penalty_ns) {
    if (penalty_ns)
        rp->penalty_ns = penalty_ns;
}

/* ==== The problem ==== */

static double speed_of(const halo_replan *rp, int d) {
    double s = rp->dev[d].flops_per_s;
    if (s > 0 && isfinite(s))
        return s;
    s = rp->dev[0].flops_per_s;
    return s > 0 && isfinite(s) ? s : 1e9;
}

static uint64_t msg_bytes(const halo_replan *rp) {
    return 64 + 4 * (uint64_t)halo_model_get_config(rp->cfg.model)->dim;
}

#define LINK_BPS 1e9 /* not measured: the transmission term of a message is small beside RTTs */

/* Fills devices[0..k) for the alive devices map[0..k) and the problem over them. */
static int build_problem(const halo_replan *rp, halo_sched_device *sd, int *map, int *k_out,
                         halo_sched_problem *p, halo_err *err) {
    int k = 0;
    /* a worker whose round trip is not measured yet (it held no groups) is taken to be as
       far as the farthest measured one, not free */
    uint64_t known = 0;
    for (int d = 1; d < rp->cfg.n_devices; d++)
        if (rp->dev[d].alive && rp->dev[d].comm_ns > known)
            known = rp->dev[d].comm_ns;
    for (int d = 0; d < rp->cfg.n_devices; d++) {
        if (!rp->dev[d].alive)
            continue;
        double tx_ns = (double)msg_bytes(rp) * 8.0 / LINK_BPS * 1e9;
        uint64_t comm = rp->dev[d].comm_ns ? rp->dev[d].comm_ns : known;
        double lat = (double)comm / 2.0 - tx_ns;
        sd[k] = (halo_sched_device){.flops_per_s = speed_of(rp, d),
                                    .mem_bw_bps = 1e15, /* the probe's rate includes memory */
                                    .mem_bytes = 1ull << 50,
                                    .op_overhead_ns = 0,
                                    .link_bps = LINK_BPS,
                                    .link_latency_ns = lat > 0 ? (uint64_t)lat : 0,
                                    .loss = d ? rp->dev[d].loss : 0.0,
                                    .is_root = d == 0};
        map[k++] = d;
    }
    *k_out = k;
    const halo_model *m = rp->cfg.model;
    int rc = halo_sched_problem_init(p, halo_model_get_config(m), halo_model_weight_type(m),
                                     rp->groups.ffn_size, sd, k, err);
    if (rc == HALO_OK) {
        p->msg_bytes = msg_bytes(rp);
        p->packet_bytes = rp->cfg.packet_bytes;
        p->loss_penalty_ns = rp->penalty_ns;
    }
    return rc;
}

/* Per-group compute time of block b on device d at its probed speed, ns. */
static double group_ns(const halo_replan *rp, const halo_sched_problem *p, int b, int d) {
    halo_cost c;
    halo_sched_group_cost(p, b, &c);
    return c.flops / speed_of(rp, d) * 1e9;
}

void halo_replan_observe(halo_replan *rp, int d, const halo_node_link *link) {
    if (d <= 0 || d >= rp->cfg.n_devices)
        return;
    halo_sched_device sd[HALO_MAX_DEVICES];
    int map[HALO_MAX_DEVICES], k;
    halo_sched_problem p;
    if (build_problem(rp, sd, map, &k, &p, NULL) != HALO_OK)
        return;
    /* the round trip: each block kind's delay less the compute of the groups d held (the
       smaller of the two: the compute model errs on one side or the other) */
    double comm = -1;
    for (int b = 0; b < 2; b++) {
        if (!link->srtt_ns[b] || !rp->count[b][d])
            continue;
        double c = (double)link->srtt_ns[b] - rp->count[b][d] * group_ns(rp, &p, b, d);
        if (c < 0)
            c = 0;
        if (comm < 0 || c < comm)
            comm = c;
    }
    if (comm >= 0)
        rp->dev[d].comm_ns = comm > 1 ? (uint64_t)comm : 1;
}

void halo_replan_set_comm(halo_replan *rp, int d, uint64_t comm_ns) {
    if (d > 0 && d < rp->cfg.n_devices && d < HALO_MAX_DEVICES)
        rp->dev[d].comm_ns = comm_ns;
}

void halo_replan_set_loss(halo_replan *rp, int d, double loss) {
    if (d <= 0 || d >= rp->cfg.n_devices)
        return;
    rp->dev[d].loss = loss > 0 ? (loss < 0.99 ? loss : 0.99) : 0.0;
}

/* ==== Planning ==== */

static void split_text(int count[2][HALO_MAX_DEVICES], int n, char *buf, size_t cap) {
    size_t at = 0;
    buf[0] = '\0';
    for (int b = 0; b < 2; b++) {
        at += (size_t)snprintf(buf + at, at < cap ? cap - at : 0, "%s", b ? " ffn " : "attn ");
        for (int d = 0; d < n && at < cap; d++)
            at += (size_t)snprintf(buf + at, cap - at, d ? ",%d" : "%d", count[b][d]);
        if (at >= cap)
            return;
    }
}

void halo_replan_split(const halo_replan *rp, char *buf, size_t cap) {
    int count[2][HALO_MAX_DEVICES];
    memcpy(count, rp->count, sizeof count);
    split_text(count, rp->cfg.n_devices, buf, cap);
}

/* The lossy state of every device, with hysteresis (lossy above lossy_rate, clean below
   half of it). */
static void update_lossy(halo_replan *rp) {
    for (int d = 1; d < rp->cfg.n_devices; d++) {
        double f = rp->dev[d].loss;
        if (!rp->lossy[d] && f > rp->cfg.lossy_rate)
            rp->lossy[d] = 1;
        else if (rp->lossy[d] && f < rp->cfg.lossy_rate / 2)
            rp->lossy[d] = 0;
    }
}

/* The schedule with what is known now into count[][] (every device; dead ones 0), and its
   modelled time into *obj_ns. */
static int solve(const halo_replan *rp, int count[2][HALO_MAX_DEVICES], double *obj_ns,
                 halo_err *err) {
    halo_sched_device sd[HALO_MAX_DEVICES];
    int map[HALO_MAX_DEVICES], k;
    halo_sched_problem p;
    halo_sched_solution s = {0};
    int rc = build_problem(rp, sd, map, &k, &p, err);
    if (rc == HALO_OK)
        rc = halo_sched_solution_init(&s, k, err);
    if (rc == HALO_OK)
        rc = halo_sched_solve_heuristic(&p, &s, err);
    if (rc == HALO_OK) {
        /* critical placement: attention groups leave lossy links, one at a time to the
           non-lossy device whose modelled attention time grows least */
        for (int i = 1; i < k; i++) {
            if (!rp->lossy[map[i]])
                continue;
            while (s.n_groups[HALO_SCHED_ATTN][i] > 0) {
                int best = -1;
                double best_t = 0;
                for (int j = 0; j < k; j++) {
                    if (j == i || (j > 0 && rp->lossy[map[j]]))
                        continue;
                    double t = halo_sched_device_time_ns(&p, j, HALO_SCHED_ATTN,
                                                         s.n_groups[HALO_SCHED_ATTN][j] + 1);
                    if (best < 0 || t < best_t) {
                        best = j;
                        best_t = t;
                    }
                }
                if (best < 0)
                    break;
                s.n_groups[HALO_SCHED_ATTN][i]--;
                s.n_groups[HALO_SCHED_ATTN][best]++;
            }
        }
        memset(count, 0, 2 * HALO_MAX_DEVICES * sizeof(int));
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < k; i++)
                count[b][map[i]] = s.n_groups[b][i];
        *obj_ns = halo_sched_eval(&p, &s, NULL);
    }
    halo_sched_solution_free(&s);
    return rc;
}

/* The modelled time of split `count` under what is known now. */
static double obj_of(const halo_replan *rp, int count[2][HALO_MAX_DEVICES]) {
    halo_sched_device sd[HALO_MAX_DEVICES];
    int map[HALO_MAX_DEVICES], k;
    halo_sched_problem p;
    halo_sched_solution s = {0};
    double obj = HUGE_VAL;
    if (build_problem(rp, sd, map, &k, &p, NULL) == HALO_OK &&
        halo_sched_solution_init(&s, k, NULL) == HALO_OK) {
        int total[2] = {0, 0};
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < k; i++) {
                s.n_groups[b][i] = count[b][map[i]];
                total[b] += s.n_groups[b][i];
            }
        if (total[0] == p.groups.n_attn && total[1] == p.groups.n_ffn)
            obj = halo_sched_eval(&p, &s, NULL);
    }
    halo_sched_solution_free(&s);
    return obj;
}

static void adopt(halo_replan *rp, int count[2][HALO_MAX_DEVICES], int token, const char *reason) {
    int n = rp->cfg.n_devices;
    if (rp->have_plan) {
        halo_replan_event *e = &rp->events[rp->n_events % MAX_EVENTS];
        e->token = token;
        (void)snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
        split_text(rp->count, n, e->old_split, sizeof e->old_split);
        split_text(count, n, e->new_split, sizeof e->new_split);
        e->attn_moved = 0;
        for (int d = 0; d < n; d++)
            e->attn_moved |= count[HALO_SCHED_ATTN][d] != rp->count[HALO_SCHED_ATTN][d];
        rp->n_events++;
    }
    memcpy(rp->count, count, sizeof rp->count);
    memcpy(rp->used, rp->dev, sizeof rp->used);
    memcpy(rp->lossy_used, rp->lossy, sizeof rp->lossy_used);
    rp->have_plan = 1;
    rp->last_token = token;
}

int halo_replan_plan(halo_replan *rp, int token, const char *reason, halo_err *err) {
    int count[2][HALO_MAX_DEVICES];
    double obj;
    update_lossy(rp);
    int rc = solve(rp, count, &obj, err);
    if (rc != HALO_OK)
        return rc;
    if (rp->have_plan && memcmp(count, rp->count, sizeof rp->count) == 0) {
        memcpy(rp->used, rp->dev, sizeof rp->used);
        memcpy(rp->lossy_used, rp->lossy, sizeof rp->lossy_used);
        rp->last_token = token;
        return HALO_OK;
    }
    adopt(rp, count, token, reason);
    return HALO_OK;
}

static int drifted(double now, double then, double band, double floor_abs) {
    double diff = fabs(now - then);
    return diff > floor_abs && diff > band * (then > 0 ? then : 0);
}

int halo_replan_check(halo_replan *rp, int token, int *changed, halo_err *err) {
    *changed = 0;
    if (!rp->have_plan || token - rp->last_token < rp->cfg.every_tokens)
        return HALO_OK;
    update_lossy(rp);
    char reason[sizeof rp->events[0].reason];
    size_t at = 0;
    reason[0] = '\0';
    int loss_changed = 0, drift = 0;
    for (int d = 1; d < rp->cfg.n_devices; d++) {
        if (rp->lossy[d] != rp->lossy_used[d]) {
            loss_changed = 1;
            halo_text_appendf(reason, sizeof reason, &at,
                              "%sdevice %d's link %s (%.1f%% of its frames lost)", at ? "; " : "",
                              d, rp->lossy[d] ? "turned lossy" : "is clean",
                              100.0 * rp->dev[d].loss);
            continue;
        }
        if (!rp->dev[d].alive)
            continue;
        if (drifted(rp->dev[d].flops_per_s, rp->used[d].flops_per_s, rp->cfg.band, 0)) {
            drift = 1;
            halo_text_appendf(reason, sizeof reason, &at, "%sdevice %d's speed %.3g -> %.3g flop/s",
                              at ? "; " : "", d, rp->used[d].flops_per_s, rp->dev[d].flops_per_s);
        } else if (drifted((double)rp->dev[d].comm_ns, (double)rp->used[d].comm_ns, rp->cfg.band,
                           100000.0)) {
            drift = 1;
            halo_text_appendf(reason, sizeof reason, &at,
                              "%sdevice %d's round trip %.3f -> %.3f ms", at ? "; " : "", d,
                              (double)rp->used[d].comm_ns / 1e6, (double)rp->dev[d].comm_ns / 1e6);
        }
    }
    if (!loss_changed && !drift)
        return HALO_OK;
    int count[2][HALO_MAX_DEVICES];
    double obj;
    int rc = solve(rp, count, &obj, err);
    if (rc != HALO_OK)
        return rc;
    if (!loss_changed) {
        /* a drift moves FFN groups only: they hold no state, while moved attention groups
           need the sequence recomputed for their KV caches (a cost growing with the position
           that a drift of a round trip does not repay). The two blocks' times add up with
           no coupling (memory is not modelled), so the solved FFN counts stay optimal. */
        memcpy(count[HALO_SCHED_ATTN], rp->count[HALO_SCHED_ATTN], sizeof count[0]);
        obj = obj_of(rp, count);
    }
    int cur_count[2][HALO_MAX_DEVICES];
    memcpy(cur_count, rp->count, sizeof cur_count);
    double cur = obj_of(rp, cur_count);
    int same = memcmp(count, rp->count, sizeof rp->count) == 0;
    int worth = loss_changed || !(obj * (1.0 + rp->cfg.band) >= cur);
    if (same || !worth) {
        /* nothing better: these measurements are the new reference (no re-plan) */
        memcpy(rp->used, rp->dev, sizeof rp->used);
        memcpy(rp->lossy_used, rp->lossy, sizeof rp->lossy_used);
        rp->last_token = token;
        return HALO_OK;
    }
    if (!loss_changed)
        halo_text_appendf(reason, sizeof reason, &at, "; modelled %.3f -> %.3f ms per layer",
                          cur / 1e6, obj / 1e6);
    adopt(rp, count, token, reason);
    *changed = 1;
    return HALO_OK;
}

int halo_replan_placement(const halo_replan *rp, halo_placement *out, halo_err *err) {
    halo_sched_solution s = {0};
    int n = rp->cfg.n_devices;
    int rc = halo_sched_solution_init(&s, n, err);
    if (rc == HALO_OK) {
        for (int b = 0; b < 2; b++)
            for (int d = 0; d < n; d++)
                s.n_groups[b][d] = rp->count[b][d];
        rc = halo_sched_to_placement(&s, &rp->groups, out, err);
    }
    halo_sched_solution_free(&s);
    return rc;
}

int halo_replan_count(const halo_replan *rp, int block, int d) {
    if (block < 0 || block > 1 || d < 0 || d >= rp->cfg.n_devices)
        return 0;
    return rp->count[block][d];
}

int halo_replan_count_events(const halo_replan *rp) {
    return rp->n_events;
}

const halo_replan_event *halo_replan_event_at(const halo_replan *rp, int i) {
    if (i < 0 || i >= rp->n_events || i < rp->n_events - MAX_EVENTS)
        return NULL;
    return &rp->events[i % MAX_EVENTS];
}
