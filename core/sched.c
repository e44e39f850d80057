/*
 * The load-balancing scheduler: cost model, evaluation, placement building and the
 * heuristic solver. See sched.h for the model and docs/scheduler.md for the algorithm.
 */
#include "core/sched.h"

#include "core/arena.h"
#include "core/wire.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024.0 * 1024.0)

/* ==== Problem ==== */

int halo_sched_problem_init(halo_sched_problem *p, const halo_model_config *cfg, int weight_type,
                            int ffn_size, const halo_sched_device *devices, int n_devices,
                            halo_err *err) {
    memset(p, 0, sizeof *p);
    if (weight_type < 0 || weight_type >= HALO_WEIGHT_TYPE_COUNT_)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched: weight type %d, expected 0..%d", weight_type,
                         HALO_WEIGHT_TYPE_COUNT_ - 1);
    if (n_devices < 1 || n_devices > HALO_MAX_DEVICES || !devices)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched: %d devices, expected 1..%d", n_devices,
                         HALO_MAX_DEVICES);
    int rc = halo_groups_init(&p->groups, cfg, ffn_size, err);
    if (rc != HALO_OK)
        return rc;
    p->n_devices = n_devices;
    p->devices = devices;
    p->cfg = *cfg;
    p->weight_type = weight_type;
    p->msg_bytes = HALO_WIRE_HEADER_BYTES + 4 * (uint64_t)cfg->dim;
    p->packet_bytes = 1448;
    p->loss_penalty_ns = 200000000;
    p->n_layers = cfg->n_layers;
    p->kv_bytes = 2 * (uint64_t)cfg->seq_len * (uint64_t)p->groups.head_size * 4;
    p->ctx_positions = cfg->seq_len / 2;
    return HALO_OK;
}

static int bad_rate(double v) {
    return !(v > 0.0) || !isfinite(v);
}

int halo_sched_problem_check(const halo_sched_problem *p, halo_err *err) {
    if (p->n_devices < 1 || p->n_devices > HALO_MAX_DEVICES || !p->devices)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched: %d devices, expected 1..%d", p->n_devices,
                         HALO_MAX_DEVICES);
    if (p->weight_type < 0 || p->weight_type >= HALO_WEIGHT_TYPE_COUNT_)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched: weight type %d, expected 0..%d", p->weight_type,
                         HALO_WEIGHT_TYPE_COUNT_ - 1);
    halo_err e = {0};
    if (halo_model_config_check(&p->cfg, "sched problem", &e) != HALO_OK)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s", e.msg);
    halo_groups g;
    if (halo_groups_init(&g, &p->cfg, p->groups.ffn_size, &e) != HALO_OK)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched problem: %s", e.msg);
    if (memcmp(&g, &p->groups, sizeof g) != 0)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "sched problem: group geometry (%d attention, %d ffn groups of %d) does "
                         "not match the model (%d, %d of %d)",
                         p->groups.n_attn, p->groups.n_ffn, p->groups.ffn_size, g.n_attn, g.n_ffn,
                         g.ffn_size);
    if (p->n_layers < 1)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched problem: n_layers %d, expected >= 1",
                         p->n_layers);
    if (p->packet_bytes < 1)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched problem: packet_bytes 0, expected >= 1");
    if (p->ctx_positions < 0)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched problem: ctx_positions %d, expected >= 0",
                         p->ctx_positions);
    for (int d = 0; d < p->n_devices; d++) {
        const halo_sched_device *v = &p->devices[d];
        if (bad_rate(v->flops_per_s))
            return HALO_FAIL(err, HALO_ERR_ARG, "sched: device %d: flops_per_s %g, expected > 0", d,
                             v->flops_per_s);
        if (bad_rate(v->mem_bw_bps))
            return HALO_FAIL(err, HALO_ERR_ARG, "sched: device %d: mem_bw_bps %g, expected > 0", d,
                             v->mem_bw_bps);
        if (!v->is_root && bad_rate(v->link_bps))
            return HALO_FAIL(err, HALO_ERR_ARG, "sched: device %d: link_bps %g, expected > 0", d,
                             v->link_bps);
        if (!(v->loss >= 0.0 && v->loss < 1.0))
            return HALO_FAIL(err, HALO_ERR_ARG, "sched: device %d: loss %g, expected [0, 1)", d,
                             v->loss);
    }
    return HALO_OK;
}

/* ==== Cost model ==== */

void halo_sched_group_cost(const halo_sched_problem *p, int block, halo_cost *out) {
    double dim = p->cfg.dim, hs = p->groups.head_size, kv_mul = p->groups.kv_mul;
    double wb = halo_weight_bytes(p->weight_type);
    if (block == HALO_SCHED_ATTN) {
        /* As core/node.c's charge_attn for one group: q, k, v rows, output columns, and the
         * attention over ctx_positions cached positions. */
        double rows = (kv_mul + 2.0) * hs, cols = kv_mul * hs, ctx = p->ctx_positions;
        out->flops = 2.0 * rows * dim + 4.0 * kv_mul * hs * ctx + 2.0 * dim * cols;
        out->bytes = wb * (rows * dim + dim * cols) + 4.0 * 2.0 * hs * ctx;
        out->ops = 4;
    } else {
        double g = p->groups.ffn_size;
        out->flops = 6.0 * g * dim;
        out->bytes = wb * 3.0 * g * dim;
        out->ops = 3;
    }
}

uint64_t halo_sched_group_bytes(const halo_sched_problem *p, int block) {
    double dim = p->cfg.dim, hs = p->groups.head_size, kv_mul = p->groups.kv_mul;
    double wb = halo_weight_bytes(p->weight_type);
    double weights = block == HALO_SCHED_ATTN ? ((kv_mul + 2.0) * hs * dim + dim * kv_mul * hs)
                                              : 3.0 * (double)p->groups.ffn_size * dim;
    uint64_t per_layer = (uint64_t)ceil(wb * weights);
    if (block == HALO_SCHED_ATTN)
        per_layer += p->kv_bytes;
    return per_layer * (uint64_t)p->n_layers;
}

double halo_sched_comm_ns(const halo_sched_problem *p, int device) {
    const halo_sched_device *v = &p->devices[device];
    if (v->is_root)
        return 0.0;
    double packets = ceil((double)p->msg_bytes / (double)p->packet_bytes);
    if (packets < 1)
        packets = 1;
    double one_way = (double)v->link_latency_ns + (double)p->msg_bytes * 8.0 / v->link_bps * 1e9;
    double p_loss = 1.0 - pow(1.0 - v->loss, 2.0 * packets);
    return 2.0 * one_way + p_loss * (double)p->loss_penalty_ns;
}

void halo_sched_coeffs(const halo_sched_problem *p, int device, int block, double *fixed_ns,
                       double *per_group_ns) {
    const halo_sched_device *v = &p->devices[device];
    halo_cost c;
    halo_sched_group_cost(p, block, &c);
    double compute = c.flops / v->flops_per_s, memory = c.bytes / v->mem_bw_bps;
    *per_group_ns = (compute > memory ? compute : memory) * 1e9;
    *fixed_ns = c.ops * (double)v->op_overhead_ns + halo_sched_comm_ns(p, device);
}

double halo_sched_device_time_ns(const halo_sched_problem *p, int device, int block, int n) {
    if (n <= 0)
        return 0.0;
    double fixed, per;
    halo_sched_coeffs(p, device, block, &fixed, &per);
    return fixed + per * n;
}

/* ==== Solutions ==== */

int halo_sched_solution_init(halo_sched_solution *s, int n_devices, halo_err *err) {
    memset(s, 0, sizeof *s);
    if (n_devices < 1 || n_devices > HALO_MAX_DEVICES)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched: %d devices, expected 1..%d", n_devices,
                         HALO_MAX_DEVICES);
    s->n_devices = n_devices;
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        s->n_groups[k] = calloc((size_t)n_devices, sizeof *s->n_groups[k]);
        if (!s->n_groups[k]) {
            halo_sched_solution_free(s);
            return HALO_FAIL(err, HALO_ERR_NOMEM, "sched: out of memory");
        }
    }
    return HALO_OK;
}

void halo_sched_solution_free(halo_sched_solution *s) {
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        free(s->n_groups[k]);
        s->n_groups[k] = NULL;
    }
}

double halo_sched_eval(const halo_sched_problem *p, const halo_sched_solution *s,
                       double *block_ns) {
    double total = 0;
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        double t = 0;
        for (int d = 0; d < p->n_devices; d++) {
            double v = halo_sched_device_time_ns(p, d, k, s->n_groups[k][d]);
            if (v > t)
                t = v;
        }
        if (block_ns)
            block_ns[k] = t;
        total += t;
    }
    return total;
}

static const char *block_name(int k) {
    return k == HALO_SCHED_ATTN ? "attention" : "ffn";
}

static int block_groups(const halo_groups *g, int k) {
    return k == HALO_SCHED_ATTN ? g->n_attn : g->n_ffn;
}

/* Counts are non-negative and every group is placed once. */
static int check_sums(const halo_sched_solution *s, const halo_groups *g, halo_err *err) {
    if (s->n_devices < 1 || s->n_devices > HALO_MAX_DEVICES)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched: %d devices, expected 1..%d", s->n_devices,
                         HALO_MAX_DEVICES);
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        long sum = 0;
        for (int d = 0; d < s->n_devices; d++) {
            if (s->n_groups[k][d] < 0)
                return HALO_FAIL(err, HALO_ERR_ARG, "sched: device %d has %d %s groups", d,
                                 s->n_groups[k][d], block_name(k));
            sum += s->n_groups[k][d];
        }
        if (sum != block_groups(g, k))
            return HALO_FAIL(err, HALO_ERR_ARG, "sched: %ld %s groups placed, expected %d", sum,
                             block_name(k), block_groups(g, k));
    }
    return HALO_OK;
}

int halo_sched_check(const halo_sched_problem *p, const halo_sched_solution *s, halo_err *err) {
    if (s->n_devices != p->n_devices)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched: solution for %d devices, problem has %d",
                         s->n_devices, p->n_devices);
    int rc = check_sums(s, &p->groups, err);
    if (rc != HALO_OK)
        return rc;
    uint64_t sa = halo_sched_group_bytes(p, HALO_SCHED_ATTN);
    uint64_t sf = halo_sched_group_bytes(p, HALO_SCHED_FFN);
    for (int d = 0; d < p->n_devices; d++) {
        uint64_t used = (uint64_t)s->n_groups[HALO_SCHED_ATTN][d] * sa +
                        (uint64_t)s->n_groups[HALO_SCHED_FFN][d] * sf;
        if (used > p->devices[d].mem_bytes)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "sched: device %d needs %.1f MiB for %d attention + %d ffn groups, "
                             "has %.1f MiB",
                             d, (double)used / MIB, s->n_groups[HALO_SCHED_ATTN][d],
                             s->n_groups[HALO_SCHED_FFN][d], (double)p->devices[d].mem_bytes / MIB);
    }
    return HALO_OK;
}

/* ==== Placement ==== */

int halo_sched_to_placement(const halo_sched_solution *s, const halo_groups *groups,
                            halo_placement *p, halo_err *err) {
    memset(p, 0, sizeof *p);
    int rc = check_sums(s, groups, err);
    if (rc == HALO_OK)
        rc = halo_placement_init(p, groups, s->n_devices, NULL, err);
    if (rc != HALO_OK)
        return rc;
    for (int l = 0; l < groups->n_layers; l++) {
        uint16_t *row[HALO_SCHED_N_BLOCKS] = {p->attn + (size_t)l * (size_t)groups->n_attn,
                                              p->ffn + (size_t)l * (size_t)groups->n_ffn};
        for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
            int i = 0;
            for (int d = 0; d < s->n_devices; d++)
                for (int c = 0; c < s->n_groups[k][d]; c++)
                    row[k][i++] = (uint16_t)d;
        }
    }
    return HALO_OK;
}

int halo_sched_spec(const halo_sched_solution *s, const halo_groups *groups, char *buf, size_t cap,
                    size_t *len, halo_err *err) {
    int rc = check_sums(s, groups, err);
    if (rc != HALO_OK)
        return rc;
    size_t n = 0;
    const char *head = "explicit:";
    size_t head_len = strlen(head);
    if (cap < head_len + 1)
        goto too_small;
    memcpy(buf, head, head_len);
    n = head_len;
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        int first = 1;
        if (k > 0) {
            if (n + 2 > cap)
                goto too_small;
            buf[n++] = '/';
        }
        for (int d = 0; d < s->n_devices; d++) {
            for (int c = 0; c < s->n_groups[k][d]; c++) {
                char num[16];
                int w = 0, v = d;
                do {
                    num[w++] = (char)('0' + v % 10);
                    v /= 10;
                } while (v > 0);
                if (n + (size_t)w + (first ? 0 : 1) + 1 > cap)
                    goto too_small;
                if (!first)
                    buf[n++] = ',';
                while (w > 0)
                    buf[n++] = num[--w];
                first = 0;
            }
        }
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return HALO_OK;
too_small:
    if (cap > 0)
        buf[0] = '\0';
    return HALO_FAIL(err, HALO_ERR_ARG, "sched: spec buffer of %zu bytes is too small", cap);
}

/* ==== Heuristic: context ==== */

/* Everything the heuristic reads, precomputed once (per device and block the fixed and
 * per-group time, per block the bytes of a group), and its scratch arrays. */
typedef struct ctx {
    int n_dev;
    int n[HALO_SCHED_N_BLOCKS];          /* groups per block */
    uint64_t size[HALO_SCHED_N_BLOCKS];  /* bytes per group */
    double *fixed[HALO_SCHED_N_BLOCKS];  /* (n_dev) */
    double *per[HALO_SCHED_N_BLOCKS];    /* (n_dev) */
    uint64_t *mem;                       /* (n_dev) */
    int *cap_alone[HALO_SCHED_N_BLOCKS]; /* (n_dev): min(N_k, mem / size_k) */
    int *cur[HALO_SCHED_N_BLOCKS];       /* (n_dev): the schedule being worked on */
    int *best[HALO_SCHED_N_BLOCKS];      /* (n_dev): the best schedule so far */
    int *cap[HALO_SCHED_N_BLOCKS];       /* (n_dev): caps handed to solve_block */
    int *save[HALO_SCHED_N_BLOCKS];      /* (n_dev): cur before a tentative change */
    int *want;     /* (n_dev): scan()'s counts of the other block at its reference time */
    int *undo;     /* (n_dev): alternate()'s undo buffer */
    int *iwork;    /* (n_dev): place()'s cached losses */
    double *dwork; /* (n_dev): place()'s cached tie-breakers */
    double *inv_per[HALO_SCHED_N_BLOCKS]; /* (n_dev): 1 / per */
    halo_arena arena;                     /* the (n_dev) buffers */
    int *ffn_room;                        /* room_for(FFN, d, a) for a = 0..cap_alone[ATTN][d] */
    size_t *ffn_room_at;                  /* (n_dev): where device d's entries start */
    int *heap_dev;                        /* (n_dev): solve_block's heap of devices */
    double *heap_key;                     /* (n_dev): and their next groups' times */
    double best_obj;                      /* objective of best; HUGE_VAL before the first */
} ctx;

static double dev_time(const ctx *c, int k, int d, int n) {
    return n > 0 ? c->fixed[k][d] + c->per[k][d] * n : 0.0;
}

/* Largest n <= cap with dev_time(n) <= t. */
static int count_at(const ctx *c, int k, int d, double t, int cap) {
    if (cap <= 0 || t < dev_time(c, k, d, 1))
        return 0;
    double x = floor((t - c->fixed[k][d]) * c->inv_per[k][d]);
    int n = x >= (double)cap ? cap : x < 0 ? 0 : (int)x;
    while (n > 0 && dev_time(c, k, d, n) > t)
        n--;
    while (n < cap && dev_time(c, k, d, n + 1) <= t)
        n++;
    return n;
}

static double block_time(const ctx *c, int k, const int *cnt) {
    double t = 0;
    for (int d = 0; d < c->n_dev; d++) {
        double v = dev_time(c, k, d, cnt[d]);
        if (v > t)
            t = v;
    }
    return t;
}

static double objective(const ctx *c, int *const cnt[HALO_SCHED_N_BLOCKS]) {
    return block_time(c, HALO_SCHED_ATTN, cnt[HALO_SCHED_ATTN]) +
           block_time(c, HALO_SCHED_FFN, cnt[HALO_SCHED_FFN]);
}

static uint64_t used_bytes(const ctx *c, int n_attn, int n_ffn) {
    return (uint64_t)n_attn * c->size[HALO_SCHED_ATTN] + (uint64_t)n_ffn * c->size[HALO_SCHED_FFN];
}

/* Groups of block k that fit beside `other` groups of the other block on device d (at most
 * cap_alone), or -1 when those `other` groups alone overflow it. The FFN's room beside
 * attention groups, asked for most, comes from a table built once. */
static int room_for(const ctx *c, int k, int d, int other) {
    if (k == HALO_SCHED_FFN && other >= 0 && other <= c->cap_alone[HALO_SCHED_ATTN][d])
        return c->ffn_room[c->ffn_room_at[d] + (size_t)other];
    uint64_t taken = (uint64_t)other * c->size[1 - k];
    if (taken > c->mem[d])
        return -1;
    uint64_t n = (c->mem[d] - taken) / c->size[k];
    return n > (uint64_t)c->cap_alone[k][d] ? c->cap_alone[k][d] : (int)n;
}

static void copy_counts(const ctx *c, int *dst[HALO_SCHED_N_BLOCKS],
                        int *const src[HALO_SCHED_N_BLOCKS]) {
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++)
        memcpy(dst[k], src[k], (size_t)c->n_dev * sizeof *dst[k]);
}

static void keep_if_better(ctx *c) {
    double obj = objective(c, c->cur);
    if (obj < c->best_obj) {
        c->best_obj = obj;
        copy_counts(c, c->best, c->cur);
    }
}

/* ==== Heuristic: one block at a time ==== */

/* Sifts heap entry i down (a min-heap of next-group times over devices). */
static void heap_down(int *dev, double *key, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && key[l] < key[m])
            m = l;
        if (r < n && key[r] < key[m])
            m = r;
        if (m == i)
            return;
        double tk = key[i];
        int td = dev[i];
        key[i] = key[m], dev[i] = dev[m];
        key[m] = tk, dev[m] = td;
        i = m;
    }
}

/*
 * Exact min-max for one block with per-device caps: the smallest T at which the devices can
 * take all N groups with every device's time <= T, and counts achieving it. Device times
 * are nondecreasing in their counts, so placing groups one at a time where the next group
 * finishes first is optimal (it never takes a group above T*, as enough groups fit under
 * T*). To skip most steps, every device first takes what fits under a lower bound of T*:
 * the time at which the continuous relaxation (fractional groups, no floors) holds N
 * groups, found by bisection to 0.1%; then a heap places the rest (about one per device,
 * plus the groups within that 0.1%).
 * Writes the counts to out; returns T, or -1 when the caps hold fewer than N groups.
 */
static double solve_block(ctx *c, int k, const int *cap, int *out) {
    int n = c->n[k], nd = c->n_dev;
    long sum = 0;
    double hi = 0;
    for (int d = 0; d < nd; d++) {
        out[d] = 0;
        int m = cap[d] < n ? cap[d] : n;
        if (m > 0) {
            sum += m;
            double v = dev_time(c, k, d, m);
            hi = v > hi ? v : hi;
        }
    }
    if (sum < n)
        return -1.0;
    if (n == 0)
        return 0.0;
    const double *fixed = c->fixed[k], *inv = c->inv_per[k];
    double lo = 0;
    for (int it = 0; it < 64 && hi - lo > 1e-3 * hi; it++) {
        double mid = 0.5 * (lo + hi), g = 0;
        for (int d = 0; d < nd; d++) {
            double x = (mid - fixed[d]) * inv[d];
            int m = cap[d] < n ? cap[d] : n;
            g += x <= 0 ? 0 : x >= m ? m : x;
        }
        if (g >= n)
            hi = mid;
        else
            lo = mid;
    }
    /* g(lo) < N and count(lo) <= g(lo): the groups under lo are all in the optimum. */
    long total = 0;
    int hn = 0;
    for (int d = 0; d < nd; d++) {
        int m = cap[d] < n ? cap[d] : n;
        out[d] = count_at(c, k, d, lo, m);
        total += out[d];
        if (out[d] < m) {
            c->heap_dev[hn] = d;
            c->heap_key[hn++] = dev_time(c, k, d, out[d] + 1);
        }
    }
    for (int i = hn / 2 - 1; i >= 0; i--)
        heap_down(c->heap_dev, c->heap_key, hn, i);
    while (total < n) {
        int d = c->heap_dev[0];
        out[d]++;
        total++;
        int m = cap[d] < n ? cap[d] : n;
        if (out[d] < m) {
            c->heap_key[0] = dev_time(c, k, d, out[d] + 1);
        } else {
            hn--;
            c->heap_dev[0] = c->heap_dev[hn];
            c->heap_key[0] = c->heap_key[hn];
        }
        heap_down(c->heap_dev, c->heap_key, hn, 0);
    }
    return block_time(c, k, out);
}

/* Best response of block k to the other block's counts in cur; -1 if it cannot fit. */
static double respond(ctx *c, int k) {
    for (int d = 0; d < c->n_dev; d++) {
        int r = room_for(c, k, d, c->cur[1 - k][d]);
        c->cap[k][d] = r < 0 ? 0 : r;
    }
    return solve_block(c, k, c->cap[k], c->cur[k]);
}

/* Alternating best responses from a feasible cur until neither block improves, at most
 * `rounds` rounds (save is left untouched: callers keep the schedule to return to there). */
static void alternate(ctx *c, int rounds) {
    int *undo = c->undo;
    double obj = objective(c, c->cur);
    for (int round = 0; round < rounds; round++) {
        double before = obj;
        for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
            memcpy(undo, c->cur[k], (size_t)c->n_dev * sizeof *undo);
            double prev = objective(c, c->cur);
            if (respond(c, k) < 0 || objective(c, c->cur) > prev)
                memcpy(c->cur[k], undo, (size_t)c->n_dev * sizeof *undo);
        }
        obj = objective(c, c->cur);
        if (!(obj < before))
            break;
    }
    keep_if_better(c);
}

/* ==== Heuristic: packing ==== */

/*
 * Groups of o that device d loses when it takes a group of k beyond its a (o capped at
 * `want`), and in *use the time o would take with one more group there (how much o would
 * use that memory); -1 when d cannot take another group of k.
 */
static int next_loss(const ctx *c, int k, int d, int a, int cap, int want, double *use) {
    int o = 1 - k;
    if (a >= cap)
        return -1;
    int now = room_for(c, o, d, a), next = room_for(c, o, d, a + 1);
    if (next < 0)
        return -1;
    now = now < want ? now : want;
    next = next < want ? next : want;
    *use = dev_time(c, o, d, next + 1);
    return now - next;
}

/*
 * Places all groups of block k within cap[k] so that the other block o keeps the most room
 * on the devices it wants (at most want[d] groups of o count on device d; NULL: all): a
 * dynamic programme over devices whose state is the number of k groups placed so far and
 * whose value is the o groups that still fit there (exact, unlike place()'s greedy). Used
 * where memory is so tight that the greedy placement fragments it, and to make room when a
 * device leaves o. Returns 0 with cur[k] set, 1 when o's groups cannot all fit beside any
 * such placement, -1 when the table would be too large (> 4e6 cells), -2 when an
 * allocation fails.
 */
static int place_packed(ctx *c, int k, const int *want) {
    int o = 1 - k, nk = c->n[k], nd = c->n_dev;
    double work = 0;
    for (int d = 0; d < nd; d++)
        work += (double)(nk + 1) * ((c->cap[k][d] < nk ? c->cap[k][d] : nk) + 1);
    if (work > 4e6)
        return -1;
    int rc = -2;
    long *best = malloc((size_t)(nk + 1) * sizeof *best);
    long *next = malloc((size_t)(nk + 1) * sizeof *next);
    int *room = malloc((size_t)(nk + 1) * sizeof *room);
    int *choice = calloc((size_t)nd * (size_t)(nk + 1), sizeof *choice);
    if (!best || !next || !room || !choice)
        goto done;
    for (int j = 0; j <= nk; j++)
        best[j] = j == 0 ? 0 : -1;
    for (int d = 0; d < nd; d++) {
        int top = c->cap[k][d] < nk ? c->cap[k][d] : nk;
        for (int a = 0; a <= top; a++) {
            room[a] = room_for(c, o, d, a);
            if (room[a] < 0) {
                top = a - 1;
                break;
            }
            if (want && room[a] > want[d])
                room[a] = want[d];
        }
        for (int j = 0; j <= nk; j++)
            next[j] = -1;
        for (int j = 0; j <= nk; j++) {
            if (best[j] < 0)
                continue;
            for (int a = 0; j + a <= nk && a <= top; a++) {
                if (best[j] + room[a] > next[j + a]) {
                    next[j + a] = best[j] + room[a];
                    choice[(size_t)d * (size_t)(nk + 1) + (size_t)(j + a)] = a;
                }
            }
        }
        long *t = best;
        best = next;
        next = t;
    }
    if (best[nk] < c->n[o]) {
        rc = 1;
        goto done;
    }
    for (int d = nd - 1, j = nk; d >= 0; d--) {
        int a = choice[(size_t)d * (size_t)(nk + 1) + (size_t)j];
        c->cur[k][d] = a;
        j -= a;
    }
    rc = 0;
done:
    free(best);
    free(next);
    free(room);
    free(choice);
    return rc;
}

/* ==== Heuristic: scans ==== */

/* Sifts entry i of place()'s heap down: devices ordered by fewest groups lost, then by the
 * largest time the other block would take there. */
static void pick_down(int *heap, int n, int i, const int *loss, const double *use) {
    for (;;) {
        int m = i;
        for (int ch = 2 * i + 1; ch <= 2 * i + 2 && ch < n; ch++) {
            int x = heap[ch], y = heap[m];
            if (loss[x] < loss[y] || (loss[x] == loss[y] && use[x] > use[y]))
                m = ch;
        }
        if (m == i)
            return;
        int t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

/*
 * Places all groups of block k within cap[k] (the devices' counts at the scanned time of
 * k), sparing the other block o's wanted counts want[] (at a reference time of o): first
 * into memory that o does not want, then where one more group of k displaces the fewest
 * groups of o (ties to the device o would use last). When the spare memory holds more than
 * all of k, k leaves the devices o would use first. Writes cur[k]; returns 0, or -1 when
 * the groups do not fit.
 */
static int place(ctx *c, int k, const int *want) {
    int o = 1 - k, *a = c->cur[k];
    const int *cap = c->cap[k];
    long total = 0;
    for (int d = 0; d < c->n_dev; d++) {
        uint64_t need = (uint64_t)want[d] * c->size[o];
        uint64_t spare = c->mem[d] > need ? (c->mem[d] - need) / c->size[k] : 0;
        a[d] = spare < (uint64_t)cap[d] ? (int)spare : cap[d];
        total += a[d];
    }
    while (total > c->n[k]) { /* more room than groups: free the memory o wants most */
        int drop = -1;
        double drop_t = 0;
        for (int d = 0; d < c->n_dev; d++) {
            double t = dev_time(c, o, d, want[d] + 1);
            if (a[d] > 0 && (drop < 0 || t < drop_t)) {
                drop = d;
                drop_t = t;
            }
        }
        a[drop]--;
        total--;
    }
    /* The rest one at a time where it displaces the fewest groups of o: a heap of devices
     * by (loss, -use); only the device that took a group changes its key. */
    int *loss = c->iwork, *heap = c->heap_dev, hn = 0;
    double *use = c->dwork;
    for (int d = 0; d < c->n_dev; d++) {
        loss[d] = next_loss(c, k, d, a[d], cap[d], want[d], &use[d]);
        if (loss[d] >= 0)
            heap[hn++] = d;
    }
    for (int i = hn / 2 - 1; i >= 0; i--)
        pick_down(heap, hn, i, loss, use);
    while (total < c->n[k]) {
        if (hn == 0)
            return -1;
        int d = heap[0];
        a[d]++;
        total++;
        loss[d] = next_loss(c, k, d, a[d], cap[d], want[d], &use[d]);
        if (loss[d] < 0)
            heap[0] = heap[--hn];
        pick_down(heap, hn, 0, loss, use);
    }
    return 0;
}

/*
 * A lower bound on block o's time in every schedule. With o's time at most T, device d holds
 * at most F_d = count(T) groups of o, and the other block k needs its bytes in memory
 * beside them: summing min(F_d * size_o, mem_d - a_d * size_k) over devices gives, for any
 * placement a of k, at most  sum F_d * size_o - max(0, N_k * size_k - spare(T))  bytes of
 * o, where spare(T) = sum (mem_d - F_d * size_o). That must cover N_o * size_o; it grows
 * with T, so bisection finds the smallest T where it does (to 0.01%). Returns a time that
 * every schedule's T_o exceeds.
 */
static double lower_bound(const ctx *c, int o, double lo) {
    int k = 1 - o;
    double need_k = (double)c->n[k] * (double)c->size[k];
    double need_o = (double)c->n[o] * (double)c->size[o], hi = 0;
    for (int d = 0; d < c->n_dev; d++) {
        double v = dev_time(c, o, d, c->cap_alone[o][d]);
        hi = v > hi ? v : hi;
    }
    lo = lo < hi ? lo : 0;
    while (hi - lo > 1e-4 * hi) {
        double mid = 0.5 * (lo + hi), room = 0, spare = 0;
        for (int d = 0; d < c->n_dev; d++) {
            double f = (double)count_at(c, o, d, mid, c->cap_alone[o][d]) * (double)c->size[o];
            room += f;
            spare += (double)c->mem[d] - f;
        }
        if (room - (need_k > spare ? need_k - spare : 0) >= need_o)
            hi = mid;
        else
            lo = mid;
    }
    return lo;
}

/*
 * Scans block k's time upward from t_k0 (a lower bound on it). At each step some device can
 * take one more group of k (steps of at least 0.2% when groups are many); k is placed
 * within the devices' counts at that time, sparing the other block's counts at a reference
 * time (ref 0: its memory-free optimum t_o0, optimistic; 1: the best schedule's; 2:
 * unbounded, i.e. pack for the most room, with the exact packing when the greedy one
 * leaves the other block no fit), and the other block responds. Stops when t + lb_o (a
 * lower bound on the other block's time) cannot beat the best schedule, or after
 * max_steps.
 */
static void scan(ctx *c, int k, double t_k0, double t_o0, double lb_o, int ref, int max_steps) {
    int o = 1 - k, *cap = c->cap[k], *want = c->want;
    double t = t_k0, want_at = -1;
    for (int d = 0; d < c->n_dev; d++)
        cap[d] = count_at(c, k, d, t, c->cap_alone[k][d]);
    for (int step = 0; step < max_steps; step++) {
        if (t + lb_o >= c->best_obj * (1.0 - 1e-12))
            break;
        double t_ref = ref == 0                                ? t_o0
                       : ref == 2 || !(c->best_obj < HUGE_VAL) ? HUGE_VAL
                                                               : block_time(c, o, c->best[o]);
        if (t_ref != want_at) {
            for (int d = 0; d < c->n_dev; d++)
                want[d] = count_at(c, o, d, t_ref, c->cap_alone[o][d]);
            want_at = t_ref;
        }
        int fits = place(c, k, want) == 0 && respond(c, o) >= 0;
        if (!fits && ref == 2)
            fits = place_packed(c, k, NULL) == 0 && respond(c, o) >= 0;
        if (fits)
            keep_if_better(c); /* alternating best responses are left to polish() */
        /* The next time at which some device can take one more group of k. */
        double next = HUGE_VAL;
        for (int d = 0; d < c->n_dev; d++) {
            if (cap[d] < c->cap_alone[k][d]) {
                double v = dev_time(c, k, d, cap[d] + 1);
                next = v < next ? v : next;
            }
        }
        if (!(next < HUGE_VAL))
            break;
        double min_next = c->n[k] > 4 * c->n_dev ? t * 1.002 : t;
        t = next > min_next ? next : min_next;
        for (int d = 0; d < c->n_dev; d++)
            while (cap[d] < c->cap_alone[k][d] && dev_time(c, k, d, cap[d] + 1) <= t)
                cap[d]++;
    }
}

/* ==== Heuristic: local improvement ==== */

/* Devices whose fixed cost (overheads and link) is below this share of a block's time are
 * not worth closing: the min-max of per-group work already balances them. */
#define CLOSE_FIXED 0.2

/* Rounds of best responses after closing a device (more did not pay on the measured instances). */
#define CLOSE_ROUNDS 1

/*
 * Closing a device in one block: device d's groups of block k are re-placed on the other
 * devices (k re-solved with d's cap at 0), the other block responds (using the memory d
 * freed), then both alternate. A device with a costly link often belongs in one block only;
 * best responses alone never close it. Only devices near the block's bottleneck (90% of
 * its time) whose fixed cost is at least CLOSE_FIXED of it are tried. The result is kept
 * even when it is worse (the best schedule is kept apart): it perturbs the search, which
 * measurably helps the moves that follow. Returns 1 when the objective improved.
 */
static int close_devices(ctx *c) {
    int improved = 0;
    double base = objective(c, c->cur);
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        int o = 1 - k;
        double t_k = block_time(c, k, c->cur[k]);
        for (int d = 0; d < c->n_dev; d++) {
            if (c->cur[k][d] == 0 || c->fixed[k][d] < CLOSE_FIXED * t_k ||
                dev_time(c, k, d, c->cur[k][d]) < 0.9 * t_k)
                continue;
            copy_counts(c, c->save, c->cur);
            for (int e = 0; e < c->n_dev; e++) {
                int r = room_for(c, k, e, c->cur[o][e]);
                c->cap[k][e] = e == d || r < 0 ? 0 : r;
            }
            if (solve_block(c, k, c->cap[k], c->cur[k]) >= 0 && respond(c, o) >= 0) {
                alternate(c, CLOSE_ROUNDS);
                double v = objective(c, c->cur);
                if (v < base * (1.0 - 1e-12)) {
                    base = v;
                    improved = 1;
                }
                t_k = block_time(c, k, c->cur[k]);
                continue; /* kept even when worse: a perturbation (best is kept apart) */
            }
            copy_counts(c, c->cur, c->save);
        }
    }
    return improved;
}

/*
 * Closing the FFN's bottleneck devices one after another: the device that sets T_ffn
 * leaves the FFN, the attention groups are re-packed (place_packed, within the current
 * attention time if possible, else anywhere) to leave the most FFN room on the devices
 * still open, the FFN is re-solved without the closed devices and the attention responds.
 * This finds schedules where a device with a costly link is kept out of the FFN by packing
 * attention more tightly elsewhere, which single moves cannot reach. Stops at a bottleneck
 * whose fixed cost is below CLOSE_FIXED of its time, or after 8 devices; every step that
 * improves the best schedule is kept.
 */
static void close_ffn_bottlenecks(ctx *c) {
    const int k = HALO_SCHED_FFN, o = HALO_SCHED_ATTN;
    int *closed = c->iwork;
    memset(closed, 0, (size_t)c->n_dev * sizeof *closed);
    double t_o = block_time(c, o, c->cur[o]);
    for (int iter = 0; iter < c->n_dev && iter < 8; iter++) {
        int i = -1;
        for (int d = 0; d < c->n_dev; d++)
            if (c->cur[k][d] > 0 &&
                (i < 0 || dev_time(c, k, d, c->cur[k][d]) > dev_time(c, k, i, c->cur[k][i])))
                i = d;
        if (i < 0 || c->fixed[k][i] < CLOSE_FIXED * dev_time(c, k, i, c->cur[k][i]))
            return;
        closed[i] = 1;
        int placed = 1;
        for (int pass = 0; pass < 2 && placed; pass++) {
            for (int d = 0; d < c->n_dev; d++) {
                c->cap[k][d] = closed[d] ? 0 : c->cap_alone[k][d];
                c->cap[o][d] =
                    pass == 0 ? count_at(c, o, d, t_o, c->cap_alone[o][d]) : c->cap_alone[o][d];
            }
            placed = place_packed(c, o, c->cap[k]) != 0;
        }
        if (placed)
            return; /* the FFN does not fit on the open devices */
        for (int d = 0; d < c->n_dev; d++) {
            int r = room_for(c, k, d, c->cur[o][d]);
            c->cap[k][d] = closed[d] || r < 0 ? 0 : r;
        }
        if (solve_block(c, k, c->cap[k], c->cur[k]) < 0 || respond(c, o) < 0)
            return;
        keep_if_better(c);
    }
}

/* The four largest device times of a block, for O(1) maxima after a move. */
typedef struct top4 {
    double v[4];
    int i[4];
} top4;

static void top4_of(const ctx *c, int k, const int *cnt, top4 *t) {
    *t = (top4){{0, 0, 0, 0}, {-1, -1, -1, -1}};
    for (int d = 0; d < c->n_dev; d++) {
        double x = dev_time(c, k, d, cnt[d]);
        int j = 4;
        while (j > 0 && x > t->v[j - 1])
            j--;
        for (int m = 3; m > j; m--)
            t->v[m] = t->v[m - 1], t->i[m] = t->i[m - 1];
        if (j < 4)
            t->v[j] = x, t->i[j] = d;
    }
}

/* The largest time among devices other than a, b and e (-1: none). */
static double max_except(const top4 *t, int a, int b, int e) {
    for (int j = 0; j < 4; j++)
        if (t->i[j] >= 0 && t->i[j] != a && t->i[j] != b && t->i[j] != e)
            return t->v[j];
    return 0;
}

static double max3(double x, double y, double z) {
    double m = x > y ? x : y;
    return z > m ? z : m;
}

/*
 * Single-group moves between every pair of devices: one group of block k from i to j;
 * when j lacks the memory, the fewest groups r of the other block o go from j to i in
 * exchange (a swap: it lets a fast device trade attention for FFN work or back), and then
 * possibly one more group of o from o's bottleneck device to i or j (a swap alone often
 * leaves o's time unchanged: the room it makes is only used by that extra move). The best
 * improving move is applied, up to max_rounds times. Returns 1 when cur improved.
 */
static int move_groups(ctx *c, int max_rounds) {
    int **n = c->cur, improved = 0;
    top4 top[HALO_SCHED_N_BLOCKS];
    for (int round = 0; round < max_rounds; round++) {
        top4_of(c, 0, n[0], &top[0]);
        top4_of(c, 1, n[1], &top[1]);
        double best = top[0].v[0] + top[1].v[0];
        int bk = -1, bi = -1, bj = -1, br = 0, bx = -1, bt = -1;
        for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
            int o = 1 - k, ob = top[o].i[0];
            for (int i = 0; i < c->n_dev; i++) {
                if (n[k][i] == 0)
                    continue;
                double ti = dev_time(c, k, i, n[k][i] - 1);
                for (int j = 0; j < c->n_dev; j++) {
                    if (j == i || n[k][j] >= c->cap_alone[k][j])
                        continue;
                    int r = 0;
                    uint64_t need = used_bytes(c, n[0][j] + (k == 0), n[1][j] + (k == 1));
                    if (need > c->mem[j]) {
                        r = (int)((need - c->mem[j] + c->size[o] - 1) / c->size[o]);
                        if (r > n[o][j] ||
                            used_bytes(c, n[0][i] - (k == 0) + (o == 0) * r,
                                       n[1][i] - (k == 1) + (o == 1) * r) > c->mem[i])
                            continue;
                    }
                    double tk =
                        max3(max_except(&top[k], i, j, -1), ti, dev_time(c, k, j, n[k][j] + 1));
                    double to = top[o].v[0];
                    if (r > 0)
                        to = max3(max_except(&top[o], i, j, -1), dev_time(c, o, i, n[o][i] + r),
                                  dev_time(c, o, j, n[o][j] - r));
                    int x = -1, xt = -1;
                    if (r > 0 && ob >= 0 && ob != i && ob != j && n[o][ob] > 0) {
                        /* One more group of o from its bottleneck ob to i (j has no room:
                         * r was the fewest that fit). */
                        int ia = n[0][i] - (k == 0) + (o == 0) * (r + 1);
                        int iff = n[1][i] - (k == 1) + (o == 1) * (r + 1);
                        if (used_bytes(c, ia, iff) <= c->mem[i]) {
                            double t2 = max3(max_except(&top[o], i, j, ob),
                                             dev_time(c, o, i, n[o][i] + r + 1),
                                             dev_time(c, o, j, n[o][j] - r));
                            double tb = dev_time(c, o, ob, n[o][ob] - 1);
                            t2 = tb > t2 ? tb : t2;
                            if (t2 < to)
                                to = t2, x = ob, xt = i;
                        }
                    }
                    if (tk + to < best * (1.0 - 1e-12)) {
                        best = tk + to;
                        bk = k, bi = i, bj = j, br = r, bx = x, bt = xt;
                    }
                }
            }
        }
        if (bk < 0)
            break;
        int o = 1 - bk;
        n[bk][bi]--, n[bk][bj]++, n[o][bj] -= br, n[o][bi] += br;
        if (bx >= 0)
            n[o][bx]--, n[o][bt]++;
        improved = 1;
    }
    keep_if_better(c);
    return improved;
}

/* Local improvement of the best schedule until no move helps (or a few rounds). */
static void polish(ctx *c) {
    copy_counts(c, c->cur, c->best);
    for (int round = 0; round < 4; round++) {
        alternate(c, 8);
        int a = close_devices(c);
        double before = c->best_obj;
        close_ffn_bottlenecks(c);
        copy_counts(c, c->cur, c->best);
        a = a || c->best_obj < before;
        int b = move_groups(c, 2 * c->n_dev + 16);
        if (!a && !b)
            break;
    }
    keep_if_better(c);
}

/* ==== Heuristic: driver ==== */

static void ctx_free(ctx *c) {
    halo_arena_free(&c->arena);
    free(c->ffn_room);
}

static void carve_ctx(void *obj, halo_arena *a) {
    ctx *c = obj;
    size_t nd = (size_t)c->n_dev;
    c->mem = halo_arena_take(a, nd, sizeof *c->mem);
    c->heap_dev = halo_arena_take(a, nd, sizeof *c->heap_dev);
    c->heap_key = halo_arena_take(a, nd, sizeof *c->heap_key);
    c->iwork = halo_arena_take(a, nd, sizeof *c->iwork);
    c->undo = halo_arena_take(a, nd, sizeof *c->undo);
    c->want = halo_arena_take(a, nd, sizeof *c->want);
    c->ffn_room_at = halo_arena_take(a, nd, sizeof *c->ffn_room_at);
    c->dwork = halo_arena_take(a, nd, sizeof *c->dwork);
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        c->fixed[k] = halo_arena_take(a, nd, sizeof *c->fixed[k]);
        c->per[k] = halo_arena_take(a, nd, sizeof *c->per[k]);
        c->cap_alone[k] = halo_arena_take(a, nd, sizeof *c->cap_alone[k]);
        c->cur[k] = halo_arena_take(a, nd, sizeof *c->cur[k]);
        c->best[k] = halo_arena_take(a, nd, sizeof *c->best[k]);
        c->cap[k] = halo_arena_take(a, nd, sizeof *c->cap[k]);
        c->save[k] = halo_arena_take(a, nd, sizeof *c->save[k]);
        c->inv_per[k] = halo_arena_take(a, nd, sizeof *c->inv_per[k]);
    }
}

static int ctx_init(ctx *c, const halo_sched_problem *p, halo_err *err) {
    memset(c, 0, sizeof *c);
    c->n_dev = p->n_devices;
    c->best_obj = HUGE_VAL;
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        c->n[k] = block_groups(&p->groups, k);
        c->size[k] = halo_sched_group_bytes(p, k);
    }
    int rc = halo_arena_init(&c->arena, carve_ctx, c, "sched", err);
    if (rc != HALO_OK)
        return rc;
    for (int d = 0; d < c->n_dev; d++) {
        c->mem[d] = p->devices[d].mem_bytes;
        for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
            halo_sched_coeffs(p, d, k, &c->fixed[k][d], &c->per[k][d]);
            c->inv_per[k][d] = 1.0 / c->per[k][d];
            uint64_t fit = c->mem[d] / c->size[k];
            c->cap_alone[k][d] = fit < (uint64_t)c->n[k] ? (int)fit : c->n[k];
        }
    }
    size_t cells = 0;
    for (int d = 0; d < c->n_dev; d++) {
        c->ffn_room_at[d] = cells;
        cells += (size_t)c->cap_alone[HALO_SCHED_ATTN][d] + 1;
    }
    c->ffn_room = malloc(cells * sizeof *c->ffn_room);
    if (!c->ffn_room) {
        ctx_free(c);
        (void)HALO_FAIL(err, HALO_ERR_NOMEM, "sched: out of memory");
        return HALO_ERR_NOMEM; /* spelt out: the analyser cannot see HALO_FAIL's value */
    }
    for (int d = 0; d < c->n_dev; d++) {
        for (int a = 0; a <= c->cap_alone[HALO_SCHED_ATTN][d]; a++) {
            uint64_t n =
                (c->mem[d] - (uint64_t)a * c->size[HALO_SCHED_ATTN]) / c->size[HALO_SCHED_FFN];
            c->ffn_room[c->ffn_room_at[d] + (size_t)a] =
                n > (uint64_t)c->cap_alone[HALO_SCHED_FFN][d] ? c->cap_alone[HALO_SCHED_FFN][d]
                                                              : (int)n;
        }
    }
    return HALO_OK;
}

/* The errors of instances that cannot fit, each naming the shortfall. */
static int check_capacity(const ctx *c, halo_err *err) {
    double need = 0, have = 0, largest = 0;
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++)
        need += (double)c->n[k] * (double)c->size[k];
    for (int d = 0; d < c->n_dev; d++) {
        have += (double)c->mem[d];
        if ((double)c->mem[d] > largest)
            largest = (double)c->mem[d];
    }
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++)
        if (c->n[k] > 0 && (double)c->size[k] > largest)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "sched: one %s group needs %.2f MiB, the largest device has %.1f MiB",
                             block_name(k), (double)c->size[k] / MIB, largest / MIB);
    if (need > have)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "sched: total memory too small: the groups need %.1f MiB (%d attention "
                         "x %.2f MiB + %d ffn x %.2f MiB), the %d devices have %.1f MiB",
                         need / MIB, c->n[0], (double)c->size[0] / MIB, c->n[1],
                         (double)c->size[1] / MIB, c->n_dev, have / MIB);
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        long fit = 0;
        for (int d = 0; d < c->n_dev; d++)
            fit += c->cap_alone[k][d];
        if (fit < c->n[k])
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "sched: only %ld of %d %s groups fit the devices' memory even alone "
                             "(%.2f MiB each)",
                             fit, c->n[k], block_name(k), (double)c->size[k] / MIB);
    }
    return HALO_OK;
}

/* Memory binds: the attention-time scans, the exact packing if they found nothing, then
 * local improvement. Returns HALO_OK with best set, or an error. */
static int solve_tight(ctx *c, const double t0[HALO_SCHED_N_BLOCKS], halo_err *err) {
    /* Scans over the attention time only: scanning the FFN time as well found nothing
     * better on the measured instances (docs/scheduler.md) at far greater cost. */
    int steps = 4 * c->n_dev + 2 * (c->n[0] < 64 ? c->n[0] : 64);
    double lb_attn = lower_bound(c, HALO_SCHED_ATTN, t0[HALO_SCHED_ATTN]);
    double lb_ffn = lower_bound(c, HALO_SCHED_FFN, t0[HALO_SCHED_FFN]);
    for (int ref = 0; ref < 3; ref++)
        scan(c, HALO_SCHED_ATTN, lb_attn, t0[HALO_SCHED_FFN], lb_ffn, ref, steps);
    if (!(c->best_obj < HUGE_VAL)) {
        memcpy(c->cap[HALO_SCHED_ATTN], c->cap_alone[HALO_SCHED_ATTN],
               (size_t)c->n_dev * sizeof *c->cap[0]);
        int r = place_packed(c, HALO_SCHED_ATTN, NULL);
        if (r == -2)
            return HALO_FAIL(err, HALO_ERR_NOMEM, "sched: out of memory");
        if (r < 0)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "sched: found no schedule that fits memory, and the exact packing "
                             "check is too large to run (%d devices, %d attention groups); try "
                             "the exact solver",
                             c->n_dev, c->n[0]);
        if (r > 0 || respond(c, HALO_SCHED_FFN) < 0)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "sched: no schedule fits memory: the groups fit in total but not "
                             "device by device (%d attention groups of %.2f MiB, %d ffn groups "
                             "of %.2f MiB over %d devices)",
                             c->n[0], (double)c->size[0] / MIB, c->n[1], (double)c->size[1] / MIB,
                             c->n_dev);
        alternate(c, 8);
    }
    polish(c);
    return HALO_OK;
}

int halo_sched_solve_heuristic(const halo_sched_problem *p, halo_sched_solution *out,
                               halo_err *err) {
    int rc = halo_sched_problem_check(p, err);
    if (rc != HALO_OK)
        return rc;
    if (out->n_devices != p->n_devices || !out->n_groups[0] || !out->n_groups[1])
        return HALO_FAIL(err, HALO_ERR_ARG, "sched: solution for %d devices, problem has %d",
                         out->n_devices, p->n_devices);
    ctx c;
    rc = ctx_init(&c, p, err);
    if (rc != HALO_OK)
        return rc;
    rc = check_capacity(&c, err);
    if (rc != HALO_OK)
        goto done;
    /* Each block alone, with all of each device's memory: if the two fit together, this
     * optimum of a relaxation is feasible, hence optimal. */
    double t0[HALO_SCHED_N_BLOCKS];
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++)
        t0[k] = solve_block(&c, k, c.cap_alone[k], c.cur[k]);
    int fits = 1;
    for (int d = 0; d < c.n_dev; d++)
        fits = fits && used_bytes(&c, c.cur[0][d], c.cur[1][d]) <= c.mem[d];
    if (fits)
        keep_if_better(&c);
    else if ((rc = solve_tight(&c, t0, err)) != HALO_OK)
        goto done;
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++)
        memcpy(out->n_groups[k], c.best[k], (size_t)c.n_dev * sizeof *c.best[k]);
    out->objective_ns = halo_sched_eval(p, out, out->block_ns);
    out->optimal = fits;
done:
    ctx_free(&c);
    return rc;
}
