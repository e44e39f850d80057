/*
 * Measured runs (issue 13): the CSV files a measurement harness writes into a directory
 * (tools/ground-truth.sh: runs.csv, one line per run of a real system; samples.csv, every
 * counted token interval of each run) read, validated and imported into the results
 * database's measured_run and measured_token tables (results/schema.sql), beside the
 * simulated runs, where the views measured_cell and fidelity compare them.
 *
 * Reading validates every field before anything is written: a bad header, a wrong number of
 * columns, a quote, a value that is not a number or is negative, an unknown status, a run
 * listed twice, a sample whose run is not in runs.csv, a run whose samples do not number its
 * tokens: each is an error naming file:line and the column. An import is one transaction and
 * is idempotent: a run already stored (same harness, cell, run and source directory) is
 * counted and skipped, unless its stored values differ (a new measurement written into the
 * same directory), which is an error.
 *
 * Not here: running the harness (tools/), simulating the mirrored scenarios (results/sweep.h)
 * and the fidelity report (results/report.h).
 */
#ifndef HALO_RESULTS_MEASURED_H
#define HALO_RESULTS_MEASURED_H

#include "core/status.h"
#include "results/db.h"

/* The harness name used when none is given. */
#define HALO_MEASURED_DEFAULT_HARNESS "ground-truth"

/* The headers the files must have, exactly. */
#define HALO_MEASURED_RUNS_HEADER                                                           \
    "system,model,loss,nodes,run,tokens,ms_mean,frames,dropped,missing_pct,self_ms,wall_s," \
    "status"
#define HALO_MEASURED_SAMPLES_HEADER "system,model,loss,nodes,run,idx,ms"

/* The largest runs.csv or samples.csv read (bytes). */
#define HALO_MEASURED_MAX_FILE_BYTES (512u << 20)

/* The runs of one harness directory, read and validated (opaque). */
typedef struct halo_measured halo_measured;

/*
 * Reads and validates DIR/runs.csv and DIR/samples.csv (`dir` borrowed). *out receives the
 * runs (free with halo_measured_free), NULL on failure. Every run gets its p50, p90 and max
 * from its samples (nearest rank, the definition of the simulated runs' percentiles).
 * Errors: HALO_ERR_IO (a file cannot be read; the message names it), HALO_ERR_FORMAT (bad
 * content: the message names file:line and, for a field, the column's number and name),
 * HALO_ERR_NOMEM.
 */
int halo_measured_load(halo_measured **out, const char *dir, halo_err *err);

/* Frees what halo_measured_load made; NULL is a no-op. */
void halo_measured_free(halo_measured *m);

/* Runs read (lines of runs.csv after the header). */
long halo_measured_n_runs(const halo_measured *m);

/* Token intervals read (lines of samples.csv after the header). */
long halo_measured_n_tokens(const halo_measured *m);

/* What an import did. */
typedef struct halo_measured_counts {
    long n_runs;           /* runs in the directory */
    long n_imported;       /* of them stored now */
    long n_present;        /* of them already stored (the same values): skipped */
    long n_tokens_new;     /* token intervals of the runs stored now */
    long n_tokens_present; /* token intervals of the runs skipped */
} halo_measured_counts;

/*
 * Stores the runs of `m` into db in one transaction: a measured_run row per run (harness,
 * host and source as given, imported_at now) and a measured_token row per interval.
 * `harness` names what measured (letters, digits, '-', '_', '.'); `host` the machine measured
 * on, or NULL for this machine's name; `source` the directory as given (trailing slashes
 * dropped). All strings are borrowed for the call.
 * Errors: HALO_ERR_ARG (read-only database, a bad harness name), HALO_ERR_FORMAT (a run
 * already stored from the same source with other values: the message names its runs.csv
 * line), HALO_ERR_IO (SQLite). On error nothing is stored.
 */
int halo_measured_import(halo_db *db, const halo_measured *m, const char *harness, const char *host,
                         const char *source, halo_measured_counts *counts, halo_err *err);

/*
 * `halo db import-measured`: reads and validates `dir` (halo_measured_load) before anything
 * else, then opens the database at `db_path` (created when missing, HALO_DB_CREATE; an older
 * schema is refused) and imports (halo_measured_import, source `dir`). `harness` NULL means
 * HALO_MEASURED_DEFAULT_HARNESS. Invalid files leave no database behind.
 * Errors: those of halo_measured_load, halo_db_new and halo_measured_import.
 */
int halo_measured_import_dir(const char *db_path, const char *dir, const char *harness,
                             const char *host, halo_measured_counts *counts, halo_err *err);

/* A re-plan of the runtime scheduler during a measured run (table measured_replan). */
typedef struct halo_measured_replan {
    int token;             /* tokens run before the new split applied */
    const char *reason;    /* borrowed */
    const char *old_split; /* borrowed: "attn 2,1,1,0 ffn 2,2,1,1" */
    const char *new_split;
} halo_measured_replan;

/* One run measured by halo itself (a socket cluster's `halo generate/eval --db`). */
typedef struct halo_measured_run_info {
    const char *system; /* letters, digits, '-', '_', '.': "halo", "halo-strict", ... */
    const char *model;  /* the same characters: "stories260K" */
    double loss;        /* the loss set on the network, [0, 1] */
    int nodes;          /* root + workers, >= 1 */
    long long frames;   /* frames the root sent and received */
    long long dropped;  /* of them dropped (injected), <= frames */
    double missing_pct; /* contributions missing, % of expected; NAN when not reported */
    double wall_s;      /* the run's whole time */
    int failed;         /* 1: status 'failed' (the tokens counted before it are kept) */
    const halo_measured_replan *replans; /* (n_replans) or NULL: stored in measured_replan */
    int n_replans;
} halo_measured_run_info;

/*
 * Stores one run into db in one transaction: a measured_run row (cell system/model/nodes/
 * loss, the loss written with %g; run number one above the highest stored for the same
 * harness, cell and source; host this machine's name; imported_at now) and a measured_token
 * row per token interval token_ms[0..n_tokens) (idx from 1), and a measured_replan row per
 * re-plan in info->replans (idx from 1); the run's mean, p50, p90 and max come from the
 * intervals as for an import. `harness` and `source` (what ran: a cluster
 * file and its engine settings, say) are borrowed strings; the stored source adds the
 * build ("; halo VERSION (GIT_REV)"). *run_out (may be NULL) receives the run number.
 * Errors: HALO_ERR_ARG (read-only database, a bad harness, system or model name, values out
 * of range), HALO_ERR_NOMEM, HALO_ERR_IO (SQLite). On error nothing is stored.
 */
int halo_measured_record(halo_db *db, const char *harness, const char *source,
                         const halo_measured_run_info *info, const double *token_ms, long n_tokens,
                         long long *run_out, halo_err *err);

#endif /* HALO_RESULTS_MEASURED_H */
