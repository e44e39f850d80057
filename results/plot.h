/*
 * Figures from the results database through gnuplot. Two kinds:
 *
 * - The paper's figures: every figure NAME of a plot directory is a query (NAME.sql) and a
 *   gnuplot script (NAME.gp). The query's first statement gives the data (whitespace-
 *   separated columns; when its first column is named `series`, one gnuplot data block per
 *   series, and the series' names in the gnuplot variable `series`); the first value of an
 *   optional second statement is the figure's conditions line (`conditions`), its second
 *   value, when present, the gnuplot variable `paper` (1 when the scenario is the paper's own
 *   setup, `paper: true` in its file: only then are the paper's published numbers drawn).
 *   The script's line `# caption: TEXT` and the conditions make the caption. The queries may
 *   call the aggregate ci_half(x): the half-width of the confidence interval of the mean of
 *   x (Student's t, the report's intervals). Scripts whose name starts with '_' are shared
 *   pieces, not figures.
 * - Figures of any sweep (results/figure.c): a metric of a scenario's points against one of
 *   its sweep axes, one line per value of a second axis, one panel per value of a third,
 *   with the report's confidence intervals as error bars; chosen (x, y, series, facet) or
 *   automatic from the scenario's own axes.
 *
 * Each figure is OUT/NAME.{png,svg,pdf} (the formats chosen) and OUT/NAME.caption.txt: the
 * caption is text beside the figure, never a title inside it. A figure of any sweep also
 * keeps its numbers in OUT/NAME.dat (one block per panel and series, each headed by a
 * comment naming them: x, mean, interval low, interval high).
 *
 * Not here: where the plot directory is (the command decides: an option, the environment,
 * the installation), and the paper figures' content (plots/).
 */
#ifndef HALO_RESULTS_PLOT_H
#define HALO_RESULTS_PLOT_H

#include "core/status.h"

/* Output formats (a bit set). */
enum halo_plot_format {
    HALO_PLOT_PNG = 1, /* pngcairo */
    HALO_PLOT_SVG = 2, /* svg */
    HALO_PLOT_PDF = 4, /* pdfcairo */
};

/* Figure sizes. */
enum halo_plot_size {
    HALO_PLOT_SIZE_WIDE = 0,   /* 960x640 px (PNG, SVG), 6.4x4.3 in (PDF), 11 pt text */
    HALO_PLOT_SIZE_COLUMN = 1, /* one column of a two-column paper: 3.3 in wide, 8 pt text
                                  (PNG at 300 dpi) */
};

/* What to draw. Strings are borrowed for the call; NULL means "not chosen". */
typedef struct halo_plot_options {
    const char *plot_dir; /* the paper figures' scripts; NULL: no paper figures */
    const char *scenario; /* only this scenario's figures of any sweep (and no paper figures) */
    const char *x;        /* the x axis: a sweep axis key ("devices[1].link.loss") or a derived
                             column (loss, loss_pct, speed_ratio, n_devices, system) */
    const char *y;        /* metrics, comma-separated (halo_plot_metrics lists them) */
    const char *series;   /* one line per value of this axis or column */
    const char *facet;    /* one panel per value of this axis or column */
    unsigned formats;     /* enum halo_plot_format bits; 0 means PNG | SVG | PDF */
    int size;             /* enum halo_plot_size */
    double confidence;    /* of the error bars, in (0.5, 1); 0 means 0.95 */
} halo_plot_options;

/* One figure drawn or skipped, for the callback. Strings are borrowed for the call. */
typedef struct halo_plot_figure {
    const char *name;     /* file stem in the output directory */
    long rows;            /* data rows (points drawn) */
    const char *files[3]; /* (n_files) the image files written */
    int n_files;
    const char *caption; /* the caption file, or NULL */
    const char *skipped; /* NULL when drawn, else why not ("no data in DB") */
} halo_plot_figure;

typedef void (*halo_plot_cb)(void *ctx, const halo_plot_figure *fig);

/*
 * Draws figures from the database at `db_path` (opened read-only) into `out_dir` (created
 * when missing; its parent must exist), running the program `gnuplot` from PATH.
 *
 * Without opt->scenario, x, y, series and facet: the paper figures of opt->plot_dir whose
 * queries find rows, then automatic figures of every scenario of the database that no paper
 * figure's query names ('NAME' in its text) and whose runs vary along at least one axis.
 * With any of them: only figures of any sweep, of opt->scenario (else of every scenario
 * having the chosen keys). Scratch data goes under $TMPDIR (else /tmp), removed afterwards.
 * cb (may be NULL) is called per figure; *n_made and *n_skipped (may be NULL) count figures
 * drawn and skipped. Drawing nothing at all is an error.
 * Errors: those of halo_db_new (HALO_DB_READ); HALO_ERR_ARG (an unknown metric, an x, series
 * or facet no scenario has, the same key in two roles, no scenario named opt->scenario,
 * $TMPDIR too long: the message names the key and lists the choices); HALO_ERR_FORMAT (a
 * query SQLite refuses, naming its file; nothing drawn: the message says why);
 * HALO_ERR_IO (the output or plot directory, the scratch directory, gnuplot missing or
 * failing: the message names the script and the output); HALO_ERR_NOMEM.
 */
int halo_plot_draw(const char *db_path, const char *out_dir, const halo_plot_options *opt,
                   halo_plot_cb cb, void *ctx, int *n_made, int *n_skipped, halo_err *err);

/* The metrics a figure of any sweep can draw, with their meaning, one per line (static
   text, for --help). */
const char *halo_plot_metrics(void);

#endif /* HALO_RESULTS_PLOT_H */
