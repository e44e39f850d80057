/*
 * The exact load-balancing schedule: the scheduler's problem (core/sched.h) as a mixed
 * integer linear programme solved by GLPK's branch and cut. It is the reference the
 * heuristic (halo_sched_solve_heuristic) is measured against (tools/sched_gap.c,
 * docs/scheduler.md). It sits beside the heuristic but is its own library,
 * halo_sched_exact (core/CMakeLists.txt), because halo_core links nothing beyond libc, libm
 * and pthreads: only what measures the heuristic (tests/test_sched.c, tools/sched_gap.c)
 * links GLPK.
 *
 * Formulation, per device d and block k in {attention, FFN} (fixed_dk and per_dk from
 * halo_sched_coeffs, size_k from halo_sched_group_bytes, N_k groups):
 *   variables  n_dk integer in [0, U_dk], U_dk = min(N_k, mem_d / size_k);
 *              y_dk binary (device d works in block k); T_k >= 0
 *   minimise   T_attn + T_ffn
 *   subject to T_k - fixed_dk * y_dk - per_dk * n_dk >= 0     (the block's max)
 *              n_dk - U_dk * y_dk <= 0,  n_dk - y_dk >= 0       (y_dk = [n_dk > 0])
 *              sum_d n_dk = N_k
 *              size_attn * n_d,attn + size_ffn * n_d,ffn <= mem_d
 *              for identical devices d < e (consecutive in their class):
 *                (N_ffn + 1) * n_d,attn + n_d,ffn >= (N_ffn + 1) * n_e,attn + n_e,ffn
 *                (symmetry breaking: identical devices in non-increasing order)
 *              T_attn + T_ffn <= the heuristic's objective (a valid cut that prunes the
 *                search as an incumbent would)
 * The roofline's max(flops/rate, bytes/bandwidth) is linear in n with both terms through
 * the origin, so per device the binding one (per_dk) is exact.
 *
 * GLPK itself keeps no state between calls here; terminal output is switched off
 * (glp_term_out is per thread in GLPK 5). Not reentrant with other GLPK users that want
 * terminal output on the same thread.
 */
#ifndef HALO_SCHED_EXACT_H
#define HALO_SCHED_EXACT_H

#include "core/sched.h"
#include "core/status.h"

/*
 * Solves `p` exactly within `time_limit_ms` (> 0). `out` must be initialised for
 * p->n_devices devices; it receives the best schedule found, GLPK's or the heuristic's
 * (halo_sched_solve_heuristic runs first and bounds the search), with out->optimal = 1
 * when GLPK proved optimality (up to its relative tolerances, below 1e-6 of the objective),
 * 0 when the time limit stopped the search first. GLPK's counts are checked in exact
 * integer arithmetic (halo_sched_check) before they are returned.
 * Errors: HALO_ERR_ARG (bad problem; no schedule fits memory, the message says which bound;
 * or GLPK could not solve the instance, the message names GLPK's return code),
 * HALO_ERR_TIMEOUT (time limit without any schedule; cannot happen when the heuristic finds
 * one), HALO_ERR_NOMEM.
 */
int halo_sched_solve_exact(const halo_sched_problem *p, int time_limit_ms, halo_sched_solution *out,
                           halo_err *err);

#endif /* HALO_SCHED_EXACT_H */
