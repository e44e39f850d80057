/*
 * The exact load-balancing schedule with GLPK (see sched_exact.h for the formulation).
 */
#include "core/sched_exact.h"

#include <glpk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Column numbers (GLPK counts from 1): per device four columns, then T_attn, T_ffn. */
static int col_n(int d, int k) {
    return 1 + 4 * d + 2 * k;
}

static int col_y(int d, int k) {
    return 2 + 4 * d + 2 * k;
}

static int col_t(int n_dev, int k) {
    return 1 + 4 * n_dev + k;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int same_device(const halo_sched_device *a, const halo_sched_device *b) {
    return a->flops_per_s == b->flops_per_s && a->mem_bw_bps == b->mem_bw_bps &&
           a->mem_bytes == b->mem_bytes && a->op_overhead_ns == b->op_overhead_ns &&
           a->link_bps == b->link_bps && a->link_latency_ns == b->link_latency_ns &&
           a->loss == b->loss && a->is_root == b->is_root;
}

static const char *glpk_code(int ret) {
    switch (ret) {
    case GLP_EBOUND:
        return "GLP_EBOUND (invalid bounds)";
    case GLP_EROOT:
        return "GLP_EROOT (no optimal root basis)";
    case GLP_ENOPFS:
        return "GLP_ENOPFS (no primal feasible solution)";
    case GLP_ENODFS:
        return "GLP_ENODFS (no dual feasible solution)";
    case GLP_EFAIL:
        return "GLP_EFAIL (solver failure)";
    case GLP_EMIPGAP:
        return "GLP_EMIPGAP (gap tolerance reached)";
    case GLP_ETMLIM:
        return "GLP_ETMLIM (time limit)";
    case GLP_ESTOP:
        return "GLP_ESTOP (stopped by the application)";
    default:
        return "unknown GLPK return code";
    }
}

/* A sparse row under construction: at most 2 * n_dev + 2 entries. */
typedef struct row {
    int n;
    int *ind; /* (1 + cap): GLPK ignores index 0 */
    double *val;
} row;

static void row_add(row *r, int col, double v) {
    r->n++;
    r->ind[r->n] = col;
    r->val[r->n] = v;
}

static int add_row(glp_prob *lp, row *r, int type, double lb, double ub) {
    int i = glp_add_rows(lp, 1);
    glp_set_mat_row(lp, i, r->n, r->ind, r->val);
    glp_set_row_bnds(lp, i, type, lb, ub);
    r->n = 0;
    return i;
}

typedef struct model {
    glp_prob *lp;
    double time_scale; /* ns per unit of T in the LP (times are scaled to O(1) values) */
    int *mem_row;      /* (n_dev): row index of each device's memory constraint, 0 if none */
    double mem_scale;
} model;

/* Columns, time rows, linking rows and the memory row of device d (memory in units of g). */
static void device_rows(model *m, const halo_sched_problem *p, row *r, int d, uint64_t g) {
    int nd = p->n_devices;
    int N[HALO_SCHED_N_BLOCKS] = {p->groups.n_attn, p->groups.n_ffn};
    uint64_t size[HALO_SCHED_N_BLOCKS] = {halo_sched_group_bytes(p, HALO_SCHED_ATTN),
                                          halo_sched_group_bytes(p, HALO_SCHED_FFN)};
    uint64_t mem = p->devices[d].mem_bytes;
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        uint64_t fit = mem / size[k];
        int u = fit < (uint64_t)N[k] ? (int)fit : N[k];
        int cn = col_n(d, k), cy = col_y(d, k);
        glp_set_col_kind(m->lp, cn, GLP_IV);
        glp_set_col_kind(m->lp, cy, GLP_BV);
        if (u == 0) {
            glp_set_col_bnds(m->lp, cn, GLP_FX, 0.0, 0.0);
            glp_set_col_bnds(m->lp, cy, GLP_FX, 0.0, 0.0);
            continue;
        }
        glp_set_col_bnds(m->lp, cn, GLP_DB, 0.0, (double)u);
        double fixed, per;
        halo_sched_coeffs(p, d, k, &fixed, &per);
        row_add(r, col_t(nd, k), 1.0); /* T_k - fixed y - per n >= 0 */
        row_add(r, cy, -fixed / m->time_scale);
        row_add(r, cn, -per / m->time_scale);
        add_row(m->lp, r, GLP_LO, 0.0, 0.0);
        row_add(r, cn, 1.0); /* n - U y <= 0 */
        row_add(r, cy, -(double)u);
        add_row(m->lp, r, GLP_UP, 0.0, 0.0);
        row_add(r, cn, 1.0); /* n - y >= 0 */
        row_add(r, cy, -1.0);
        add_row(m->lp, r, GLP_LO, 0.0, 0.0);
    }
    uint64_t units[3] = {size[0] / g, size[1] / g, mem / g}; /* exact: g divides the sizes */
    row_add(r, col_n(d, HALO_SCHED_ATTN), (double)units[0]);
    row_add(r, col_n(d, HALO_SCHED_FFN), (double)units[1]);
    m->mem_row[d] = add_row(m->lp, r, GLP_UP, 0.0, (double)units[2]);
}

/* The rows that tie devices together: every group placed, identical devices in
 * non-increasing (attention, ffn) order, and the objective cut (HUGE_VAL: none). */
static void coupling_rows(model *m, const halo_sched_problem *p, row *r, double cut) {
    int nd = p->n_devices;
    int N[HALO_SCHED_N_BLOCKS] = {p->groups.n_attn, p->groups.n_ffn};
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        for (int d = 0; d < nd; d++)
            row_add(r, col_n(d, k), 1.0);
        add_row(m->lp, r, GLP_FX, (double)N[k], (double)N[k]);
    }
    double w = (double)N[HALO_SCHED_FFN] + 1.0;
    for (int d = 1; d < nd; d++) {
        for (int e = d - 1; e >= 0; e--) {
            if (!same_device(&p->devices[e], &p->devices[d]))
                continue;
            row_add(r, col_n(e, HALO_SCHED_ATTN), w);
            row_add(r, col_n(e, HALO_SCHED_FFN), 1.0);
            row_add(r, col_n(d, HALO_SCHED_ATTN), -w);
            row_add(r, col_n(d, HALO_SCHED_FFN), -1.0);
            add_row(m->lp, r, GLP_LO, 0.0, 0.0);
            break;
        }
    }
    if (cut < HUGE_VAL) {
        row_add(r, col_t(nd, HALO_SCHED_ATTN), 1.0);
        row_add(r, col_t(nd, HALO_SCHED_FFN), 1.0);
        add_row(m->lp, r, GLP_UP, 0.0, cut / m->time_scale);
    }
}

/*
 * Builds the MILP; `cut` is an upper bound on the objective in ns (HUGE_VAL for none). Times
 * enter in units of `time_scale` ns so that the time rows have coefficients near 1: with
 * raw nanoseconds (up to 1e9) GLPK's simplex declared feasible instances infeasible.
 * Memory rows are in units of g = gcd(group sizes): integer coefficients, so that GLPK's
 * relative feasibility tolerance cannot admit a point over the budget when the budget in
 * units is small (it is for every LLaMA-like shape); halo_sched_check verifies anyway.
 */
static int build(model *m, const halo_sched_problem *p, double cut, halo_err *err) {
    int nd = p->n_devices;
    row r = {0, malloc(((size_t)2 * (size_t)nd + 3) * sizeof(int)),
             malloc(((size_t)2 * (size_t)nd + 3) * sizeof(double))};
    m->mem_row = calloc((size_t)nd, sizeof *m->mem_row);
    m->lp = glp_create_prob();
    if (!r.ind || !r.val || !m->mem_row) {
        free(r.ind);
        free(r.val);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "sched exact: out of memory");
    }
    m->time_scale = 0;
    for (int d = 0; d < nd; d++) {
        for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
            double fixed, per;
            halo_sched_coeffs(p, d, k, &fixed, &per);
            if (fixed + per > m->time_scale)
                m->time_scale = fixed + per;
        }
    }
    glp_set_obj_dir(m->lp, GLP_MIN);
    glp_add_cols(m->lp, 4 * nd + 2);
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++) {
        glp_set_col_bnds(m->lp, col_t(nd, k), GLP_LO, 0.0, 0.0);
        glp_set_obj_coef(m->lp, col_t(nd, k), 1.0);
    }
    uint64_t g = gcd_u64(halo_sched_group_bytes(p, HALO_SCHED_ATTN),
                         halo_sched_group_bytes(p, HALO_SCHED_FFN));
    m->mem_scale = (double)g;
    for (int d = 0; d < nd; d++)
        device_rows(m, p, &r, d, g);
    coupling_rows(m, p, &r, cut);
    free(r.ind);
    free(r.val);
    return HALO_OK;
}

static void model_free(model *m) {
    if (m->lp)
        glp_delete_prob(m->lp);
    free(m->mem_row);
    m->lp = NULL;
    m->mem_row = NULL;
}

/* Reads the counts of GLPK's MIP solution into out. */
static void read_counts(const model *m, int nd, halo_sched_solution *out) {
    for (int d = 0; d < nd; d++)
        for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++)
            out->n_groups[k][d] = (int)lround(glp_mip_col_val(m->lp, col_n(d, k)));
}

/*
 * One GLPK run. Returns HALO_OK with *status = GLP_OPT or GLP_FEAS and the counts in out,
 * or *status = GLP_NOFEAS (proven infeasible), or GLP_UNDEF (time limit, nothing found);
 * other GLPK outcomes are errors.
 */
static int run(model *m, const halo_sched_problem *p, int time_limit_ms, int *status,
               halo_sched_solution *out, halo_err *err) {
    glp_iocp parm;
    glp_init_iocp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    parm.presolve = GLP_ON;
    parm.tm_lim = time_limit_ms;
    parm.mip_gap = 0.0;
    parm.mir_cuts = GLP_ON;
    parm.cov_cuts = GLP_ON;
    int ret = glp_intopt(m->lp, &parm);
    int st = glp_mip_status(m->lp);
    switch (ret) {
    case 0:
    case GLP_ETMLIM:
    case GLP_EMIPGAP:
        break;
    case GLP_ENOPFS: /* the LP relaxation is infeasible, so is the MILP */
        *status = GLP_NOFEAS;
        return HALO_OK;
    default:
        return HALO_FAIL(err, HALO_ERR_ARG, "sched exact: glp_intopt failed: %s", glpk_code(ret));
    }
    switch (st) {
    case GLP_OPT:
    case GLP_FEAS:
        read_counts(m, p->n_devices, out);
        *status = ret == 0 ? st : GLP_FEAS; /* OPT only when the search finished */
        return HALO_OK;
    case GLP_NOFEAS:
        *status = GLP_NOFEAS;
        return HALO_OK;
    case GLP_UNDEF:
        if (ret == 0)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "sched exact: glp_intopt finished without a solution status");
        *status = GLP_UNDEF;
        return HALO_OK;
    default:
        return HALO_FAIL(err, HALO_ERR_ARG, "sched exact: unknown GLPK MIP status %d", st);
    }
}

/*
 * GLPK accepts rows within a relative tolerance; if the counts overrun a device's memory
 * by a few bytes (possible only when the budget in gcd units is huge), that device's bound
 * is lowered by the overrun and the solve is repeated (within the same time limit).
 */
static int fix_memory(model *m, const halo_sched_problem *p, const halo_sched_solution *s) {
    uint64_t sa = halo_sched_group_bytes(p, HALO_SCHED_ATTN);
    uint64_t sf = halo_sched_group_bytes(p, HALO_SCHED_FFN);
    int fixed = 0;
    for (int d = 0; d < p->n_devices; d++) {
        uint64_t used = (uint64_t)s->n_groups[HALO_SCHED_ATTN][d] * sa +
                        (uint64_t)s->n_groups[HALO_SCHED_FFN][d] * sf;
        if (used <= p->devices[d].mem_bytes || !m->mem_row[d])
            continue;
        double over = ceil((double)(used - p->devices[d].mem_bytes) / m->mem_scale);
        double ub = glp_get_row_ub(m->lp, m->mem_row[d]) - over;
        glp_set_row_bnds(m->lp, m->mem_row[d], GLP_UP, 0.0, ub > 0 ? ub : 0.0);
        fixed = 1;
    }
    return fixed;
}

int halo_sched_solve_exact(const halo_sched_problem *p, int time_limit_ms, halo_sched_solution *out,
                           halo_err *err) {
    int rc = halo_sched_problem_check(p, err);
    if (rc != HALO_OK)
        return rc;
    if (time_limit_ms <= 0)
        return HALO_FAIL(err, HALO_ERR_ARG, "sched exact: time limit %d ms, expected > 0",
                         time_limit_ms);
    if (out->n_devices != p->n_devices || !out->n_groups[0] || !out->n_groups[1])
        return HALO_FAIL(err, HALO_ERR_ARG, "sched exact: solution for %d devices, problem has %d",
                         out->n_devices, p->n_devices);

    /* The heuristic's schedule bounds the search (and is the answer of last resort). */
    halo_sched_solution heur;
    rc = halo_sched_solution_init(&heur, p->n_devices, err);
    if (rc != HALO_OK)
        return rc;
    halo_err herr = {0};
    int have_heur = halo_sched_solve_heuristic(p, &heur, &herr) == HALO_OK;
    if (!have_heur && herr.code == HALO_ERR_NOMEM) {
        halo_sched_solution_free(&heur);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s", herr.msg);
    }
    double cut = have_heur ? heur.objective_ns * (1.0 + 1e-6) + 1.0 : HUGE_VAL;

    model m = {0};
    int proven = 0; /* for the heuristic's schedule, when it is returned */
    rc = build(&m, p, cut, err);
    int prev_term = glp_term_out(GLP_OFF);
    int status = GLP_UNDEF;
    double start = glp_time();
    for (int attempt = 0; rc == HALO_OK && attempt < 4; attempt++) {
        double left = time_limit_ms - 1e3 * glp_difftime(glp_time(), start);
        if (left < 1)
            break; /* a re-solve out of time: status is GLP_UNDEF */
        rc = run(&m, p, (int)left, &status, out, err);
        if (rc != HALO_OK || (status != GLP_OPT && status != GLP_FEAS) || !fix_memory(&m, p, out))
            break;
        status = GLP_UNDEF; /* re-solve with the lowered bound */
    }
    glp_term_out(prev_term);
    model_free(&m);
    if (rc != HALO_OK)
        goto done;

    if (status == GLP_OPT || status == GLP_FEAS) {
        halo_err cerr = {0};
        if (halo_sched_check(p, out, &cerr) != HALO_OK) {
            rc = HALO_FAIL(err, HALO_ERR_ARG, "sched exact: GLPK's schedule is invalid: %s",
                           cerr.msg);
            goto done;
        }
        out->objective_ns = halo_sched_eval(p, out, out->block_ns);
        out->optimal = status == GLP_OPT;
        if (!have_heur || !(heur.objective_ns < out->objective_ns))
            goto done;
        /* The heuristic's schedule is better: GLPK's optimum holds within its relative
         * tolerances (below 1e-6 here), so a proof stands for a difference below that. */
        proven = out->optimal && heur.objective_ns >= out->objective_ns * (1.0 - 1e-6);
        goto use_heur;
    }
    if (status == GLP_NOFEAS && !have_heur) {
        rc = HALO_FAIL(err, HALO_ERR_ARG, "sched exact: no schedule fits memory (%s)",
                       herr.msg[0] ? herr.msg : "the MILP is infeasible");
        goto done;
    }
    if (have_heur) /* time limit before GLPK found one, or GLPK contradicts the heuristic */
        goto use_heur;
    rc = HALO_FAIL(err, HALO_ERR_TIMEOUT, "sched exact: no schedule found within %d ms",
                   time_limit_ms);
    goto done;
use_heur:
    for (int k = 0; k < HALO_SCHED_N_BLOCKS; k++)
        memcpy(out->n_groups[k], heur.n_groups[k], (size_t)p->n_devices * sizeof(int));
    out->objective_ns = halo_sched_eval(p, out, out->block_ns);
    out->optimal = proven;
done:
    halo_sched_solution_free(&heur);
    return rc;
}
