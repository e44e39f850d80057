/*
 * Figures from the results database: every figure NAME of a plot directory is a query
 * (NAME.sql) and a gnuplot script (NAME.gp). The query's first statement gives the data
 * (whitespace-separated columns; when its first column is named `series`, one gnuplot data
 * block per series, and the series' names in the gnuplot variable `series`); the first
 * value of an optional second statement is the figure's conditions line (`conditions`).
 * gnuplot then draws OUT/NAME.png and OUT/NAME.svg, with `datafile` and `plotdir` set.
 * Scripts whose name starts with '_' are shared pieces, not figures.
 *
 * Not here: where the plot directory is (the command decides: an option, the environment,
 * the installation), and the figures' content (plots/).
 */
#ifndef HALO_RESULTS_PLOT_H
#define HALO_RESULTS_PLOT_H

#include "core/status.h"

/*
 * Called after each figure, in name order: `rows` data rows; png and svg are the files
 * written, or NULL when the query found no rows and the figure was skipped. The strings are
 * borrowed for the call.
 */
typedef void (*halo_plot_cb)(void *ctx, const char *name, long rows, const char *png,
                             const char *svg);

/*
 * Draws every figure of `plot_dir` from the database at `db_path` (opened read-only) into
 * `out_dir` (created when missing; its parent must exist), running the program `gnuplot`
 * from PATH. The queries' data goes to a scratch directory under $TMPDIR (else /tmp),
 * removed afterwards. cb (may be NULL) is called per figure; *n_made and *n_skipped (may be
 * NULL) count figures drawn and skipped for lack of data. Stops at the first error.
 * Errors: those of halo_db_new (HALO_DB_READ), HALO_ERR_IO (the output or plot directory,
 * the scratch directory, gnuplot missing or failing: the message names the script and the
 * output), HALO_ERR_FORMAT (a query SQLite refuses, naming its file), HALO_ERR_ARG ($TMPDIR
 * too long), HALO_ERR_NOMEM.
 */
int halo_plot_draw(const char *db_path, const char *plot_dir, const char *out_dir, halo_plot_cb cb,
                   void *ctx, int *n_made, int *n_skipped, halo_err *err);

#endif /* HALO_RESULTS_PLOT_H */
