/*
 * `halo export`: the runs of a results database as one tidy CSV table for pandas, R or a
 * spreadsheet: one row per run, one column per sweep axis with its value as written in the
 * scenario (a variable's name or the key path as header), then the run's identity and its
 * measurements. It reads what reports read (the view latest_run: each scenario's version
 * swept last).
 *
 * Not here: aggregation over runs (results/report.h) and figures (results/plot.h).
 */
#ifndef HALO_RESULTS_EXPORT_H
#define HALO_RESULTS_EXPORT_H

#include "core/status.h"

#include <stdio.h>

/*
 * Writes the CSV of the database at `db_path` (opened read-only) to `out`: a header line, then
 * one line per run of the latest runs, only of scenario `scenario` when not NULL (borrowed),
 * ordered by scenario, point and run. Columns: scenario, point, run, then every sweep axis
 * (the union over the runs, in the order of their labels; empty where a run has no such
 * axis; an axis named like another column is headed "axis.NAME"), then system, seed,
 * devices, kind, worker_loss (the mean loss per packet over the workers' links), tokens, mean_ms,
 * p50_ms, p90_ms, p99_ms, max_ms, compute_ms, stragglers_ms, network_ms, expected, missing,
 * retransmits, timeouts, msgs_lost, packets_lost, queue_drops, bytes_on_wire, perplexity (empty
 * without quality), copied (1: stored from the run with the same identity), point_hash. Fields are
 * quoted as RFC 4180 says (a comma, quote or line break inside); numbers are SQLite's text of the
 * stored values (15 significant digits). *n_rows (may be NULL) receives the runs written.
 * Errors: those of halo_db_new (HALO_DB_READ), HALO_ERR_ARG (no runs of `scenario`, naming
 * the scenarios there), HALO_ERR_IO (SQLite, writing), HALO_ERR_NOMEM.
 */
int halo_export_csv(FILE *out, const char *db_path, const char *scenario, long *n_rows,
                    halo_err *err);

#endif /* HALO_RESULTS_EXPORT_H */
