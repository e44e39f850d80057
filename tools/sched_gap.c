/*
 * halo_sched_gap: how far the scheduler's heuristic (core/sched.h) is from the exact
 * optimum (core/sched_exact.h), and how long each takes, on seeded random instances:
 * 2-16 devices drawn from the Raspberry Pi 4B/5, Jetson Nano and laptop profiles of
 * scenarios/profiles/ behind Gigabit, Fast Ethernet or Wi-Fi links (scenarios/links/),
 * 0-5% loss on half of them, LLaMA-like shapes (dim 2048-5120, 22-40 layers, 4-40 KV
 * heads, FFN groups of 32-128 neurons, Q4_0 or Q8_0 weights), and memory budgets from
 * generous (the devices' own) to tight (a few percent above what the model needs).
 *
 *   halo_sched_gap [--instances N] [--seed S] [--time-limit-ms MS] [--devices LO-HI]
 *                  [--no-exact] [--csv FILE] [--show I]
 *
 * --devices draws the device count from LO..HI (default 2-16, at most 64); --no-exact
 * times the heuristic alone (for device counts GLPK takes too long on).
 * --show I prints instance I's devices and both schedules to stderr.
 * Prints a markdown table (docs/scheduler.md) to stdout: per device-count bucket and
 * memory regime the number of instances, mean and max relative gap
 * (heuristic - exact) / exact over the instances GLPK proved optimal, the share where
 * the heuristic is optimal, and mean/max solve times of both solvers.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "core/rng.h"
#include "core/sched.h"
#include "core/sched_exact.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ==== Instances ==== */

typedef struct profile {
    const char *name;
    double gflops, mem_bw_gbps, mem_mib, op_overhead_us;
} profile;

/* As in scenarios/profiles/. */
static const profile profiles[] = {
    {"rpi4b", 12, 2.8517, 3584, 20},
    {"rpi5", 30, 10, 7680, 10},
    {"jetson-nano", 9, 8, 3584, 20},
    {"laptop-x86", 150, 35, 14336, 5},
};

typedef struct link_profile {
    const char *name;
    double mbps, latency_us; /* per link; device to root is two links */
} link_profile;

/* As in scenarios/links/. */
static const link_profile links[] = {
    {"gige", 1000, 60},
    {"fast-ethernet", 100, 80},
    {"wifi", 80, 1500},
};

typedef struct instance {
    halo_model_config cfg;
    int weight_type, ffn_size, n_dev;
    double mem_factor; /* total memory / total need; 0 = the profiles' own memory */
    uint64_t loss_penalty_ns;
    halo_sched_device dev[64];
    char desc[160];
} instance;

static int pick(halo_rng *r, int n) {
    return n > 0 ? (int)(halo_rng_u64(r) % (uint64_t)n) : 0;
}

static double uniform(halo_rng *r, double lo, double hi) {
    return lo + (hi - lo) * halo_rng_f64(r);
}

static void random_shape(halo_rng *r, instance *in) {
    static const int dims[] = {2048, 2560, 3072, 4096, 5120};
    int dim = dims[pick(r, 5)], n_heads = dim / 128;
    int kv_opts[40] = {0}, n_kv_opts = 0; /* divisors of n_heads in 4..40; never empty */
    for (int kv = 4; kv <= 40 && kv <= n_heads; kv++)
        if (n_heads % kv == 0)
            kv_opts[n_kv_opts++] = kv;
    int hidden = (dim * 8 / 3 + 255) / 256 * 256;
    if (pick(r, 3) == 0)
        hidden = (int)(hidden * 1.3) / 256 * 256; /* LLaMA-3-style wider FFN */
    static const int ffn_sizes[] = {32, 64, 128};
    in->cfg = (halo_model_config){.dim = dim,
                                  .hidden_dim = hidden,
                                  .n_layers = 22 + pick(r, 19),
                                  .n_heads = n_heads,
                                  .n_kv_heads = kv_opts[pick(r, n_kv_opts)],
                                  .vocab_size = 32000,
                                  .seq_len = pick(r, 2) ? 2048 : 4096,
                                  .shared_classifier = 0};
    in->ffn_size = ffn_sizes[pick(r, 3)];
    in->weight_type = pick(r, 4) == 0 ? HALO_WEIGHT_Q80 : HALO_WEIGHT_Q40;
}

static void random_instance(halo_rng *r, instance *in, int lo, int hi) {
    memset(in, 0, sizeof *in);
    random_shape(r, in);
    in->n_dev = lo + pick(r, hi - lo + 1);
    in->loss_penalty_ns = pick(r, 2) ? 200000000 : (uint64_t)(uniform(r, 2, 20) * 1e6);
    const link_profile *net = &links[pick(r, 3)];
    int counts[4] = {0};
    for (int d = 0; d < in->n_dev; d++) {
        int pi = pick(r, 4);
        const profile *pr = &profiles[pi];
        counts[pi]++;
        in->dev[d] = (halo_sched_device){.flops_per_s = pr->gflops * 1e9,
                                         .mem_bw_bps = pr->mem_bw_gbps * 1e9,
                                         .mem_bytes = (uint64_t)(pr->mem_mib * 1024 * 1024),
                                         .op_overhead_ns = (uint64_t)(pr->op_overhead_us * 1000),
                                         .link_bps = net->mbps * 1e6,
                                         .link_latency_ns = (uint64_t)(2 * net->latency_us * 1000),
                                         .loss = d > 0 && pick(r, 2) ? uniform(r, 0, 0.05) : 0.0,
                                         .is_root = d == 0};
    }
    /* Memory: the devices' own, or scaled so the total is 1.02-3x what the groups need. */
    in->mem_factor = pick(r, 3) == 0 ? 0.0 : exp(uniform(r, log(1.02), log(3.0)));
    (void)snprintf(in->desc, sizeof in->desc,
                   "dim %d L%d kv %d G%d %s, %d dev (pi4 %d pi5 %d nano %d laptop %d) %s",
                   in->cfg.dim, in->cfg.n_layers, in->cfg.n_kv_heads, in->ffn_size,
                   in->weight_type == HALO_WEIGHT_Q40 ? "q40" : "q80", in->n_dev, counts[0],
                   counts[1], counts[2], counts[3], net->name);
}

/* Builds the problem of `in` and applies its memory factor. */
static int make_problem(instance *in, halo_sched_problem *p, halo_err *err) {
    int rc = halo_sched_problem_init(p, &in->cfg, in->weight_type, in->ffn_size, in->dev, in->n_dev,
                                     err);
    if (rc != HALO_OK)
        return rc;
    p->loss_penalty_ns = in->loss_penalty_ns;
    if (in->mem_factor > 0) {
        double need = (double)p->groups.n_attn * (double)halo_sched_group_bytes(p, 0) +
                      (double)p->groups.n_ffn * (double)halo_sched_group_bytes(p, 1);
        double have = 0;
        for (int d = 0; d < in->n_dev; d++)
            have += (double)in->dev[d].mem_bytes;
        for (int d = 0; d < in->n_dev; d++)
            in->dev[d].mem_bytes =
                (uint64_t)((double)in->dev[d].mem_bytes * need * in->mem_factor / have);
    }
    return HALO_OK;
}

/* ==== Measurement ==== */

static double now_s(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum {
    N_BUCKETS = 5,
    N_REGIMES = 2
};

static const char *bucket_name[N_BUCKETS] = {"2-4", "5-8", "9-16", "17-32", "33-64"};
static const char *regime_name[N_REGIMES] = {"memory-free optimum fits", "memory binds"};

typedef struct stats {
    int n, proven, heur_opt;
    double gap_sum, gap_max;
    double th_sum, th_max, te_sum, te_max;
} stats;

static void add(stats *s, int proven, double gap, double th, double te) {
    s->n++;
    s->th_sum += th;
    s->th_max = th > s->th_max ? th : s->th_max;
    s->te_sum += te;
    s->te_max = te > s->te_max ? te : s->te_max;
    if (!proven)
        return;
    s->proven++;
    s->gap_sum += gap;
    s->gap_max = gap > s->gap_max ? gap : s->gap_max;
    s->heur_opt += gap <= 1e-9;
}

static void print_row(const char *a, const char *b, const stats *s) {
    if (s->n == 0)
        return;
    if (s->proven == 0) { /* --no-exact, or nothing proven */
        (void)printf("| %s | %s | %d | 0 | - | - | - | %.3f / %.3f | - |\n", a, b, s->n,
                     1e3 * s->th_sum / s->n, 1e3 * s->th_max);
        return;
    }
    (void)printf("| %s | %s | %d | %d | %.4f%% | %.3f%% | %.0f%% | %.3f / %.3f | %.1f / %.1f |\n",
                 a, b, s->n, s->proven, s->proven ? 100.0 * s->gap_sum / s->proven : 0.0,
                 100.0 * s->gap_max, s->proven ? 100.0 * s->heur_opt / s->proven : 0.0,
                 1e3 * s->th_sum / s->n, 1e3 * s->th_max, 1e3 * s->te_sum / s->n, 1e3 * s->te_max);
}

/* Instance `it` in detail: devices, then each solver's counts and device times. */
static void show(int it, const instance *in, const halo_sched_problem *p,
                 const halo_sched_solution *he, const halo_sched_solution *ex) {
    (void)fprintf(stderr, "instance %d: %s, %d attention groups of %.1f MiB, %d ffn of %.1f MiB\n",
                  it, in->desc, p->groups.n_attn, (double)halo_sched_group_bytes(p, 0) / 1048576.0,
                  p->groups.n_ffn, (double)halo_sched_group_bytes(p, 1) / 1048576.0);
    for (int d = 0; d < in->n_dev; d++) {
        double fa, pa, ff, pf;
        halo_sched_coeffs(p, d, HALO_SCHED_ATTN, &fa, &pa);
        halo_sched_coeffs(p, d, HALO_SCHED_FFN, &ff, &pf);
        (void)fprintf(
            stderr,
            "  d%-2d %4.0f GF mem %7.1f MiB loss %.3f | attn %8.3f + %6.3f ms | ffn "
            "%8.3f + %6.3f ms | heur %2d %3d (%7.2f %7.2f) | exact %2d %3d (%7.2f %7.2f)\n",
            d, in->dev[d].flops_per_s / 1e9, (double)in->dev[d].mem_bytes / 1048576.0,
            in->dev[d].loss, fa / 1e6, pa / 1e6, ff / 1e6, pf / 1e6, he->n_groups[0][d],
            he->n_groups[1][d], halo_sched_device_time_ns(p, d, 0, he->n_groups[0][d]) / 1e6,
            halo_sched_device_time_ns(p, d, 1, he->n_groups[1][d]) / 1e6, ex->n_groups[0][d],
            ex->n_groups[1][d], halo_sched_device_time_ns(p, d, 0, ex->n_groups[0][d]) / 1e6,
            halo_sched_device_time_ns(p, d, 1, ex->n_groups[1][d]) / 1e6);
    }
    (void)fprintf(stderr, "  heuristic %.3f + %.3f = %.3f ms; exact %.3f + %.3f = %.3f ms%s\n",
                  he->block_ns[0] / 1e6, he->block_ns[1] / 1e6, he->objective_ns / 1e6,
                  ex->block_ns[0] / 1e6, ex->block_ns[1] / 1e6, ex->objective_ns / 1e6,
                  ex->optimal ? " (proven)" : "");
}

static void usage(void) {
    (void)fprintf(stderr, "usage: halo_sched_gap [--instances N] [--seed S] "
                          "[--time-limit-ms MS] [--devices LO-HI] [--no-exact] [--csv FILE] "
                          "[--show I]\n");
    exit(2);
}

/* A whole decimal number in [lo, hi], else usage(). */
static long number(const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        usage();
    return v;
}

int main(int argc, char **argv) {
    int n_inst = 200, time_limit_ms = 10000, show_idx = -1, lo = 2, hi = 16, exact = 1;
    uint64_t seed = 1;
    const char *csv_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-exact") == 0) {
            exact = 0;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--instances") == 0)
            n_inst = (int)number(argv[++i], 1, 10000000);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = (uint64_t)number(argv[++i], 0, LONG_MAX);
        else if (strcmp(argv[i], "--time-limit-ms") == 0)
            time_limit_ms = (int)number(argv[++i], 1, INT_MAX);
        else if (strcmp(argv[i], "--devices") == 0) {
            char range[32], *dash;
            (void)snprintf(range, sizeof range, "%s", argv[++i]);
            if (!(dash = strchr(range, '-')))
                usage();
            *dash = '\0';
            lo = (int)number(range, 2, 64);
            hi = (int)number(dash + 1, 2, 64);
        } else if (strcmp(argv[i], "--show") == 0)
            show_idx = (int)number(argv[++i], 0, INT_MAX);
        else if (strcmp(argv[i], "--csv") == 0)
            csv_path = argv[++i];
        else
            usage();
    }
    if (n_inst < 1 || time_limit_ms < 1 || lo < 2 || hi < lo || hi > 64)
        usage();
    FILE *csv = NULL;
    if (csv_path) {
        csv = fopen(csv_path, "w");
        if (!csv) {
            (void)fprintf(stderr, "halo: cannot write %s\n", csv_path);
            return 1;
        }
        (void)fprintf(csv, "instance,n_devices,n_attn,n_ffn,mem_factor,regime,heur_ns,exact_ns,"
                           "proven,gap,heur_ms,exact_ms,description\n");
    }
    halo_rng r;
    halo_rng_init(&r, seed);
    stats by[N_BUCKETS][N_REGIMES], total = {0};
    memset(by, 0, sizeof by);
    int infeasible = 0, failures = 0;
    for (int it = 0; it < n_inst; it++) {
        instance in;
        random_instance(&r, &in, lo, hi);
        halo_sched_problem p;
        halo_err err = {0};
        if (make_problem(&in, &p, &err) != HALO_OK) {
            (void)fprintf(stderr, "halo: instance %d: %s\n", it, err.msg);
            return 1;
        }
        halo_sched_solution he, ex;
        if (halo_sched_solution_init(&he, in.n_dev, &err) != HALO_OK ||
            halo_sched_solution_init(&ex, in.n_dev, &err) != HALO_OK) {
            (void)fprintf(stderr, "halo: %s\n", err.msg);
            return 1;
        }
        /* Time the heuristic over enough repetitions to resolve microseconds. */
        int reps = 0, rc_he = HALO_OK;
        double t0 = now_s(), th;
        do {
            rc_he = halo_sched_solve_heuristic(&p, &he, &err);
            reps++;
            th = now_s() - t0;
        } while (rc_he == HALO_OK && th < 0.02 && reps < 1000);
        th /= reps;
        halo_err eerr = {0};
        t0 = now_s();
        int rc_ex = exact ? halo_sched_solve_exact(&p, time_limit_ms, &ex, &eerr) : rc_he;
        if (!exact && rc_he == HALO_OK) { /* no reference: the heuristic against itself */
            for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++)
                memcpy(ex.n_groups[k], he.n_groups[k], (size_t)in.n_dev * sizeof(int));
            ex.objective_ns = he.objective_ns;
            ex.optimal = 0;
        }
        double te = now_s() - t0;
        if (rc_he != HALO_OK || rc_ex != HALO_OK) {
            if (rc_he != HALO_OK && rc_ex != HALO_OK) {
                infeasible++;
            } else {
                failures++;
                (void)fprintf(stderr, "halo: instance %d (%s): heuristic: %s; exact: %s\n", it,
                              in.desc, rc_he ? err.msg : "ok", rc_ex ? eerr.msg : "ok");
            }
        } else {
            int regime = he.optimal ? 0 : 1;
            int bucket = in.n_dev <= 4    ? 0
                         : in.n_dev <= 8  ? 1
                         : in.n_dev <= 16 ? 2
                         : in.n_dev <= 32 ? 3
                                          : 4;
            double gap = (he.objective_ns - ex.objective_ns) / ex.objective_ns;
            /* The exact solver returns the better of both schedules, and the optimum of a
             * relaxation that fits cannot be beaten. */
            if (gap < -1e-12 || (he.optimal && gap > 1e-12)) {
                failures++;
                (void)fprintf(stderr, "halo: instance %d: heuristic %.9g, exact %.9g\n", it,
                              he.objective_ns, ex.objective_ns);
            }
            if (it == show_idx)
                show(it, &in, &p, &he, &ex);
            if (gap < 0)
                gap = 0;
            add(&by[bucket][regime], ex.optimal, gap, th, te);
            add(&total, ex.optimal, gap, th, te);
            if (csv)
                (void)fprintf(csv, "%d,%d,%d,%d,%.4f,%d,%.1f,%.1f,%d,%.3e,%.4f,%.2f,%s\n", it,
                              in.n_dev, p.groups.n_attn, p.groups.n_ffn, in.mem_factor, regime,
                              he.objective_ns, ex.objective_ns, ex.optimal, gap, th * 1e3, te * 1e3,
                              in.desc);
        }
        halo_sched_solution_free(&he);
        halo_sched_solution_free(&ex);
    }
    if (exact)
        (void)printf("%d instances (seed %llu, devices %d-%d, exact time limit %d ms): %d solved "
                     "by both, %d infeasible for both, %d disagreements\n\n",
                     n_inst, (unsigned long long)seed, lo, hi, time_limit_ms, total.n, infeasible,
                     failures);
    else
        (void)printf("%d instances (seed %llu, devices %d-%d, heuristic only): %d solved, %d "
                     "infeasible\n\n",
                     n_inst, (unsigned long long)seed, lo, hi, total.n, infeasible);
    (void)printf("| devices | regime | n | proven optimal | mean gap | max gap | heuristic "
                 "optimal | heuristic ms (mean / max) | exact ms (mean / max) |\n");
    (void)printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int g = 0; g < N_REGIMES; g++)
        for (int b = 0; b < N_BUCKETS; b++)
            print_row(bucket_name[b], regime_name[g], &by[b][g]);
    print_row("all", "all", &total);
    if (csv && fclose(csv) != 0) {
        (void)fprintf(stderr, "halo: cannot write %s\n", csv_path);
        return 1;
    }
    return failures ? 1 : 0;
}
