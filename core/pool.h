/*
 * A fixed pool of worker threads that runs one data-parallel job at a time: fn(arg, i) for
 * every task i in [0, n_tasks). The calling thread works too, and halo_pool_run returns when
 * every task has finished. Which thread runs which task is not fixed, so tasks must write
 * disjoint outputs; results are then independent of the thread count.
 *
 * Idle workers spin briefly, then sleep on a condition variable, so a pool costs nothing
 * between generations. No global state: several pools may coexist.
 */
#ifndef HALO_POOL_H
#define HALO_POOL_H

#include "core/status.h"

typedef struct halo_pool halo_pool;

typedef void (*halo_pool_fn)(void *arg, int task_idx);

/*
 * Creates a pool of `n_threads` threads in all, the caller's included (1 = no extra thread;
 * 0 = one per online core). Errors: HALO_ERR_ARG (n_threads < 0 or > 1024),
 * HALO_ERR_NOMEM (threads or memory unavailable).
 */
int halo_pool_new(halo_pool **out, int n_threads, halo_err *err);

/* Stops and joins the workers; NULL is a no-op. No job may be running. */
void halo_pool_free(halo_pool *pool);

/* Threads in the pool, the caller's included; 1 for a NULL pool. */
int halo_pool_n_threads(const halo_pool *pool);

/* Below this many multiply-adds (or units of like cost) a job costs more to hand out than
   to do. */
#define HALO_POOL_MIN_PARALLEL (1L << 17)

/*
 * How a job of n_items items (rows, row groups), `work` multiply-adds in all, is split over
 * the pool: four tasks per thread, which balances uneven progress, of at least
 * min_per_task items each. Returns the number of tasks for halo_pool_run and sets
 * *per_task (items per task, the last task takes the rest); returns 0, leaving *per_task
 * alone, when the job is better done on the caller's thread (one thread, or less work than
 * HALO_POOL_MIN_PARALLEL).
 */
int halo_pool_split(const halo_pool *pool, int n_items, long work, int min_per_task, int *per_task);

/* Number of online cores (at least 1). */
int halo_pool_default_threads(void);

/*
 * Runs fn(arg, i) for i in [0, n_tasks) and returns when all have finished. A NULL pool or
 * a single thread runs them in order on the caller's thread. Not re-entrant: fn must not
 * call halo_pool_run on the same pool.
 */
void halo_pool_run(halo_pool *pool, halo_pool_fn fn, void *arg, int n_tasks);

#endif /* HALO_POOL_H */
