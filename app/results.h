/*
 * The results database (SQLite): the schema of results/schema.sql, compiled into the
 * binary; opening with version checks; one transaction per run; merging databases.
 * Only the app layer links SQLite (DESIGN.md); SQLite result codes become halo statuses
 * here, with sqlite3_errmsg() copied into the error message.
 *
 * Versioning: PRAGMA user_version holds HALO_DB_VERSION. A database with a newer version is
 * refused (HALO_ERR_FORMAT); an older one is refused unless opened with HALO_DB_MIGRATE
 * (`halo db migrate`), which applies the migrations in order inside one transaction.
 */
#ifndef HALO_APP_RESULTS_H
#define HALO_APP_RESULTS_H

#include "core/eval.h"
#include "core/status.h"
#include "sim/scenario.h"
#include "sim/simrun.h"

#include <sqlite3.h>

/* The schema version this binary writes and reads. */
#define HALO_DB_VERSION 1

/* Flags of halo_db_new. */
enum {
    HALO_DB_READ = 0,    /* the file must exist and be a halo database */
    HALO_DB_CREATE = 1,  /* create the file and the schema when missing */
    HALO_DB_MIGRATE = 2, /* upgrade an older schema */
};

typedef struct halo_db halo_db;

/*
 * Opens (or creates, with HALO_DB_CREATE) the database at `path` in WAL mode with a busy
 * timeout of 60 s, so that several processes can write to it. HALO_DB_READ (queries) writes
 * nothing and only checks the version. *out is NULL on failure.
 * Errors: HALO_ERR_IO (cannot open or create: the message names the path and, for a missing
 * directory, says so), HALO_ERR_FORMAT (not a halo database, or a newer or older schema
 * version: the message names both versions), HALO_ERR_NOMEM.
 */
int halo_db_new(halo_db **out, const char *path, int flags, halo_err *err);

/* Closes; NULL is a no-op. */
void halo_db_free(halo_db *db);

/* The connection, for read-only queries by plot and report (owned by db). */
sqlite3 *halo_db_handle(halo_db *db);

/* The schema's SQL text compiled into the binary (static). */
const char *halo_db_schema_sql(void);

/*
 * Records the scenario's text under its hash (hex sha256 of sc->text) if not present.
 * Errors: HALO_ERR_IO (SQLite).
 */
int halo_db_put_scenario(halo_db *db, const halo_scenario *sc, const char *hash, halo_err *err);

/*
 * Sets done[point * runs + run] = 1 for every run of the scenario `hash` in the database
 * (done has n_points * runs bytes, zeroed by the caller). Runs beyond `runs` are ignored.
 */
int halo_db_done_runs(halo_db *db, const char *hash, long n_points, int runs, unsigned char *done,
                      halo_err *err);

/* Provenance of one run that the caller measures. */
typedef struct halo_db_run_info {
    const char *scenario_hash; /* hex sha256 of sc->text */
    const char *git_rev;       /* of the binary */
    const char *started_at;    /* UTC ISO 8601 */
    const char *finished_at;
    const char *eval_file; /* evaluation text (when q is given) */
    const char *eval_hash; /* its sha256 */
} halo_db_run_info;

/*
 * Writes one run in one transaction: the run row, its sweep axes, every token, device and
 * layer row, and the quality row when `q` (with `qr`, the evaluation's timing) is not NULL.
 * *inserted is 1, or 0 when the run was already there (another process won the race; the
 * database is unchanged). Errors: HALO_ERR_IO naming the table (SQLite), HALO_ERR_ARG for
 * quality on a shape-only run.
 */
int halo_db_insert_run(halo_db *db, const halo_scenario *sc, int run, const halo_db_run_info *info,
                       const halo_sim_result *r, const halo_eval_result *q,
                       const halo_sim_result *qr, int *inserted, halo_err *err);

/*
 * Copies every run of the database at `src_path` that `db` does not have (same scenario
 * hash, point and run) into `db`, with its rows, in one transaction. *n_copied and
 * *n_skipped count runs. Errors: as halo_db_new for the source, HALO_ERR_IO.
 */
int halo_db_merge(halo_db *db, const char *src_path, long *n_copied, long *n_skipped,
                  halo_err *err);

/* Runs in the database (all scenarios). */
int halo_db_count_runs(halo_db *db, long *n, halo_err *err);

/* Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (>= 32 bytes). */
void halo_db_now_utc(char *buf, size_t size);

#endif /* HALO_APP_RESULTS_H */
