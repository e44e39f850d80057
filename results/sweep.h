/*
 * Sweeps: every (point, run) of a scenario's sweep axes, simulated (sim/simrun.h) and stored
 * in the results database (results/db.h), one transaction per run. A sweep is planned
 * first (the points and their runs, this shard's share, minus what the database already
 * holds: that is resume), then run, either in this process or in worker processes that the
 * sweep forks and feeds one run at a time. Each run is a pure function of (scenario, point,
 * run) and owns its simulator; a worker that dies takes only its run in flight with it, and
 * SQLite's locking (WAL) serialises the writers.
 *
 * Several machines: a shard (i, n) takes the runs whose index in point-major order is
 * i mod n; i and n may come from a launcher (MPI, PMI, a Slurm job array), and "%r" in a
 * database path becomes i, so that each rank writes its own file (merged with
 * halo_db_merge).
 *
 * Not here: option parsing and printing (the `halo sweep` command reports through the
 * callback below and prints what it likes).
 */
#ifndef HALO_RESULTS_SWEEP_H
#define HALO_RESULTS_SWEEP_H

#include "core/status.h"

#include <stddef.h>

/* ==== Shards ==== */

/*
 * Parses a shard: "I/N" (0 <= I < N) or "auto" (halo_sweep_shard_from_env) into
 * *shard_idx and *n_shards. Errors: HALO_ERR_ARG ("'abc' is not I/N (e.g. 0/4) or auto",
 * "'3/2' needs 0 <= I < N"); the message does not name the option, the caller prefixes it.
 */
int halo_sweep_shard_parse(const char *spec, long *shard_idx, long *n_shards, halo_err *err);

/*
 * The shard of this process from a launcher's environment: Open MPI
 * (OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE), PMI (PMI_RANK / PMI_SIZE), PMIx
 * (PMIX_RANK / OMPI_COMM_WORLD_SIZE), or a Slurm job array (SLURM_ARRAY_TASK_ID minus
 * SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT). Errors: HALO_ERR_ARG naming the variable
 * (not a number, rank not below size, task outside the array) or saying that no launcher
 * rank was found.
 */
int halo_sweep_shard_from_env(long *shard_idx, long *n_shards, halo_err *err);

/*
 * `pattern` with every "%r" replaced by shard_idx, into buf (cap bytes). Errors:
 * HALO_ERR_ARG ("path too long").
 */
int halo_sweep_db_path(const char *pattern, long shard_idx, char *buf, size_t cap, halo_err *err);

/* ==== Planning ==== */

typedef struct halo_sweep_config {
    const char *scenario_path; /* the scenario file */
    const char *db_path;       /* the results database (created when missing, unless
                                  list_only; its directory must exist) */
    const char *eval_path;     /* evaluation text for every numerics point, or NULL: each
                                  point's workload.eval, if any */
    long max_stories;          /* evaluate at most this many stories; < 0: all */
    long shard_idx, n_shards;  /* this shard: 0 <= shard_idx < n_shards */
    int list_only;             /* plan only: read an existing database (a missing one has
                                  nothing stored), create and write nothing */
} halo_sweep_config;

/* One run of a sweep. */
typedef struct halo_sweep_item {
    long point; /* the scenario's sweep point */
    int run;    /* replication, 0..runs-1 */
} halo_sweep_item;

typedef struct halo_sweep halo_sweep;

/*
 * Plans the sweep of cfg->scenario_path: reads the evaluation text, loads every point (the
 * number of runs may itself be a sweep axis) and its identity (results/identity.h), opens or
 * creates the database and records the scenario (not with list_only), and keeps this shard's
 * runs that the database does not hold: those to simulate, and those to copy from a stored
 * run (or an earlier point) with the same identity. A point that fails to load (a bad value
 * in one axis) is planned like the others and fails only its own runs; the plan fails only
 * when no point loads. The config's strings are borrowed until halo_sweep_free. Nothing is created
 * when the scenario or the evaluation text cannot be read. *out is NULL on failure.
 * Errors: those of halo_scenario_load (HALO_ERR_IO, HALO_ERR_FORMAT naming file, line and
 * key), of reading the evaluation text (HALO_ERR_IO, HALO_ERR_FORMAT), of halo_db_new,
 * HALO_ERR_ARG (a bad shard), HALO_ERR_NOMEM.
 */
int halo_sweep_new(halo_sweep **out, const halo_sweep_config *cfg, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_sweep_free(halo_sweep *w);

/* This shard's runs, those of them already in the database, and those left to do. */
long halo_sweep_n_runs(const halo_sweep *w);
long halo_sweep_n_stored(const halo_sweep *w);
long halo_sweep_n_todo(const halo_sweep *w);

/* The runs left to simulate, (halo_sweep_n_todo) in point-major order; owned by w. */
const halo_sweep_item *halo_sweep_todo(const halo_sweep *w);

/*
 * The runs left to do that are not simulated but copied (halo_sweep_n_copies of them, owned
 * by w): their point's identity (results/identity.h) is that of a run already stored under
 * the same scenario name (an unchanged point of an edited scenario), or of an earlier point
 * of this sweep (an axis that changes nothing there, such as tau under baseline dllama),
 * which is simulated first.
 */
long halo_sweep_n_copies(const halo_sweep *w);
const halo_sweep_item *halo_sweep_copies(const halo_sweep *w);

/* The label of a point ("engine.tau=0.5 ..."; owned by w), or NULL for a point that does not
   load (its runs fail with the error). */
const char *halo_sweep_point_label(const halo_sweep *w, long point);

/* Warnings of the plan (static text owned by w): axes that change nothing at some points,
   which are therefore simulated once and copied. */
int halo_sweep_n_warnings(const halo_sweep *w);
const char *halo_sweep_warning(const halo_sweep *w, int i);

/* ==== Running ==== */

/* Counts so far, over the runs left to do when the sweep started. */
typedef struct halo_sweep_progress {
    long done;   /* stored (or found stored by another writer meanwhile) */
    long failed; /* failed or lost with their worker process */
    long total;  /* runs to do */
} halo_sweep_progress;

/*
 * Called in the calling process after every run: `item` is the run (NULL: a worker process
 * failed before any run, `status` and `err` say why), `status` HALO_OK or the run's error
 * with `err` (borrowed for the call) naming it; `p` the counts including this run. A
 * progress callback: it is called once per finished run, also when halo_sweep_run then
 * returns an error.
 */
typedef void (*halo_sweep_cb)(void *ctx, const halo_sweep_item *item, int status,
                              const halo_err *err, const halo_sweep_progress *p);

/*
 * Runs every run left to do and stores it: in this process when jobs <= 1, else in
 * min(jobs, runs) worker processes forked from this one (they die with it). A run that
 * fails is counted and reported through cb (may be NULL), and the others go on, except
 * when it failed because the database ran out of space (halo_db_out_of_space: a full disk,
 * a quota, the file-size limit): then nothing more is started and the sweep fails, every
 * run stored before kept. *out (may be NULL) receives the final counts. Not for a list_only
 * plan. Errors (the sweep itself, not a run): those of halo_db_new (in-process),
 * HALO_ERR_IO (pipes, fork; runs lost with their worker processes; out of space: the message
 * names the database and how many runs were not attempted), HALO_ERR_NOMEM.
 */
int halo_sweep_run(halo_sweep *w, int jobs, halo_sweep_cb cb, void *ctx, halo_sweep_progress *out,
                   halo_err *err);

#endif /* HALO_RESULTS_SWEEP_H */
