/*
 * The load-balancing scheduler: feasibility, infeasibility errors, optimality of the exact
 * MILP against brute force, the heuristic against the exact optimum, the shape of
 * schedules (faster devices take more, lossy links take less) and placement building.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "core/rng.h"
#include "core/sched.h"
#include "core/sched_exact.h"
#include "sim/scenario.h"
#include "tests/test.h"

#include <stdint.h>
#include <time.h>

#define EXACT_MS 20000

/* A shape with n_kv KV heads (kv_mul 2 or 1) and n_ffn FFN groups of 16 neurons. */
static halo_model_config tiny_cfg(int n_kv, int n_ffn, int n_layers) {
    int n_heads = n_kv * (n_kv <= 4 ? 2 : 1);
    return (halo_model_config){.dim = 16 * n_heads,
                               .hidden_dim = 16 * n_ffn,
                               .n_layers = n_layers,
                               .n_heads = n_heads,
                               .n_kv_heads = n_kv,
                               .vocab_size = 32,
                               .seq_len = 64,
                               .shared_classifier = 1};
}

static halo_sched_device plain_device(double gflops, int is_root) {
    return (halo_sched_device){.flops_per_s = gflops * 1e9,
                               .mem_bw_bps = gflops * 1e9, /* one byte per flop: balanced */
                               .mem_bytes = UINT64_C(1) << 40,
                               .op_overhead_ns = 0,
                               .link_bps = 1e15,
                               .link_latency_ns = 0,
                               .loss = 0,
                               .is_root = is_root};
}

static void init_problem(halo_sched_problem *p, const halo_model_config *cfg,
                         const halo_sched_device *dev, int n_dev) {
    ASSERT_OK(halo_sched_problem_init(p, cfg, HALO_WEIGHT_F32, 16, dev, n_dev, NULL));
}

/* A problem with the model and devices it points to. */
typedef struct plain {
    halo_model_config cfg;
    halo_sched_device dev[4];
    halo_sched_problem p;
} plain;

/* f->p: n_dev (at most 4) devices of 1 GFLOP/s with memory to spare (device 0 the root) on
   f->cfg = tiny_cfg(n_kv, n_ffn, n_layers); the caller may change f->dev[] afterwards. */
static void plain_problem(plain *f, int n_dev, int n_kv, int n_ffn, int n_layers) {
    ASSERT(n_dev <= 4);
    f->cfg = tiny_cfg(n_kv, n_ffn, n_layers);
    for (int d = 0; d < n_dev; d++)
        f->dev[d] = plain_device(1, d == 0);
    init_problem(&f->p, &f->cfg, f->dev, n_dev);
}

/* Both solvers refuse `p` (HALO_ERR_ARG) with messages containing `heuristic_says` and
 * `exact_says`; a NULL message leaves that solver out. */
static void solvers_refuse(const halo_sched_problem *p, const char *heuristic_says,
                           const char *exact_says) {
    halo_sched_solution s;
    ASSERT_OK(halo_sched_solution_init(&s, p->n_devices, NULL));
    halo_err err = {0};
    if (heuristic_says) {
        ASSERT_EQ(halo_sched_solve_heuristic(p, &s, &err), HALO_ERR_ARG);
        ASSERT_STR_CONTAINS(err.msg, heuristic_says);
    }
    if (exact_says) {
        memset(&err, 0, sizeof err);
        ASSERT_EQ(halo_sched_solve_exact(p, EXACT_MS, &s, &err), HALO_ERR_ARG);
        ASSERT_STR_CONTAINS(err.msg, exact_says);
    }
    halo_sched_solution_free(&s);
}

/* *he and *ex (initialised here; the caller frees them): p solved by the heuristic and by the
   exact solver, both of which must succeed. */
static void solve_both(const halo_sched_problem *p, halo_sched_solution *he,
                       halo_sched_solution *ex) {
    ASSERT_OK(halo_sched_solution_init(he, p->n_devices, NULL));
    ASSERT_OK(halo_sched_solution_init(ex, p->n_devices, NULL));
    ASSERT_OK(halo_sched_solve_heuristic(p, he, NULL));
    ASSERT_OK(halo_sched_solve_exact(p, EXACT_MS, ex, NULL));
}

/* The heuristic's objective equals the exact solver's (within rounding); frees both. */
static void agree_and_free(halo_sched_solution *he, halo_sched_solution *ex) {
    ASSERT_NEAR(he->objective_ns, ex->objective_ns, 1e-9 * ex->objective_ns);
    halo_sched_solution_free(he);
    halo_sched_solution_free(ex);
}

static uint64_t total_need(const halo_sched_problem *p) {
    return (uint64_t)p->groups.n_attn * halo_sched_group_bytes(p, HALO_SCHED_ATTN) +
           (uint64_t)p->groups.n_ffn * halo_sched_group_bytes(p, HALO_SCHED_FFN);
}

/* ==== Random instances ==== */

static double uniform(halo_rng *r, double lo, double hi) {
    return lo + (hi - lo) * halo_rng_f64(r);
}

/* Random devices (device 0 the root); memory budgets from generous to tight around an even
 * share of `need` bytes. */
static void random_devices(halo_rng *r, halo_sched_device *dev, int n_dev, uint64_t need,
                           double tightness) {
    for (int d = 0; d < n_dev; d++) {
        double gflops = exp(uniform(r, log(0.05), log(50.0)));
        dev[d] = (halo_sched_device){
            .flops_per_s = gflops * 1e9,
            .mem_bw_bps = exp(uniform(r, log(0.1e9), log(20e9))),
            .mem_bytes = (uint64_t)((double)need / n_dev * uniform(r, tightness, 2.0 * tightness)),
            .op_overhead_ns = (uint64_t)uniform(r, 0, 20000),
            .link_bps = exp(uniform(r, log(10e6), log(1e9))),
            .link_latency_ns = (uint64_t)uniform(r, 0, 2e6),
            .loss = halo_rng_f64(r) < 0.5 ? 0.0 : uniform(r, 0, 0.05),
            .is_root = d == 0};
    }
}

/* ==== Brute force ==== */

typedef struct brute {
    const halo_sched_problem *p;
    halo_sched_solution cur;
    double best;
} brute;

static void brute_ffn(brute *b, int d, int left) {
    int nd = b->p->n_devices;
    if (d == nd - 1) {
        b->cur.n_groups[HALO_SCHED_FFN][d] = left;
        if (halo_sched_check(b->p, &b->cur, NULL) == HALO_OK) {
            double v = halo_sched_eval(b->p, &b->cur, NULL);
            if (v < b->best)
                b->best = v;
        }
        return;
    }
    for (int n = 0; n <= left; n++) {
        b->cur.n_groups[HALO_SCHED_FFN][d] = n;
        brute_ffn(b, d + 1, left - n);
    }
}

static void brute_attn(brute *b, int d, int left) {
    int nd = b->p->n_devices;
    if (d == nd - 1) {
        b->cur.n_groups[HALO_SCHED_ATTN][d] = left;
        brute_ffn(b, 0, b->p->groups.n_ffn);
        return;
    }
    for (int n = 0; n <= left; n++) {
        b->cur.n_groups[HALO_SCHED_ATTN][d] = n;
        brute_attn(b, d + 1, left - n);
    }
}

/* The optimum by enumerating every count vector; HUGE_VAL when nothing fits. */
static double brute_force(const halo_sched_problem *p) {
    brute b = {.p = p, .best = HUGE_VAL};
    ASSERT_OK(halo_sched_solution_init(&b.cur, p->n_devices, NULL));
    brute_attn(&b, 0, p->groups.n_attn);
    halo_sched_solution_free(&b.cur);
    return b.best;
}

/* ==== Cases ==== */

static void heuristic_places_every_group_within_memory(void) {
    halo_rng r;
    halo_rng_init(&r, 11);
    halo_sched_device dev[16];
    int solved = 0, tight = 0;
    for (int it = 0; it < 300; it++) {
        int n_dev = 1 + (int)(halo_rng_u64(&r) % 16);
        int kv_opts[] = {1, 2, 4, 8, 16};
        halo_model_config cfg =
            tiny_cfg(kv_opts[halo_rng_u64(&r) % 5], 1 + (int)(halo_rng_u64(&r) % 200), 4);
        halo_sched_problem p;
        init_problem(&p, &cfg, dev, n_dev);
        random_devices(&r, dev, n_dev, total_need(&p), uniform(&r, 0.9, 3.0));
        halo_sched_solution s;
        ASSERT_OK(halo_sched_solution_init(&s, n_dev, NULL));
        halo_err err = {0};
        int rc = halo_sched_solve_heuristic(&p, &s, &err);
        if (rc == HALO_OK) {
            ASSERT_OK(halo_sched_check(&p, &s, NULL));
            ASSERT_NEAR(s.objective_ns, halo_sched_eval(&p, &s, NULL), 1e-9 * s.objective_ns);
            solved++;
            tight += !s.optimal;
        } else {
            ASSERT_EQ(rc, HALO_ERR_ARG);
            ASSERT_STR_CONTAINS(err.msg, "sched: ");
        }
        halo_sched_solution_free(&s);
    }
    ASSERT(solved > 200);
    ASSERT(tight > 20); /* the memory-constrained path was exercised */
}

static void total_memory_too_small_is_a_clear_error(void) {
    plain f;
    plain_problem(&f, 3, 4, 8, 2);
    for (int d = 0; d < 3; d++)
        f.dev[d].mem_bytes = total_need(&f.p) / 3 - 1;
    solvers_refuse(&f.p, "total memory too small", "total memory too small");
}

static void group_larger_than_every_device_is_a_clear_error(void) {
    plain f;
    plain_problem(&f, 2, 4, 8, 2);
    f.dev[0].mem_bytes = f.dev[1].mem_bytes = halo_sched_group_bytes(&f.p, HALO_SCHED_ATTN) - 1;
    solvers_refuse(&f.p, "one attention group needs", "one attention group needs");
}

static void fragmented_memory_is_infeasible_for_both_solvers(void) {
    /* Attention groups of 2.5 FFN groups; two devices of 1.6 attention groups each hold one
     * attention group and one FFN group, but three FFN groups must be placed. The totals
     * fit exactly, and either block alone fits. */
    plain f;
    plain_problem(&f, 2, 2, 3, 1);
    uint64_t sf = halo_sched_group_bytes(&f.p, HALO_SCHED_FFN);
    f.p.kv_bytes = 0;
    uint64_t sa0 = halo_sched_group_bytes(&f.p, HALO_SCHED_ATTN);
    ASSERT(sf * 5 / 2 > sa0);
    f.p.kv_bytes = sf * 5 / 2 - sa0;
    ASSERT_EQ(halo_sched_group_bytes(&f.p, HALO_SCHED_ATTN), sf * 5 / 2);
    f.dev[0].mem_bytes = f.dev[1].mem_bytes = sf * 4; /* 1.6 attention groups */
    ASSERT_EQ(total_need(&f.p), f.dev[0].mem_bytes + f.dev[1].mem_bytes);
    solvers_refuse(&f.p, "not device by device", "no schedule fits memory");
    ASSERT(brute_force(&f.p) == HUGE_VAL);
}

static void bad_device_is_named(void) {
    plain f;
    plain_problem(&f, 3, 2, 3, 1);
    f.dev[2].loss = 1.0;
    solvers_refuse(&f.p, "device 2: loss 1", NULL);
    f.dev[2].loss = 0;
    f.dev[1].flops_per_s = 0;
    solvers_refuse(&f.p, NULL, "device 1: flops_per_s 0");
}

static void exact_matches_brute_force_and_bounds_heuristic(void) {
    halo_rng r;
    halo_rng_init(&r, 7);
    halo_sched_device dev[3];
    int compared = 0, infeasible = 0, heur_optimal = 0;
    for (int it = 0; it < 400; it++) {
        int n_dev = 2 + (int)(halo_rng_u64(&r) % 2);
        int kv_opts[] = {1, 2, 4};
        halo_model_config cfg =
            tiny_cfg(kv_opts[halo_rng_u64(&r) % 3], 1 + (int)(halo_rng_u64(&r) % 8), 2);
        halo_sched_problem p;
        init_problem(&p, &cfg, dev, n_dev);
        p.kv_bytes = (uint64_t)uniform(&r, 0, 4.0 * (double)p.kv_bytes);
        p.loss_penalty_ns = (uint64_t)uniform(&r, 0, 20e6);
        random_devices(&r, dev, n_dev, total_need(&p), uniform(&r, 0.8, 2.0));
        /* Compute-bound tiny groups: slow the devices so compute and links both matter. */
        for (int d = 0; d < n_dev; d++) {
            dev[d].flops_per_s *= 1e-4;
            dev[d].mem_bw_bps *= 1e-4;
        }
        double best = brute_force(&p);
        halo_sched_solution ex, he;
        ASSERT_OK(halo_sched_solution_init(&ex, n_dev, NULL));
        ASSERT_OK(halo_sched_solution_init(&he, n_dev, NULL));
        halo_err err = {0};
        int rc_ex = halo_sched_solve_exact(&p, EXACT_MS, &ex, &err);
        int rc_he = halo_sched_solve_heuristic(&p, &he, NULL);
        if (best == HUGE_VAL) {
            ASSERT_EQ(rc_ex, HALO_ERR_ARG);
            ASSERT_EQ(rc_he, HALO_ERR_ARG);
            infeasible++;
        } else {
            if (rc_ex != HALO_OK)
                TEST_FAIL_AT("instance %d: exact failed: %s", it, err.msg);
            ASSERT_OK(rc_he);
            ASSERT(ex.optimal);
            ASSERT_OK(halo_sched_check(&p, &ex, NULL));
            ASSERT_OK(halo_sched_check(&p, &he, NULL));
            ASSERT_NEAR(ex.objective_ns, best, 1e-9 * best);
            ASSERT(he.objective_ns >= best * (1.0 - 1e-9));
            heur_optimal += he.objective_ns <= best * (1.0 + 1e-9);
            if (he.optimal)
                ASSERT_NEAR(he.objective_ns, best, 1e-9 * best);
            compared++;
        }
        halo_sched_solution_free(&ex);
        halo_sched_solution_free(&he);
    }
    ASSERT(compared > 300);
    ASSERT(infeasible > 0);
    ASSERT(heur_optimal > compared * 9 / 10);
}

static void faster_devices_get_proportionally_more_groups(void) {
    halo_model_config cfg = tiny_cfg(12, 60, 2);
    halo_sched_device dev[3] = {plain_device(1, 1), plain_device(2, 0), plain_device(3, 0)};
    halo_sched_problem p;
    init_problem(&p, &cfg, dev, 3);
    halo_sched_solution s, ex;
    solve_both(&p, &s, &ex);
    ASSERT(s.optimal);
    int want_attn[3] = {2, 4, 6}, want_ffn[3] = {10, 20, 30};
    for (int d = 0; d < 3; d++) {
        ASSERT_EQ(s.n_groups[HALO_SCHED_ATTN][d], want_attn[d]);
        ASSERT_EQ(s.n_groups[HALO_SCHED_FFN][d], want_ffn[d]);
    }
    agree_and_free(&s, &ex);
}

static void lossy_device_gets_fewer_groups_than_clean_twin(void) {
    halo_model_config cfg = tiny_cfg(8, 96, 2);
    halo_sched_device dev[3] = {plain_device(0.5, 1), plain_device(0.5, 0), plain_device(0.5, 0)};
    for (int d = 1; d < 3; d++) {
        dev[d].link_bps = 100e6;
        dev[d].link_latency_ns = 100000;
    }
    dev[2].loss = 0.02;
    halo_sched_problem p;
    init_problem(&p, &cfg, dev, 3);
    p.loss_penalty_ns = 2000000;
    halo_sched_solution he, ex;
    solve_both(&p, &he, &ex);
    const halo_sched_solution *sols[2] = {&he, &ex};
    for (int i = 0; i < 2; i++) {
        const halo_sched_solution *s = sols[i];
        ASSERT(s->n_groups[HALO_SCHED_FFN][2] > 0); /* still used, but less */
        ASSERT(s->n_groups[HALO_SCHED_FFN][2] < s->n_groups[HALO_SCHED_FFN][1]);
        ASSERT(s->n_groups[HALO_SCHED_ATTN][2] <= s->n_groups[HALO_SCHED_ATTN][1]);
    }
    agree_and_free(&he, &ex);
}

static void tight_memory_moves_groups_off_the_fast_device(void) {
    /* The fast root would take nearly everything, but holds only a quarter of the model. */
    halo_model_config cfg = tiny_cfg(8, 64, 4);
    halo_sched_device dev[3] = {plain_device(8, 1), plain_device(1, 0), plain_device(1, 0)};
    halo_sched_problem p;
    init_problem(&p, &cfg, dev, 3);
    dev[0].mem_bytes = total_need(&p) / 4;
    halo_sched_solution s, ex;
    solve_both(&p, &s, &ex);
    ASSERT_OK(halo_sched_check(&p, &s, NULL));
    ASSERT(!s.optimal);
    uint64_t used = (uint64_t)s.n_groups[0][0] * halo_sched_group_bytes(&p, 0) +
                    (uint64_t)s.n_groups[1][0] * halo_sched_group_bytes(&p, 1);
    ASSERT(used * 10 >= dev[0].mem_bytes * 9); /* the fast device is nearly full */
    ASSERT(ex.optimal);
    ASSERT(s.objective_ns >= ex.objective_ns * (1.0 - 1e-9));
    ASSERT(s.objective_ns <= ex.objective_ns * 1.05);
    halo_sched_solution_free(&ex);
    halo_sched_solution_free(&s);
}

static void placement_from_solution_validates_with_right_counts(void) {
    halo_model_config cfg = tiny_cfg(8, 40, 3);
    halo_sched_device dev[4] = {plain_device(1, 1), plain_device(3, 0), plain_device(0.2, 0),
                                plain_device(2, 0)};
    dev[2].link_latency_ns = 50000000; /* so slow a link that device 2 takes nothing */
    halo_sched_problem p;
    init_problem(&p, &cfg, dev, 4);
    halo_sched_solution s;
    ASSERT_OK(halo_sched_solution_init(&s, 4, NULL));
    ASSERT_OK(halo_sched_solve_heuristic(&p, &s, NULL));
    ASSERT_EQ(s.n_groups[HALO_SCHED_ATTN][2] + s.n_groups[HALO_SCHED_FFN][2], 0);
    halo_placement pl;
    ASSERT_OK(halo_sched_to_placement(&s, &p.groups, &pl, NULL));
    ASSERT_OK(halo_placement_check(&pl, NULL));
    ASSERT_EQ(pl.n_devices, 4);
    for (int l = 0; l < cfg.n_layers; l++) {
        for (int d = 0; d < 4; d++) {
            int a, f;
            halo_placement_count(&pl, l, d, &a, &f);
            ASSERT_EQ(a, s.n_groups[HALO_SCHED_ATTN][d]);
            ASSERT_EQ(f, s.n_groups[HALO_SCHED_FFN][d]);
        }
        /* Contiguous runs in device order. */
        for (int i = 1; i < p.groups.n_attn; i++)
            ASSERT(pl.attn[l * p.groups.n_attn + i] >= pl.attn[l * p.groups.n_attn + i - 1]);
        for (int i = 1; i < p.groups.n_ffn; i++)
            ASSERT(pl.ffn[l * p.groups.n_ffn + i] >= pl.ffn[l * p.groups.n_ffn + i - 1]);
    }
    /* The explicit spec parses to the same placement. */
    char buf[1024];
    size_t len = 0;
    ASSERT_OK(halo_sched_spec(&s, &p.groups, buf, sizeof buf, &len, NULL));
    ASSERT_EQ(len, strlen(buf));
    halo_placement parsed;
    ASSERT_OK(halo_placement_parse(&parsed, &p.groups, 4, buf, NULL));
    ASSERT(memcmp(parsed.attn, pl.attn, (size_t)cfg.n_layers * p.groups.n_attn * 2) == 0);
    ASSERT(memcmp(parsed.ffn, pl.ffn, (size_t)cfg.n_layers * p.groups.n_ffn * 2) == 0);
    halo_placement_free(&parsed);
    /* Too small a buffer and counts that do not sum are errors. */
    halo_err err = {0};
    ASSERT_EQ(halo_sched_spec(&s, &p.groups, buf, 12, NULL, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "too small");
    s.n_groups[HALO_SCHED_FFN][0]++;
    ASSERT_EQ(halo_sched_to_placement(&s, &p.groups, &parsed, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "41 ffn groups placed, expected 40");
    halo_placement_free(&pl);
    halo_sched_solution_free(&s);
}

static void exact_under_a_tiny_time_limit_still_returns_a_valid_schedule(void) {
    halo_rng r;
    halo_rng_init(&r, 5);
    static halo_sched_device dev[16];
    halo_model_config cfg;
    ASSERT_OK(halo_scenario_shape("llama2-7b", &cfg));
    cfg.seq_len = 2048;
    halo_sched_problem p;
    ASSERT_OK(halo_sched_problem_init(&p, &cfg, HALO_WEIGHT_Q40, 32, dev, 16, NULL));
    halo_sched_solution he, ex;
    ASSERT_OK(halo_sched_solution_init(&he, 16, NULL));
    ASSERT_OK(halo_sched_solution_init(&ex, 16, NULL));
    for (int it = 0; it < 3; it++) {
        random_devices(&r, dev, 16, total_need(&p), 1.1);
        ASSERT_OK(halo_sched_solve_heuristic(&p, &he, NULL));
        ASSERT_OK(halo_sched_solve_exact(&p, 1, &ex, NULL));
        ASSERT_OK(halo_sched_check(&p, &ex, NULL));
        ASSERT(ex.objective_ns <= he.objective_ns);
        ASSERT_NEAR(ex.objective_ns, halo_sched_eval(&p, &ex, NULL), 1e-9 * ex.objective_ns);
    }
    halo_err err = {0};
    ASSERT_EQ(halo_sched_solve_exact(&p, 0, &ex, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "time limit 0 ms");
    halo_sched_solution_free(&he);
    halo_sched_solution_free(&ex);
}

static double now_s(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void heuristic_is_fast_for_64_devices(void) {
    /* 40 KV heads and 3456 FFN groups of 4 neurons over 64 devices, memory tight. */
    halo_model_config cfg;
    ASSERT_OK(halo_scenario_shape("llama2-13b", &cfg));
    cfg.seq_len = 2048;
    static halo_sched_device dev[64];
    halo_rng r;
    halo_rng_init(&r, 3);
    halo_sched_problem p;
    ASSERT_OK(halo_sched_problem_init(&p, &cfg, HALO_WEIGHT_Q40, 4, dev, 64, NULL));
    halo_sched_solution s;
    ASSERT_OK(halo_sched_solution_init(&s, 64, NULL));
    double worst = 0;
    for (int it = 0; it < 10; it++) {
        random_devices(&r, dev, 64, total_need(&p), it < 5 ? 3.0 : 1.05);
        double t0 = now_s();
        ASSERT_OK(halo_sched_solve_heuristic(&p, &s, NULL));
        double t = now_s() - t0;
        worst = t > worst ? t : worst;
        ASSERT_OK(halo_sched_check(&p, &s, NULL));
    }
    halo_sched_solution_free(&s);
    (void)printf("# heuristic, 64 devices, 40 + 3456 groups: worst %.3f ms\n", worst * 1e3);
    ASSERT(worst < 0.25); /* a generous bound for sanitizers and emulators */
}

TEST_MAIN(TEST(heuristic_places_every_group_within_memory),
          TEST(total_memory_too_small_is_a_clear_error),
          TEST(group_larger_than_every_device_is_a_clear_error),
          TEST(fragmented_memory_is_infeasible_for_both_solvers), TEST(bad_device_is_named),
          TEST(exact_matches_brute_force_and_bounds_heuristic),
          TEST(faster_devices_get_proportionally_more_groups),
          TEST(lossy_device_gets_fewer_groups_than_clean_twin),
          TEST(tight_memory_moves_groups_off_the_fast_device),
          TEST(placement_from_solution_validates_with_right_counts),
          TEST(exact_under_a_tiny_time_limit_still_returns_a_valid_schedule),
          TEST(heuristic_is_fast_for_64_devices))
