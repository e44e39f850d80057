/*
 * What the two halves of `halo plot` share (results/plot.c: the paper figures, the output
 * formats and gnuplot; results/figure.c: figures of any sweep). Internal to results/.
 */
#ifndef HALO_RESULTS_PLOT_INTERNAL_H
#define HALO_RESULTS_PLOT_INTERNAL_H

#include "results/plot.h"

#include <sqlite3.h>

/* One `halo plot` call in progress. */
typedef struct halo__plot {
    sqlite3 *db;                  /* read-only connection (borrowed) */
    const char *db_path;          /* for messages */
    const char *out_dir;          /* the figures' directory */
    const char *scratch;          /* scratch directory for data and generated scripts */
    const halo_plot_options *opt; /* formats, size, confidence resolved (never 0) */
    halo_plot_cb cb;
    void *ctx;
    int made, skipped;
} halo__plot;

/*
 * Renders the gnuplot script `gp` into OUT/NAME.<format> for every chosen format, with the
 * gnuplot variables datafile, series, conditions, paper, plotdir (`plot_dir`, may be "") and
 * panel_rows (the figure is that many panels high: its height scales), writes `caption`
 * (one paragraph; may be NULL for none) to OUT/NAME.caption.txt, counts the figure and calls
 * the callback. Errors: HALO_ERR_IO (gnuplot missing or failing, naming the script and the
 * output; the caption file).
 */
int halo__plot_render(halo__plot *p, const char *plot_dir, const char *name, const char *gp,
                      const char *dat, const char *series, const char *conditions, int paper,
                      int panel_rows, long rows, const char *caption, halo_err *err);

/* Counts a skipped figure and calls the callback with `why`. */
void halo__plot_skip(halo__plot *p, const char *name, const char *why);

/*
 * Figures of any sweep (results/figure.c): of p->opt->scenario, else of every scenario of
 * the database not in covered[0..n_covered-1] (names whose paper figures were drawn). What is
 * not chosen in p->opt (x, y, series, facet) is chosen automatically from the scenario's own
 * axes. Errors: see halo_plot_draw.
 */
/* Checks a --y list (NULL: none given): every name a metric, at least one. Errors:
   HALO_ERR_ARG naming the bad name or the empty list. */
int halo__figure_check_y(const char *y, halo_err *err);

int halo__figure_draw(halo__plot *p, char *const *covered, int n_covered, halo_err *err);

#endif /* HALO_RESULTS_PLOT_INTERNAL_H */
