/*
 * Reports over the results database: the runs of each scenario's newest text (the
 * `latest_run` view of results/schema.sql) gathered per sweep point, Student's t
 * confidence intervals over a point's runs (GSL), the speedup over the matching
 * distributed-llama point, and the markdown tables of `halo report`.
 *
 * Also the fidelity report (`halo report fidelity`): measured runs of real systems (imported
 * by results/measured.h) against their simulated mirrors, from the views measured_cell and
 * fidelity of results/schema.sql.
 *
 * Not here: the regression check against a baseline (results/regress.h, which reads the
 * same points) and figures (results/plot.h).
 */
#ifndef HALO_RESULTS_REPORT_H
#define HALO_RESULTS_REPORT_H

#include "core/status.h"
#include "results/db.h"

#include <stdio.h>

/* Runs of one point kept for the intervals (a point's further runs count in its means). */
#define HALO_REPORT_MAX_RUNS 64

/* Writes s as a JSON string literal (quoted; '"', '\\' and control characters escaped). */
void halo_report_json_string(FILE *out, const char *s);

/* Writes s as one CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break
   (a label such as "engine.critical=1,3", issue 17). */
void halo_report_csv_field(FILE *out, const char *s);

/* s as the text of one markdown table cell, into buf (of cap bytes, truncated): '|' escaped
   as "\\|" and line breaks as spaces, so that a scenario name or label holding them keeps the
   table's columns. Returns buf. */
const char *halo_report_md_cell(const char *s, char *buf, size_t cap);

/* The runs of one (scenario, point). */
typedef struct halo_report_point {
    char scenario[64]; /* the scenario's name */
    char label[512];   /* the point's label ("engine.baseline=halo ..."; "" without axes) */
    char system[32];   /* its baseline, or "custom" */
    char kind[16];     /* "numerics" or "shape-only" */
    long point;        /* the point's index */
    int n_runs;        /* runs (at most HALO_REPORT_MAX_RUNS) */
    double ms[HALO_REPORT_MAX_RUNS];       /* (n_runs) mean ms/token of each run */
    double p99_ms, compute_ms, network_ms; /* means over the runs */
    double stragglers_ms;                  /* mean over the runs: compute + stragglers +
                                              network = ms/token */
    double loss;                           /* mean loss per packet over the workers' links */
    double packets_lost, queue_drops;      /* per run (mean): packets lost, and of them
                                              dropped by full drop-tail queues */
    double missing_pct;                    /* missing of expected contributions, all runs */
    int n_quality;                         /* runs with a quality row */
    double ppl[HALO_REPORT_MAX_RUNS];      /* (n_quality) their perplexities */
} halo_report_point;

typedef struct halo_report_points {
    halo_report_point *v; /* (n) by scenario name, then point */
    long n;
    long cap;
} halo_report_points;

/*
 * Reads every point of the database's latest runs into *ps (overwritten; free with
 * halo_report_points_free). Errors: HALO_ERR_IO (SQLite), HALO_ERR_NOMEM.
 */
int halo_report_points_load(halo_db *db, halo_report_points *ps, halo_err *err);

/*
 * halo_report_points_load from the database at db_path, opened read-only: *db (when db is
 * not NULL) receives it for more queries (free with halo_db_free), else it is closed. On
 * failure nothing stays open (*db is NULL) and *ps is empty. Errors: those of halo_db_new and
 * halo_report_points_load.
 */
int halo_report_points_read(const char *db_path, halo_db **db, halo_report_points *ps,
                            halo_err *err);

/* Frees the points; safe on a zeroed set. */
void halo_report_points_free(halo_report_points *ps);

/*
 * The point of ps that runs distributed-llama (engine.baseline=dllama) under otherwise the
 * same label as p, or NULL (p is itself dllama, has no baseline axis, or there is no such
 * point). Points into ps.
 */
const halo_report_point *halo_report_peer(const halo_report_points *ps, const halo_report_point *p);

/*
 * Mean of x[0..n-1] into *mean and the half-width of its two-sided `confidence` interval
 * (Student's t with n - 1 degrees of freedom) into *half; *half is 0 for n < 2.
 */
void halo_report_mean_ci(const double *x, int n, double confidence, double *mean, double *half);

/*
 * Writes the markdown report of the database at `db_path` (opened read-only) to `out`: per
 * scenario a header with its provenance and a table of its points (ms/token with its
 * `confidence` interval, in (0.5, 1); p99; the time split; missing contributions; the
 * speedup over distributed-llama; perplexity), then a note on the method.
 * Errors: those of halo_db_new (HALO_DB_READ), HALO_ERR_IO (SQLite, or writing to out),
 * HALO_ERR_NOMEM.
 */
int halo_report_write(FILE *out, const char *db_path, double confidence, halo_err *err);

/* What halo_report_write_opts writes. */
typedef struct halo_report_opts {
    double confidence;    /* of the intervals, in (0.5, 1) */
    const char *scenario; /* only this scenario name, or NULL: all */
    int json;             /* 1: one JSON document instead of markdown */
} halo_report_opts;

/*
 * halo_report_write with options: only the points of o->scenario (HALO_ERR_ARG naming the
 * scenarios there when it has none), as markdown or as JSON: {"db", "confidence",
 * "scenarios": [{"name", "model", "weights", "kind", "devices", "points": [{"point", "label",
 * "axes": {key: value as written}, "system", "runs", "ms_per_token": {"mean", "ci"},
 * "p99_ms", "compute_ms", "stragglers_ms", "network_ms", "missing_pct", "loss",
 * "packets_lost", "queue_drops", "speedup": {"mean", "lo", "hi"} | null, "perplexity":
 * {"mean", "ci"} | null}]}]} (ci: the interval's half-width, 0 with one run).
 * Errors: as halo_report_write, and HALO_ERR_ARG (no such scenario).
 */
int halo_report_write_opts(FILE *out, const char *db_path, const halo_report_opts *o,
                           halo_err *err);

/* The error, in percent, beyond which `halo report fidelity` marks a cell (issue 13's
   acceptance bound). */
#define HALO_REPORT_FIDELITY_BOUND_PCT 25.0

/* What the fidelity report counted (halo_report_fidelity). */
typedef struct halo_report_fidelity_counts {
    int n_cells;      /* measured cells with a simulated mirror */
    int n_within;     /* of them, mean and cost errors within the bound (point values) */
    int n_unmirrored; /* measured cells without a mirror */
    /* of n_cells, the verdicts with the measured values' 95% intervals (they add up) */
    int n_verdict_within; /* every measured value decided, every error within the bound */
    int n_outside;        /* a decided value's error beyond the bound */
    int n_undecided;      /* otherwise: some value's interval is wider than the bound */
} halo_report_fidelity_counts;

/*
 * Writes the fidelity report of the database at `db_path` (opened read-only) to `out`: per
 * harness (only `harness` when not NULL; borrowed) a markdown table with one row per
 * measured cell, ordered by model, system, nodes and loss: measured mean ms/token (min-max
 * of the run means), simulated mean, error %, the cost of loss measured and simulated (mean
 * above the same system/model/nodes at loss 0) and its error %, p90 measured and simulated
 * and its error %; then the half-widths of the 95% t-intervals of the measured mean (from
 * the cell's run means, n - 1 degrees of freedom; "-" with one run) and of the measured cost
 * of loss (the cell's and its loss-free cells' standard errors combined, Welch-Satterthwaite
 * degrees of freedom), each in ms and in % of the value, and the verdict: a measured value is
 * decided when its half-width is at most HALO_REPORT_FIDELITY_BOUND_PCT of its magnitude;
 * "outside" when a decided value's error (mean or cost) is beyond the bound, else
 * "undecided: N runs" when a value is not decided (N: the runs of the cell, and of its
 * loss-free cell alike, that would narrow the interval to the bound at the spread measured;
 * "one run" when the cell or its loss-free cell has one run, so no spread is known; "no
 * run counted" when the cell has none), else "within". A cell whose mean or cost error
 * exceeds the bound in magnitude has that error in bold; a cell without a simulated
 * counterpart (no scenario named mirror/CELL) has "-" in the simulated columns and the
 * verdict. Then a note on the method, and last a line counting the cells within the bound
 * (point values) and the verdicts. *counts is set when not NULL (zeroed on failure).
 * Errors: those of halo_db_new (HALO_DB_READ), HALO_ERR_FORMAT (no measured runs, or none of
 * `harness`: the message says so and names the harnesses there), HALO_ERR_IO (SQLite, or
 * writing to out), HALO_ERR_NOMEM.
 */
int halo_report_fidelity(FILE *out, const char *db_path, const char *harness,
                         halo_report_fidelity_counts *counts, halo_err *err);

#endif /* HALO_RESULTS_REPORT_H */
