/*
 * The regression check of the speedup and quality curves: a database's values per point
 * (mean ms/token, missing contributions in %, perplexity, speedup over distributed-llama;
 * see results/report.h) against a committed baseline CSV whose rows carry their own
 * tolerances:
 *
 *   # comment
 *   scenario,point label,metric,value,relative tolerance,absolute tolerance
 *
 * Fields follow RFC 4180: a label with a comma ("engine.critical=1,3") is written in double
 * quotes (a quote inside doubled) and read back so. A value passes when |now - baseline| <=
 * max(|baseline| * relative, absolute). A baseline row whose point or metric the database
 * lacks fails.
 *
 * Not here: running the sweeps that fill the database (scripts/regress.sh does, with
 * `halo sweep`).
 */
#ifndef HALO_RESULTS_REGRESS_H
#define HALO_RESULTS_REGRESS_H

#include "core/status.h"

#include <stdio.h>

/*
 * Writes the baseline of the database at `db_path` (opened read-only) to `baseline_path`
 * (replaced atomically through baseline_path.tmp), with the default tolerances: ms/token and
 * speedup 10% (floor 0.01), missing 25% or 0.5 points, perplexity 2%. *n_values (may be
 * NULL) receives the number of rows. Errors: those of halo_db_new (HALO_DB_READ),
 * HALO_ERR_FORMAT (a database without runs: no file is written, as halo_regress_check would
 * refuse an empty baseline), HALO_ERR_IO (SQLite, writing the file), HALO_ERR_NOMEM.
 */
int halo_regress_write_baseline(const char *db_path, const char *baseline_path, int *n_values,
                                halo_err *err);

/*
 * Compares the database at `db_path` with the baseline at `baseline_path` and writes a
 * markdown table of every baseline row (baseline, now, change, tolerance, ok or **FAIL**) to
 * `out`. *n_checked and *n_failed receive the counts: values outside their tolerance are an
 * outcome, not an error (HALO_OK with *n_failed > 0).
 * Errors: those of halo_db_new (HALO_DB_READ), of reading the baseline (HALO_ERR_IO), a
 * malformed baseline (HALO_ERR_FORMAT naming file and line: a row without six fields, a metric
 * other than mean_ms, missing_pct, perplexity and speedup, a value that is not a finite
 * number, a tolerance that is not a finite number >= 0; or a baseline without values),
 * HALO_ERR_NOMEM.
 */
int halo_regress_check(FILE *out, const char *db_path, const char *baseline_path, int *n_checked,
                       int *n_failed, halo_err *err);

#endif /* HALO_RESULTS_REGRESS_H */
