/*
 * The results database (SQLite): the schema of results/schema.sql, compiled into the
 * binary; opening with version checks (create, migrate, read-only); one transaction per
 * run; merging databases; a summary per scenario. This is the SQLite boundary: nothing
 * above results/ includes sqlite3.h, and SQLite result codes become halo statuses here,
 * with sqlite3_errmsg() copied into the error message (which names the database file).
 *
 * Not here: what runs to make (results/sweep.h), importing measured runs of real systems
 * (results/measured.h), and reading results back into tables and figures (results/report.h,
 * results/plot.h, results/regress.h).
 *
 * Versioning: PRAGMA user_version holds HALO_DB_VERSION. A database with a newer version is
 * refused (HALO_ERR_FORMAT); an older one is refused unless opened with HALO_DB_MIGRATE
 * (`halo db migrate`), which applies the migrations in order inside one transaction.
 *
 * Concurrency: writers use WAL mode with a busy timeout of 60 s, so several processes (the
 * workers of a sweep, several sweeps) can write to one file; each run is one transaction,
 * and a run is unique on (scenario hash, point, run). Since version 4 the scenario hash is
 * that of its resolved points, and each run carries its point's identity (point_hash and the
 * resolved JSON, results/identity.h).
 */
#ifndef HALO_RESULTS_DB_H
#define HALO_RESULTS_DB_H

#include "core/eval.h"
#include "core/status.h"
#include "sim/scenario.h"
#include "sim/simrun.h"

#include <stddef.h>

/* The schema version this binary writes and reads. */
#define HALO_DB_VERSION 5

/* Flags of halo_db_new. */
enum {
    HALO_DB_READ = 0,    /* read-only: the file must exist and be a halo database */
    HALO_DB_CREATE = 1,  /* create the file and the schema when missing */
    HALO_DB_MIGRATE = 2, /* upgrade an older schema */
};

typedef struct halo_db halo_db;

/*
 * Opens (or creates, with HALO_DB_CREATE) the database at `path` (borrowed; copied).
 * HALO_DB_CREATE and HALO_DB_MIGRATE open for writing in WAL mode. HALO_DB_READ (queries:
 * report, plot, regress, info) only checks the version and writes nothing: the connection
 * refuses every change (PRAGMA query_only), and the write functions below refuse a read-only
 * database with HALO_ERR_ARG. A database this process cannot write (a read-only file or
 * directory) is opened read-only by SQLite itself for HALO_DB_READ, and refused for writing
 * with a message saying so. *out is NULL on failure.
 * Errors: HALO_ERR_ARG (an empty path), HALO_ERR_IO (no such database for HALO_DB_READ, a
 * missing directory, not a regular file, read-only for writing, cannot open: the message
 * names the path), HALO_ERR_FORMAT (not a SQLite or not a
 * halo database, a newer or older schema version: the message names both versions),
 * HALO_ERR_NOMEM. Creating a database that fails leaves no schema half-made.
 */
int halo_db_new(halo_db **out, const char *path, int flags, halo_err *err);

/* Closes; NULL is a no-op. */
void halo_db_free(halo_db *db);

/* The path it was opened with (owned by db). */
const char *halo_db_path(const halo_db *db);

/*
 * 1 once a write to `db` failed for want of space: a full file system (SQLITE_FULL, ENOSPC),
 * a disk quota (EDQUOT) or the file-size limit (EFBIG, ulimit -f). Every later write would
 * fail the same way, so a sweep stops there; what was committed before stays readable (each
 * run is one transaction). 0 otherwise.
 */
int halo_db_out_of_space(const halo_db *db);

/* The schema's SQL text compiled into the binary (static). */
const char *halo_db_schema_sql(void);

/* The git revision of this build's source tree ("unknown" outside git; static): what every
   run records as its git_rev, and what `halo --version` prints. */
const char *halo_db_git_rev(void);

/*
 * Records the scenario's text under `hash` (the sweep's identity of the scenario: sha256 of
 * its name and its points' identities) if not present, and notes that it was swept now
 * (last_seen: the view latest_run reads the version swept last). Errors: HALO_ERR_ARG (read-only
 * database), HALO_ERR_IO (SQLite).
 */
int halo_db_put_scenario(halo_db *db, const halo_scenario *sc, const char *hash, halo_err *err);

/*
 * Sets done[point * runs + run] = 1 for every stored run of the scenario `hash` (done has
 * n_points * runs bytes, zeroed by the caller). Runs and points beyond the bounds are
 * ignored. Errors: HALO_ERR_IO (SQLite).
 */
int halo_db_done_runs(halo_db *db, const char *hash, long n_points, int runs, unsigned char *done,
                      halo_err *err);

/* Provenance of one run that the caller measures (all strings borrowed for the call). */
typedef struct halo_db_run_info {
    const char *scenario_hash; /* hex sha256 of sc->text */
    const char *git_rev;       /* of the binary, or NULL: the build's own revision */
    const char *started_at;    /* UTC ISO 8601 (halo_db_now_utc) */
    const char *finished_at;
    const char *eval_file;  /* evaluation text (when q is given), or NULL */
    const char *eval_hash;  /* its sha256, or NULL */
    const char *point_hash; /* the point's identity (results/identity.h), or NULL: none */
    const char *resolved;   /* the resolved point as JSON, or NULL */
} halo_db_run_info;

/*
 * Writes replication `run` of scenario point `sc` in one transaction: the run row (with the
 * model's sha256, host, versions), its sweep axes, every token, device and layer row of `r`,
 * and the quality row when `q` (with `qr`, the evaluation's timing, may be NULL) is not
 * NULL. *inserted is 1, or 0 when the run was already there (another process won the race;
 * the database is unchanged). On error nothing of the run is stored.
 * Errors: HALO_ERR_ARG (read-only database; quality for a shape-only run), HALO_ERR_IO
 * naming the table (SQLite) or the model file (hashing it).
 */
int halo_db_insert_run(halo_db *db, const halo_scenario *sc, int run, const halo_db_run_info *info,
                       const halo_sim_result *r, const halo_eval_result *q,
                       const halo_sim_result *qr, int *inserted, halo_err *err);

/*
 * The id of a stored run of scenario `scenario_name` whose point has the identity
 * `point_hash` (results/identity.h), replication `run`, into *id (a simulated run before a
 * copy of one); 0 when there is none. Errors: HALO_ERR_IO (SQLite).
 */
int halo_db_find_run(halo_db *db, const char *scenario_name, const char *point_hash, int run,
                     long long *id, halo_err *err);

/*
 * Stores stored run `src_id` again as replication `run` of point `sc` (same identity, another
 * point or scenario version), in one transaction: the run row with the point's own columns
 * (scenario hash from info, name, point, label, settings, identity) and the source's results
 * and provenance, copied_from naming the simulated run (scenario_hash/point/run), its axes
 * from sc's label, and copies of its token, device, layer and quality rows. Nothing is
 * simulated. *inserted is 1, or 0 when (scenario hash, point, run) was already stored.
 * Errors: HALO_ERR_ARG (read-only database, no such run), HALO_ERR_IO (SQLite).
 */
int halo_db_copy_run(halo_db *db, long long src_id, const halo_scenario *sc, int run,
                     const halo_db_run_info *info, int *inserted, halo_err *err);

/*
 * Copies every run of the database at `src_path` that `db` does not have (same scenario
 * hash, point and run) into `db`, with its rows, and every measured run it does not have
 * (same harness, cell, run and source) with its tokens, in one transaction; the source is
 * only read. *n_copied and *n_skipped count runs, *n_measured (when not NULL) the measured
 * runs copied.
 * Errors: as halo_db_new (HALO_DB_READ) for the source, HALO_ERR_ARG (db is read-only),
 * HALO_ERR_IO (SQLite; db is then unchanged).
 */
int halo_db_merge(halo_db *db, const char *src_path, long *n_copied, long *n_skipped,
                  long *n_measured, halo_err *err);

/* Runs stored (all scenarios) into *n. Errors: HALO_ERR_IO, HALO_ERR_FORMAT. */
int halo_db_count_runs(halo_db *db, long *n, halo_err *err);

/* The runs of one scenario version (results/identity.h), for `halo db info`. */
typedef struct halo_db_scenario_info {
    char name[128]; /* the scenario's name */
    char hash[65];  /* its identity: hex sha256 of its name and points */
    char kind[16];  /* "numerics" or "shape-only" (of one of its runs) */
    long n_runs;    /* runs stored */
    long n_points;  /* distinct points among them */
} halo_db_scenario_info;

/* The measured runs imported from one directory by one harness (results/measured.h). */
typedef struct halo_db_measured_info {
    char harness[64]; /* what measured ("ground-truth") */
    char source[256]; /* the directory imported from (cut when longer) */
    long n_runs;      /* runs stored */
    long n_cells;     /* distinct cells (system/model/nodes/loss) among them */
    long n_tokens;    /* token intervals stored */
    long n_mirrored;  /* of the cells, those with a simulated counterpart (view fidelity) */
} halo_db_measured_info;

typedef struct halo_db_info {
    int version;                      /* schema version */
    long n_scenarios;                 /* scenario versions with runs */
    halo_db_scenario_info *scenarios; /* (n_scenarios), in the order of their first run */
    long n_measured_runs;             /* measured runs stored (all harnesses and sources) */
    long n_measured;                  /* (harness, source) groups of them */
    halo_db_measured_info *measured;  /* (n_measured), in the order of their first import */
} halo_db_info;

/*
 * Fills *info (overwritten; free with halo_db_info_free) with the schema version, the runs
 * per scenario version and the measured runs per harness and source. Errors: HALO_ERR_IO
 * (SQLite), HALO_ERR_NOMEM.
 */
int halo_db_get_info(halo_db *db, halo_db_info *info, halo_err *err);

/* Frees what an info holds; safe on a zeroed one. */
void halo_db_info_free(halo_db_info *info);

/* Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (>= 32 bytes). */
void halo_db_now_utc(char *buf, size_t size);

#endif /* HALO_RESULTS_DB_H */
