/*
 * Reading the results database: `halo plot` (figures, results/plot.h), `halo report`
 * and `halo report fidelity` (markdown tables, results/report.h) and `halo regress` (curves against
 * a committed baseline, results/regress.h). This file parses options, finds the plot scripts and
 * prints; the work is in results/.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "core/file.h"
#include "results/export.h"
#include "results/plot.h"
#include "results/regress.h"
#include "results/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The --db option of every command here. */
#define DB_OPT(dest) HALO_CLI_OPT_REQUIRED_PATH("db", 0, dest, "FILE", "the results database")
/* The --scenario filter of the commands that read every scenario unless told. */
#define SCENARIO_OPT(dest) \
    HALO_CLI_OPT_STRING("scenario", 0, dest, "NAME", "only this scenario (default: every one)")

/* halo_cli_fail after what the command printed so far (a report's lines before its error). */
static int fail(int rc, const halo_err *err) {
    (void)fflush(stdout);
    return halo_cli_fail(rc, err);
}

/* ==== halo plot ==== */

/* The plot scripts: --plots DIR, $HALO_PLOT_DIR, ../share/halo/plots beside the binary, or
   the source tree's plots/. */
static const char *plot_dir(const char *opt, char *buf, size_t cap) {
    if (opt)
        return opt;
    const char *env = getenv("HALO_PLOT_DIR");
    if (env && env[0])
        return env;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            (void)snprintf(buf, cap, "%s/../share/halo/plots", exe);
            struct stat st;
            if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
                return buf;
        }
    }
    return HALO_SOURCE_PLOT_DIR;
}

/* Notes on skipped figures, printed after the outcome (an error's line comes first). */
typedef struct plot_notes {
    char *text;
    size_t len, cap;
} plot_notes;

static void on_figure(void *ctx, const halo_plot_figure *fig) {
    if (fig->skipped) {
        plot_notes *n = ctx;
        char line[4096];
        int w =
            snprintf(line, sizeof line, "halo plot: %s: %s, skipped\n", fig->name, fig->skipped);
        size_t k = w < 0 ? 0 : (size_t)w < sizeof line ? (size_t)w : sizeof line - 1;
        if (n->len + k + 1 > n->cap) {
            size_t cap = 2 * (n->len + k + 1);
            char *t = realloc(n->text, cap);
            if (!t) {
                (void)fputs(line, stderr); /* out of memory: the note now, unordered */
                return;
            }
            n->text = t;
            n->cap = cap;
        }
        memcpy(n->text + n->len, line, k + 1);
        n->len += k;
        return;
    }
    for (int i = 0; i < fig->n_files; i++)
        (void)printf("%s ", fig->files[i]);
    (void)printf("(%ld rows)\n", fig->rows);
}

/* "png,svg,pdf" into format bits; 0 for a bad list. */
static unsigned parse_formats(const char *list) {
    static const char *const names[] = {"png", "svg", "pdf"};
    unsigned bits = 0;
    const char *s = list;
    while (*s) {
        size_t n = strcspn(s, ",");
        int found = 0;
        for (unsigned i = 0; i < 3; i++)
            if (n == strlen(names[i]) && strncmp(s, names[i], n) == 0) {
                bits |= 1u << i;
                found = 1;
            }
        if (!found)
            return 0;
        s += n + (s[n] == ',');
    }
    return bits;
}

int halo_cmd_plot(int argc, char **argv) {
    const char *db = NULL, *out = NULL, *plots = NULL, *format = "png,svg,pdf";
    static const char *const sizes[] = {"wide", "column", NULL};
    halo_plot_options o = {0};
    float confidence = 0.95f;
    const halo_cli_opt opts[] = {
        DB_OPT(&db),
        HALO_CLI_OPT_REQUIRED_PATH("out", 0, &out, "DIR",
                                   "where the figures go (created if missing; removed\nagain when "
                                   "nothing is drawn into it)"),
        HALO_CLI_OPT_PATH("plots", 0, &plots, "DIR", "the paper figures' scripts"),
        HALO_CLI_OPT_STRING("scenario", 0, &o.scenario, "NAME",
                            "only this scenario's figures (no paper figures)"),
        HALO_CLI_OPT_STRING("x", 0, &o.x, "KEY",
                            "x axis: a sweep axis (devices[1].link.loss) or loss, "
                            "loss_pct,\nspeed_ratio, n_devices, system"),
        HALO_CLI_OPT_STRING("y", 0, &o.y, "METRIC[,...]", "what to draw (the metrics above)"),
        HALO_CLI_OPT_STRING("series", 0, &o.series, "KEY", "one line per value"),
        HALO_CLI_OPT_STRING("facet", 0, &o.facet, "KEY", "one panel per value"),
        HALO_CLI_OPT_STRING("format", 0, &format, "LIST",
                            "png, svg, pdf, comma-separated (default all three)"),
        HALO_CLI_OPT_CHOICE("size", 0, &o.size, sizes, "SIZE",
                            "wide (960x640 px, 11 pt; default) or column (3.3 in, 8 pt)"),
        HALO_CLI_OPT_FLOAT("confidence", 0, &confidence, 0.5, 0.999, "C",
                           "of the error bars (default 0.95, as halo report)"),
        HALO_CLI_OPT_END,
    };
    char about[2048];
    (void)snprintf(
        about, sizeof about,
        "Draws figures from the database into DIR/NAME.{png,svg,pdf}, each with its caption\n"
        "in DIR/NAME.caption.txt. Without --scenario, --x, --y, --series, --facet: the\n"
        "paper's figures of plots/ that find data (NAME.sql: the query; NAME.gp: the script),\n"
        "then figures of every other scenario from its own sweep axes. With any of them:\n"
        "a metric against --x, one line per --series value, one panel per --facet value\n"
        "(what is not chosen is chosen from the scenario's axes; engine.baseline is the\n"
        "series when it varies), error bars the report's confidence intervals. Exits 1\n"
        "when nothing is drawn. Needs gnuplot (Debian: gnuplot-nox). Scripts are found in\n"
        "--plots DIR, $HALO_PLOT_DIR, ../share/halo/plots beside the binary, or the source\n"
        "tree. Metrics:\n%s",
        halo_plot_metrics());
    const halo_cli_spec spec = {
        .name = "plot",
        .synopsis = "--db FILE --out DIR [--scenario NAME] [--x KEY] [--y METRIC] "
                    "[--series KEY]\n       [--facet KEY] [--format LIST] [--size wide|column] "
                    "[--plots DIR]",
        .about = about,
        .opts = opts};
    int status = halo_cli_parse_or_exit(&spec, argc, argv);
    if (status >= 0)
        return status;
    halo_err err = {0};
    if (!(o.formats = parse_formats(format))) {
        (void)HALO_FAIL(&err, HALO_ERR_ARG, "--format %s: expected png, svg, pdf, comma-separated",
                        format);
        return fail(HALO_ERR_ARG, &err);
    }
    char buf[4200];
    o.plot_dir = plot_dir(plots, buf, sizeof buf);
    o.confidence = confidence;
    int made = 0, skipped = 0;
    plot_notes notes = {0};
    int rc = halo_plot_draw(db, out, &o, on_figure, &notes, &made, &skipped, &err);
    int exit_status = rc != HALO_OK ? fail(rc, &err) : HALO_EXIT_OK;
    if (notes.text)
        (void)fputs(notes.text, stderr);
    free(notes.text);
    if (rc == HALO_OK)
        (void)printf("halo plot: %d figures in %s, %d skipped\n", made, out, skipped);
    return exit_status;
}

/* ==== halo report ==== */

/* halo report fidelity (argv[0] is "fidelity"). */
static int report_fidelity(int argc, char **argv) {
    const char *db = NULL, *harness = NULL;
    const halo_cli_opt opts[] = {
        DB_OPT(&db),
        HALO_CLI_OPT_STRING("harness", 0, &harness, "NAME",
                            "only the runs this harness measured (default: all)"),
        HALO_CLI_OPT_END,
    };
    const halo_cli_spec spec = {
        .name = "report fidelity",
        .synopsis = "--db FILE [--harness NAME]",
        .about = "Prints markdown tables of the measured runs (halo db import-measured) "
                 "against their\nsimulated mirrors (the scenario named mirror/CELL, CELL = "
                 "system/model/nodes/loss):\nper cell the measured mean ms/token (min-max over "
                 "runs), the simulated mean, the\nerror, the cost of loss (the mean above loss "
                 "0) measured and simulated and its\nerror, p90 measured and simulated and its "
                 "error, the 95% intervals of the measured mean and cost, and a verdict: within,\n"
                 "outside, or undecided (an interval wider than +-25%; with the runs that "
                 "would\ndecide it). Errors beyond 25% are in bold; the last line counts the "
                 "cells within\n25% and the verdicts. Exits 0 whatever the errors (it is a "
                 "report); 1 without a\ndatabase or measured runs.\n",
        .opts = opts};
    int status = halo_cli_parse_or_exit(&spec, argc, argv);
    if (status >= 0)
        return status;
    halo_err err = {0};
    int rc = halo_report_fidelity(stdout, db, harness, NULL, &err);
    return rc == HALO_OK ? HALO_EXIT_OK : fail(rc, &err);
}

int halo_cmd_report(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "fidelity") == 0)
        return report_fidelity(argc - 1, argv + 1);
    const char *db = NULL, *scenario = NULL;
    float confidence = 0.95f;
    int json = 0;
    const halo_cli_opt opts[] = {
        DB_OPT(&db),
        HALO_CLI_OPT_FLOAT("confidence", 0, &confidence, 0.5, 0.999, "C",
                           "confidence of the intervals (default 0.95)"),
        SCENARIO_OPT(&scenario),
        HALO_CLI_OPT_FLAG("json", 0, &json, "one JSON document instead of markdown"),
        HALO_CLI_OPT_END,
    };
    const halo_cli_spec spec = {
        .name = "report",
        .synopsis = "--db FILE [--scenario NAME] [--json] [--confidence C]\n       halo "
                    "report fidelity --db FILE [--harness NAME]",
        .about = "Prints markdown tables of every scenario in the database (its newest text):\n"
                 "per point, ms/token with its confidence interval over runs (C, default 0.95;\n"
                 "Student's t), p99, the split (compute + stragglers + network = ms/token),\n"
                 "missing contributions, loss, packets lost and dropped by full queues, the\n"
                 "speedup over the matching distributed-llama point, and perplexity where\n"
                 "measured. --json: the same numbers as one JSON document.\n"
                 "'halo report fidelity' compares measured runs with their simulated mirrors\n"
                 "('halo report fidelity --help').\n",
        .opts = opts};
    int status = halo_cli_parse_or_exit(&spec, argc, argv);
    if (status >= 0)
        return status;
    halo_err err = {0};
    halo_report_opts ro = {.confidence = confidence, .scenario = scenario, .json = json};
    int rc = halo_report_write_opts(stdout, db, &ro, &err);
    return rc == HALO_OK ? HALO_EXIT_OK : fail(rc, &err);
}

/* ==== halo regress ==== */

int halo_cmd_regress(int argc, char **argv) {
    const char *db = NULL, *baseline = NULL;
    int write = 0;
    const halo_cli_opt opts[] = {
        DB_OPT(&db),
        HALO_CLI_OPT_REQUIRED_PATH("baseline", 0, &baseline, "CSV", "the committed baseline"),
        HALO_CLI_OPT_FLAG("write", 0, &write, "write the baseline from the database instead"),
        HALO_CLI_OPT_END,
    };
    const halo_cli_spec spec = {
        .name = "regress",
        .synopsis = "--db FILE --baseline CSV [--write]",
        .about = "Compares the database's curves (per point: mean ms/token, missing %, speedup "
                 "over\ndistributed-llama, perplexity) with a committed baseline CSV whose rows "
                 "carry\ntheir tolerances (relative, and an absolute floor). Prints a table. Exit "
                 "status: 0\nall within tolerance, 1 any value outside its tolerance or missing "
                 "(regressed),\n2 the database or the baseline cannot be read. --write writes the "
                 "baseline\nfrom the database instead (default tolerances: ms/token and speedup "
                 "10%,\nmissing 25% or 0.5 points, perplexity 2%).\n",
        .opts = opts};
    int status = halo_cli_parse_or_exit(&spec, argc, argv);
    if (status >= 0)
        return status;
    halo_err err = {0};
    int rc, n = 0, failed = 0;
    if (write) {
        rc = halo_cli_check_output("--baseline", baseline, "--db", db, &err);
        if (rc == HALO_OK)
            rc = halo_regress_write_baseline(db, baseline, &n, &err);
        if (rc == HALO_OK)
            (void)printf("halo regress: wrote %d values to %s\n", n, baseline);
    } else {
        rc = halo_regress_check(stdout, db, baseline, &n, &failed, &err);
        if (rc == HALO_OK)
            (void)printf("\nhalo regress: %d of %d values within tolerance\n", n - failed, n);
        if (rc == HALO_OK && failed > 0)
            (void)HALO_FAIL(&err, HALO_ERR_ARG,
                            "%d of %d values outside their tolerance against %s", failed, n,
                            baseline);
    }
    /* Exit status: 0 all within tolerance, 1 regressed (a value outside its tolerance or
       missing), 2 the database or the baseline cannot be read (or a usage error): a script
       tells a regression from a broken setup (issue 17). */
    (void)fflush(stdout);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        return HALO_EXIT_USAGE;
    }
    if (failed > 0) {
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    return HALO_EXIT_OK;
}

/* ==== halo export ==== */

int halo_cmd_export(int argc, char **argv) {
    const char *db = NULL, *scenario = NULL, *out_path = NULL;
    const halo_cli_opt opts[] = {
        DB_OPT(&db),
        SCENARIO_OPT(&scenario),
        HALO_CLI_OPT_PATH("out", 'o', &out_path, "CSV",
                          "write to this file (default: standard output)"),
        HALO_CLI_OPT_END,
    };
    const halo_cli_spec spec = {
        .name = "export",
        .synopsis = "--db FILE [--scenario NAME] [--out CSV]",
        .about = "Writes the database's runs (each scenario's version swept last) as one tidy "
                 "CSV\ntable: one row per run; scenario, point, run, one column per sweep axis "
                 "with its\nvalue as written in the scenario, then the system, conditions and "
                 "measurements\n(ms/token and its split, missing contributions, loss, packets "
                 "lost and dropped\nby full queues, perplexity) and the run's identity.\n",
        .opts = opts};
    int status = halo_cli_parse_or_exit(&spec, argc, argv);
    if (status >= 0)
        return status;
    halo_err err = {0};
    /* --out: written whole or not at all (a full disk leaves no half table; issue 18) */
    halo_file_out o = {0};
    if (halo_cli_check_output("--out", out_path, "--db", db, &err) != HALO_OK)
        return fail(HALO_ERR_ARG, &err);
    if (out_path && halo_file_out_open(&o, out_path, 0644, &err) != HALO_OK)
        return fail(HALO_ERR_IO, &err);
    long n = 0;
    int rc = halo_export_csv(out_path ? o.f : stdout, db, scenario, &n, &err);
    if (out_path && (rc == HALO_OK || ferror(o.f))) { /* a failed write: commit says why */
        halo_err cerr = {0};
        int c = halo_file_out_commit(&o, &cerr);
        if (c != HALO_OK) {
            rc = c;
            err = cerr;
        }
    }
    halo_file_out_abort(&o);
    if (rc != HALO_OK)
        return fail(rc, &err);
    if (out_path)
        (void)fprintf(stderr, "halo export: %ld runs into %s\n", n, out_path);
    return HALO_EXIT_OK;
}
