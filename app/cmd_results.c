/*
 * Reading the results database: `halo plot` (gnuplot figures from the SQL queries in
 * plots/), `halo report` (markdown tables with confidence intervals over runs, GSL) and
 * `halo regress` (a sweep's curves against a committed baseline with tolerances).
 *
 * All three read the `latest_run` view: for each scenario name, the runs of its newest
 * text (results/schema.sql).
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "app/results.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ==== Shared ==== */

typedef struct read_opts {
    const char *db, *out, *baseline, *plots;
    int write, help;
    double confidence;
} read_opts;

static int parse(int argc, char **argv, read_opts *o, halo_err *err) {
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},       {"out", required_argument, NULL, 'o'},
        {"baseline", required_argument, NULL, 'b'}, {"plots", required_argument, NULL, 'p'},
        {"write", no_argument, NULL, 'w'},          {"confidence", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    *o = (read_opts){.confidence = 0.95};
    optind = 1;
    opterr = 0;
    int c, rc = HALO_OK;
    float conf;
    while (rc == HALO_OK && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->db = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'b':
            o->baseline = optarg;
            break;
        case 'p':
            o->plots = optarg;
            break;
        case 'w':
            o->write = 1;
            break;
        case 'c':
            rc = halo_cli_parse_float("--confidence", optarg, 0.5f, 0.999f, &conf, err);
            o->confidence = conf;
            break;
        case 'h':
            o->help = 1;
            return HALO_OK;
        default:
            return halo_cli_bad_option(c, argv, err);
        }
    }
    if (rc != HALO_OK)
        return rc;
    if (optind < argc)
        return HALO_FAIL(err, HALO_ERR_ARG, "unexpected argument '%s'", argv[optind]);
    if (!o->db)
        return HALO_FAIL(err, HALO_ERR_ARG, "missing --db FILE");
    return HALO_OK;
}

static int sql_err(sqlite3 *db, halo_err *err, const char *what) {
    return HALO_FAIL(err, HALO_ERR_IO, "%s: %s", what, sqlite3_errmsg(db));
}

/* Mean and half-width of the two-sided `conf` interval (Student's t) of n values. */
static void mean_ci(const double *x, int n, double conf, double *mean, double *half) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    *mean = n ? s / n : 0;
    for (int i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *half = 0;
    if (n >= 2) {
        double sd = sqrt(ss / (n - 1));
        *half = gsl_cdf_tdist_Pinv(0.5 + conf / 2, n - 1) * sd / sqrt((double)n);
    }
}

/* The label of the matching distributed-llama point: `label` with its engine.baseline=X
 * replaced by engine.baseline=dllama, into buf; 0 if the label has no baseline axis. */
static int peer_label(const char *label, char *buf, size_t cap) {
    const char *k = strstr(label, "engine.baseline=");
    if (!k)
        return 0;
    const char *v = k + strlen("engine.baseline="), *end = strchr(v, ' ');
    if (!end)
        end = v + strlen(v);
    int n = snprintf(buf, cap, "%.*sdllama%s", (int)(v - label), label, end);
    return n > 0 && (size_t)n < cap;
}

/* ==== Points: the runs of one (scenario, label) gathered ==== */

typedef struct point {
    char scenario[64], label[512], system[32], kind[16];
    long idx;
    int n;         /* runs */
    double ms[64]; /* mean ms/token of each run (first 64 runs) */
    double p99_ms, missing_pct, compute_ms, network_ms;
    int nq; /* runs with quality */
    double ppl[64];
} point;

typedef struct points {
    point *v;
    int n, cap;
} points;

static int load_points(sqlite3 *db, points *ps, halo_err *err) {
    static const char sql[] =
        "SELECT r.scenario_name, r.point_label, r.system, r.kind, r.point, r.mean_ms, r.p99_ms, "
        "r.missing, r.expected, r.compute_ms, r.network_ms, q.perplexity FROM latest_run r "
        "LEFT JOIN quality q ON q.run_id = r.id ORDER BY r.scenario_name, r.point, r.run";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_err(db, err, "reading runs");
    int rc = HALO_OK;
    double miss = 0, exp_ = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        long idx = (long)sqlite3_column_int64(st, 4);
        point *p = ps->n ? &ps->v[ps->n - 1] : NULL;
        if (!p || strcmp(p->scenario, name) != 0 || p->idx != idx) {
            if (ps->n == ps->cap) {
                int cap = ps->cap ? 2 * ps->cap : 64;
                point *v = realloc(ps->v, (size_t)cap * sizeof *v);
                if (!v) {
                    rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
                    break;
                }
                ps->v = v;
                ps->cap = cap;
            }
            p = &ps->v[ps->n++];
            memset(p, 0, sizeof *p);
            (void)snprintf(p->scenario, sizeof p->scenario, "%s", name);
            (void)snprintf(p->label, sizeof p->label, "%s", sqlite3_column_text(st, 1));
            (void)snprintf(p->system, sizeof p->system, "%s", sqlite3_column_text(st, 2));
            (void)snprintf(p->kind, sizeof p->kind, "%s", sqlite3_column_text(st, 3));
            p->idx = idx;
            miss = exp_ = 0;
        }
        if (p->n < 64)
            p->ms[p->n] = sqlite3_column_double(st, 5);
        p->p99_ms += sqlite3_column_double(st, 6);
        miss += sqlite3_column_double(st, 7);
        exp_ += sqlite3_column_double(st, 8);
        p->missing_pct = exp_ > 0 ? 100 * miss / exp_ : 0;
        p->compute_ms += sqlite3_column_double(st, 9);
        p->network_ms += sqlite3_column_double(st, 10);
        if (sqlite3_column_type(st, 11) != SQLITE_NULL && p->nq < 64)
            p->ppl[p->nq++] = sqlite3_column_double(st, 11);
        p->n++;
    }
    sqlite3_finalize(st);
    for (int i = 0; i < ps->n; i++) {
        point *p = &ps->v[i];
        p->p99_ms /= p->n;
        p->compute_ms /= p->n;
        p->network_ms /= p->n;
        if (p->n > 64)
            p->n = 64;
    }
    return rc;
}

static const point *find_point(const points *ps, const char *scenario, const char *label) {
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i].scenario, scenario) == 0 && strcmp(ps->v[i].label, label) == 0)
            return &ps->v[i];
    return NULL;
}

static double point_mean(const point *p) {
    double m, h;
    mean_ci(p->ms, p->n, 0.95, &m, &h);
    return m;
}

static int open_read(const char *path, halo_db **db, halo_err *err) {
    return halo_db_new(db, path, HALO_DB_READ, err);
}

/* ==== halo report ==== */

static void report_scenario_header(sqlite3 *db, const char *name) {
    sqlite3_stmt *st = NULL;
    (void)printf("## %s\n\n", name);
    if (sqlite3_prepare_v2(
            db,
            "SELECT model, weights, kind, CASE WHEN min(n_devices) = max(n_devices) THEN "
            "min(n_devices) ELSE min(n_devices) || '-' || max(n_devices) END, "
            "min(seed), count(*), "
            "max(tokens), substr(scenario_hash, 1, 12), min(git_rev) FROM "
            "latest_run WHERE scenario_name = ?",
            -1, &st, NULL) == SQLITE_OK) {
        (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            (void)printf("Model %s (%s weights, %s), %s devices, seed %lld, %d runs stored, %d "
                         "tokens per run; scenario text %s, halo %s.\n\n",
                         sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                         sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                         (long long)sqlite3_column_int64(st, 4), sqlite3_column_int(st, 5),
                         sqlite3_column_int(st, 6), sqlite3_column_text(st, 7),
                         sqlite3_column_text(st, 8));
    }
    sqlite3_finalize(st);
}

static int cmd_report(const read_opts *o, halo_err *err) {
    halo_db *hdb = NULL;
    int rc = open_read(o->db, &hdb, err);
    if (rc != HALO_OK)
        return rc;
    sqlite3 *db = halo_db_handle(hdb);
    points ps = {0};
    rc = load_points(db, &ps, err);
    if (rc == HALO_OK && ps.n == 0)
        (void)printf("No runs in %s.\n", o->db);
    int pct = (int)lround(o->confidence * 100);
    for (int i = 0; rc == HALO_OK && i < ps.n; i++) {
        const point *p = &ps.v[i];
        int first = i == 0 || strcmp(ps.v[i - 1].scenario, p->scenario) != 0;
        if (first) {
            report_scenario_header(db, p->scenario);
            (void)printf("| point | runs | ms/token (mean ± %d%% CI) | p99 ms | compute ms | "
                         "network ms | missing | speedup vs dllama | perplexity (± %d%% CI) |\n",
                         pct, pct);
            (void)printf("|---|---|---|---|---|---|---|---|---|\n");
        }
        double m, h;
        mean_ci(p->ms, p->n, o->confidence, &m, &h);
        char speed[96] = "-", ppl[64] = "-", peer[512];
        if (strcmp(p->system, "dllama") != 0 && peer_label(p->label, peer, sizeof peer)) {
            const point *d = find_point(&ps, p->scenario, peer);
            if (d) {
                double dm, dh;
                mean_ci(d->ms, d->n, o->confidence, &dm, &dh);
                if (m > 0 && m - h > 0)
                    (void)snprintf(speed, sizeof speed, "%.2fx [%.2f, %.2f]", dm / m,
                                   (dm - dh) / (m + h), (dm + dh) / (m - h));
                else if (m > 0)
                    (void)snprintf(speed, sizeof speed, "%.2fx", dm / m);
            }
        }
        if (p->nq > 0) {
            double qm, qh;
            mean_ci(p->ppl, p->nq, o->confidence, &qm, &qh);
            if (p->nq > 1)
                (void)snprintf(ppl, sizeof ppl, "%.4f ± %.4f", qm, qh);
            else
                (void)snprintf(ppl, sizeof ppl, "%.4f", qm);
        } else if (strcmp(p->kind, "shape-only") == 0) {
            (void)snprintf(ppl, sizeof ppl, "n/a (shape-only)");
        }
        char ms[64];
        if (p->n > 1)
            (void)snprintf(ms, sizeof ms, "%.2f ± %.2f", m, h);
        else
            (void)snprintf(ms, sizeof ms, "%.2f", m);
        (void)printf("| %s | %d | %s | %.1f | %.1f | %.1f | %.2f%% | %s | %s |\n",
                     p->label[0] ? p->label : "(single point)", p->n, ms, p->p99_ms, p->compute_ms,
                     p->network_ms, p->missing_pct, speed, ppl);
        if (i + 1 == ps.n || strcmp(ps.v[i + 1].scenario, p->scenario) != 0)
            (void)printf("\n");
    }
    if (rc == HALO_OK && ps.n > 0)
        (void)printf("Confidence intervals: Student's t over the runs of a point (GSL "
                     "gsl_cdf_tdist_Pinv), none with one run. Speedup: the mean ms/token of the "
                     "matching engine.baseline=dllama point over this point's; its interval "
                     "combines the two intervals' ends (conservative). Shape-only runs have no "
                     "numerics and so no perplexity.\n");
    free(ps.v);
    halo_db_free(hdb);
    return rc;
}

/* ==== halo regress ==== */

typedef struct metric {
    char scenario[64], label[512], name[32];
    double value;
} metric;

/* The curves regress compares: per point, mean ms/token, missing %, perplexity, and the
 * speedup over the matching dllama point. */
static int current_metrics(const points *ps, metric **out, int *n_out, halo_err *err) {
    metric *v = calloc((size_t)ps->n * 4 + 1, sizeof *v);
    if (!v)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    int n = 0;
    for (int i = 0; i < ps->n; i++) {
        const point *p = &ps->v[i];
        double m = point_mean(p), qm, qh;
        char peer[512];
        metric base = {0};
        (void)snprintf(base.scenario, sizeof base.scenario, "%s", p->scenario);
        (void)snprintf(base.label, sizeof base.label, "%s", p->label);
        v[n] = base;
        (void)snprintf(v[n].name, sizeof v[n].name, "mean_ms");
        v[n++].value = m;
        v[n] = base;
        (void)snprintf(v[n].name, sizeof v[n].name, "missing_pct");
        v[n++].value = p->missing_pct;
        if (p->nq > 0) {
            mean_ci(p->ppl, p->nq, 0.95, &qm, &qh);
            v[n] = base;
            (void)snprintf(v[n].name, sizeof v[n].name, "perplexity");
            v[n++].value = qm;
        }
        if (strcmp(p->system, "dllama") != 0 && peer_label(p->label, peer, sizeof peer)) {
            const point *d = find_point(ps, p->scenario, peer);
            if (d && m > 0) {
                v[n] = base;
                (void)snprintf(v[n].name, sizeof v[n].name, "speedup");
                v[n++].value = point_mean(d) / m;
            }
        }
    }
    *out = v;
    *n_out = n;
    return HALO_OK;
}

/* Tolerances stated with the baseline: relative, and an absolute floor for values near 0. */
static void tolerance(const char *name, double *rel, double *abs_) {
    *rel = 0.10;
    *abs_ = 0.01;
    if (strcmp(name, "missing_pct") == 0) {
        *rel = 0.25;
        *abs_ = 0.5;
    } else if (strcmp(name, "perplexity") == 0) {
        *rel = 0.02;
        *abs_ = 0.0;
    }
}

static int write_baseline(const char *path, const metric *v, int n, halo_err *err) {
    char tmp[4200];
    (void)snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: %s", tmp, strerror(errno));
    (void)fprintf(f, "# halo regress baseline: scenario,point label,metric,value,relative "
                     "tolerance,absolute tolerance\n");
    for (int i = 0; i < n; i++) {
        double rel, abs_;
        tolerance(v[i].name, &rel, &abs_);
        (void)fprintf(f, "%s,%s,%s,%.6g,%g,%g\n", v[i].scenario, v[i].label, v[i].name, v[i].value,
                      rel, abs_);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: %s", path, strerror(errno));
    return HALO_OK;
}

static int cmd_regress(const read_opts *o, halo_err *err) {
    if (!o->baseline)
        return HALO_FAIL(err, HALO_ERR_ARG, "missing --baseline FILE");
    halo_db *hdb = NULL;
    int rc = open_read(o->db, &hdb, err);
    if (rc != HALO_OK)
        return rc;
    points ps = {0};
    metric *cur = NULL;
    int n_cur = 0;
    rc = load_points(halo_db_handle(hdb), &ps, err);
    if (rc == HALO_OK)
        rc = current_metrics(&ps, &cur, &n_cur, err);
    halo_db_free(hdb);
    free(ps.v);
    if (rc == HALO_OK && o->write) {
        rc = write_baseline(o->baseline, cur, n_cur, err);
        if (rc == HALO_OK)
            (void)printf("halo regress: wrote %d values to %s\n", n_cur, o->baseline);
        free(cur);
        return rc;
    }
    FILE *f = rc == HALO_OK ? fopen(o->baseline, "r") : NULL;
    if (rc == HALO_OK && !f)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: %s", o->baseline, strerror(errno));
    if (rc != HALO_OK) {
        free(cur);
        return rc;
    }
    char line[1024];
    int lineno = 0, checked = 0, failed = 0;
    (void)printf("| scenario | point | metric | baseline | now | change | tolerance | |\n"
                 "|---|---|---|---|---|---|---|---|\n");
    while (rc == HALO_OK && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *field[6];
        int nf = 0;
        for (char *s = line; nf < 6;) {
            field[nf++] = s;
            char *c = strchr(s, ',');
            if (!c)
                break;
            *c = '\0';
            s = c + 1;
        }
        char *end1, *end2, *end3;
        double want = nf == 6 ? strtod(field[3], &end1) : 0;
        double rel = nf == 6 ? strtod(field[4], &end2) : 0;
        double abs_ = nf == 6 ? strtod(field[5], &end3) : 0;
        if (nf != 6 || *end1 || *end2 || *end3) {
            rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                           "%s:%d: expected scenario,label,metric,value,rel,abs", o->baseline,
                           lineno);
            break;
        }
        const metric *m = NULL;
        for (int i = 0; i < n_cur && !m; i++)
            if (strcmp(cur[i].scenario, field[0]) == 0 && strcmp(cur[i].label, field[1]) == 0 &&
                strcmp(cur[i].name, field[2]) == 0)
                m = &cur[i];
        checked++;
        char tol[64];
        (void)snprintf(tol, sizeof tol, "±%g%% or ±%g", rel * 100, abs_);
        if (!m) {
            failed++;
            (void)printf("| %s | %s | %s | %.6g | missing | | %s | **FAIL** |\n", field[0],
                         field[1], field[2], want, tol);
            continue;
        }
        double diff = m->value - want, lim = fabs(want) * rel;
        int ok = fabs(diff) <= (lim > abs_ ? lim : abs_);
        failed += !ok;
        (void)printf("| %s | %s | %s | %.6g | %.6g | %+.1f%% | %s | %s |\n", field[0], field[1],
                     field[2], want, m->value, want != 0 ? 100 * diff / fabs(want) : 0.0, tol,
                     ok ? "ok" : "**FAIL**");
    }
    (void)fclose(f);
    free(cur);
    if (rc != HALO_OK)
        return rc;
    if (checked == 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: no baseline values", o->baseline);
    (void)printf("\nhalo regress: %d of %d values within tolerance\n", checked - failed, checked);
    if (failed)
        return HALO_FAIL(err, HALO_ERR_ARG, "%d of %d values outside their tolerance against %s",
                         failed, checked, o->baseline);
    return HALO_OK;
}

/* ==== halo plot ==== */

static const char *plot_dir(const read_opts *o, char *buf, size_t cap) {
    if (o->plots)
        return o->plots;
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

/* Copies s into buf for a gnuplot single-quoted string (no quotes, no newlines). */
static void gp_quote(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    for (; *s && n + 4 < cap; s++) {
        if (*s == '\'') { /* a typographic apostrophe (U+2019) */
            buf[n++] = (char)0xe2;
            buf[n++] = (char)0x80;
            buf[n++] = (char)0x99;
        } else {
            buf[n++] = *s == '\n' ? ' ' : *s;
        }
    }
    buf[n] = '\0';
}

static int read_whole(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (len + k + 1 > cap) {
            cap = (len + k + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                (void)fclose(f);
                return -1;
            }
            buf = nb;
        }
        memcpy(buf + len, tmp, k);
        len += k;
    }
    (void)fclose(f);
    if (!buf && !(buf = calloc(1, 1)))
        return -1;
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/*
 * Runs NAME.sql: its first statement's rows go to `dat` (whitespace-separated; when the
 * first column is named `series`, one gnuplot data block per series, and the series names
 * into `series`); the first value of an optional second statement is the figure's
 * conditions line. *rows counts data rows.
 */
static int run_query(sqlite3 *db, const char *sqlpath, const char *dat, char *series, size_t scap,
                     char *conditions, size_t ccap, long *rows, halo_err *err) {
    char *sql = NULL;
    if (read_whole(sqlpath, &sql) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot read", sqlpath);
    FILE *f = fopen(dat, "w");
    if (!f) {
        free(sql);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: %s", dat, strerror(errno));
    }
    const char *tail = sql;
    sqlite3_stmt *st = NULL;
    int rc = HALO_OK;
    *rows = 0;
    series[0] = conditions[0] = '\0';
    if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK || !st) {
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s", sqlpath, sqlite3_errmsg(db));
    } else {
        int nc = sqlite3_column_count(st);
        int split = nc > 0 && strcmp(sqlite3_column_name(st, 0), "series") == 0;
        char last[256] = "";
        size_t slen = 0;
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            if (split) {
                char raw[128], name[256];
                gp_quote((const char *)sqlite3_column_text(st, 0), raw, sizeof raw);
                /* gnuplot's words() splits on spaces: a series name keeps its spaces as
                 * no-break spaces (U+00A0), which print as spaces */
                size_t k = 0;
                for (const char *c = raw; *c && k + 3 < sizeof name; c++) {
                    if (*c == ' ') {
                        name[k++] = (char)0xc2;
                        name[k++] = (char)0xa0;
                    } else {
                        name[k++] = *c;
                    }
                }
                name[k] = '\0';
                if (*rows == 0 || strcmp(name, last) != 0) {
                    if (*rows > 0)
                        (void)fprintf(f, "\n\n");
                    (void)snprintf(last, sizeof last, "%s", name);
                    int w = snprintf(series + slen, scap - slen, "%s%s", slen ? " " : "", name);
                    if (w > 0 && (size_t)w < scap - slen)
                        slen += (size_t)w;
                }
            }
            for (int c = split; c < nc; c++) {
                const char *v = (const char *)sqlite3_column_text(st, c);
                (void)fprintf(f, "%s%s", c > split ? " " : "", v ? v : "NaN");
            }
            (void)fprintf(f, "\n");
            (*rows)++;
        }
        if (s != SQLITE_DONE)
            rc = HALO_FAIL(err, HALO_ERR_IO, "%s: %s", sqlpath, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    st = NULL;
    while (rc == HALO_OK && tail && *tail) {
        if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK) {
            rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s", sqlpath, sqlite3_errmsg(db));
            break;
        }
        if (!st)
            break; /* only whitespace or comments left */
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            gp_quote((const char *)sqlite3_column_text(st, 0), conditions, ccap);
        sqlite3_finalize(st);
        st = NULL;
        break;
    }
    if (fclose(f) != 0 && rc == HALO_OK)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: write error", dat);
    free(sql);
    return rc;
}

static int gnuplot(const char *dir, const char *gp, const char *dat, const char *out,
                   const char *term, const char *series, const char *conditions, halo_err *err) {
    char expr[8192];
    (void)snprintf(expr, sizeof expr,
                   "set terminal %s; set output '%s'; datafile = '%s'; series = '%s'; "
                   "conditions = '%s'; plotdir = '%s'",
                   term, out, dat, series, conditions, dir);
    pid_t pid = fork();
    if (pid < 0)
        return HALO_FAIL(err, HALO_ERR_IO, "fork: %s", strerror(errno));
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", "-e", expr, gp, (char *)NULL);
        (void)fprintf(stderr, "halo: gnuplot: %s (Debian: apt-get install gnuplot-nox)\n",
                      strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return HALO_FAIL(err, HALO_ERR_IO, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: gnuplot failed (exit %d) writing %s", gp,
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
    return HALO_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_plot(const read_opts *o, halo_err *err) {
    if (!o->out)
        return HALO_FAIL(err, HALO_ERR_ARG, "missing --out DIR");
    struct stat st;
    if (stat(o->out, &st) != 0 && mkdir(o->out, 0777) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create: %s", o->out, strerror(errno));
    if (stat(o->out, &st) != 0 || !S_ISDIR(st.st_mode))
        return HALO_FAIL(err, HALO_ERR_IO, "%s: not a directory", o->out);
    char pbuf[4200];
    const char *dir = plot_dir(o, pbuf, sizeof pbuf);
    DIR *d = opendir(dir);
    if (!d)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: plot scripts not found: %s (set HALO_PLOT_DIR)",
                         dir, strerror(errno));
    char *names[256] = {NULL};
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".gp") == 0 && e->d_name[0] != '_' &&
            (names[n] = strndup(e->d_name, len - 3)) != NULL)
            n++;
    }
    (void)closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    halo_db *hdb = NULL;
    int rc = open_read(o->db, &hdb, err);
    /* scratch for the queries' data files: $TMPDIR, else /tmp */
    const char *tmp_root = getenv("TMPDIR");
    char tmpdir[512];
    int tl = snprintf(tmpdir, sizeof tmpdir, "%s/halo-plot-XXXXXX",
                      tmp_root && *tmp_root ? tmp_root : "/tmp");
    if (rc == HALO_OK && (tl < 0 || (size_t)tl >= sizeof tmpdir))
        rc = HALO_FAIL(err, HALO_ERR_ARG, "TMPDIR is too long");
    if (rc == HALO_OK && !mkdtemp(tmpdir))
        rc = HALO_FAIL(err, HALO_ERR_IO, "cannot make a scratch directory in %s: %s",
                       tmp_root && *tmp_root ? tmp_root : "/tmp", strerror(errno));
    int made = 0, skipped = 0;
    for (int i = 0; rc == HALO_OK && i < n; i++) {
        char sqlp[4400], gp[4400], dat[4400], out[4400], series[4096], cond[1024];
        (void)snprintf(sqlp, sizeof sqlp, "%s/%s.sql", dir, names[i]);
        (void)snprintf(gp, sizeof gp, "%s/%s.gp", dir, names[i]);
        (void)snprintf(dat, sizeof dat, "%s/%s.dat", tmpdir, names[i]);
        long rows = 0;
        rc = run_query(halo_db_handle(hdb), sqlp, dat, series, sizeof series, cond, sizeof cond,
                       &rows, err);
        if (rc != HALO_OK)
            break;
        if (rows == 0) {
            (void)fprintf(stderr, "halo plot: %s: no data in %s, skipped\n", names[i], o->db);
            skipped++;
        } else {
            (void)snprintf(out, sizeof out, "%s/%s.png", o->out, names[i]);
            rc = gnuplot(dir, gp, dat, out, "pngcairo size 960,640 font 'Sans,11'", series, cond,
                         err);
            (void)snprintf(out, sizeof out, "%s/%s.svg", o->out, names[i]);
            if (rc == HALO_OK)
                rc = gnuplot(dir, gp, dat, out, "svg size 960,640 font 'Sans,11'", series, cond,
                             err);
            if (rc == HALO_OK) {
                (void)printf("%s/%s.png %s/%s.svg (%ld rows)\n", o->out, names[i], o->out, names[i],
                             rows);
                made++;
            }
        }
        (void)remove(dat);
    }
    if (tmpdir[0] && strstr(tmpdir, "XXXXXX") == NULL)
        (void)rmdir(tmpdir);
    for (int i = 0; i < n; i++)
        free(names[i]);
    halo_db_free(hdb);
    if (rc == HALO_OK)
        (void)printf("halo plot: %d figures in %s, %d skipped for lack of data\n", made, o->out,
                     skipped);
    return rc;
}

/* ==== Entry points ==== */

static int run(int argc, char **argv, const char *name, const char *help,
               int (*fn)(const read_opts *, halo_err *)) {
    halo_err err = {0};
    read_opts o;
    int rc = parse(argc, argv, &o, &err);
    if (rc == HALO_OK && o.help) {
        (void)fputs(help, stdout);
        return HALO_EXIT_OK;
    }
    if (rc == HALO_OK && strcmp(name, "regress") == 0 && !o.baseline)
        rc = HALO_FAIL(&err, HALO_ERR_ARG, "missing --baseline FILE");
    if (rc != HALO_OK)
        return halo_cli_usage_error(&err, name);
    rc = fn(&o, &err);
    if (rc != HALO_OK) {
        (void)fflush(stdout);
        halo_cli_print_err(&err);
        return rc == HALO_ERR_ARG && strcmp(name, "regress") != 0 ? HALO_EXIT_USAGE
                                                                  : HALO_EXIT_FAIL;
    }
    return HALO_EXIT_OK;
}

int halo_cmd_plot(int argc, char **argv) {
    return run(argc, argv, "plot",
               "usage: halo plot --db FILE --out DIR [--plots DIR]\n\n"
               "Draws every figure of plots/ (NAME.sql: the query; NAME.gp: the gnuplot script)\n"
               "from the database into DIR/NAME.png and DIR/NAME.svg. A figure whose query finds\n"
               "no rows is skipped with a note. Needs gnuplot (Debian: gnuplot-nox). Scripts are\n"
               "found in --plots DIR, $HALO_PLOT_DIR, ../share/halo/plots beside the binary, or\n"
               "the source tree.\n",
               cmd_plot);
}

int halo_cmd_report(int argc, char **argv) {
    return run(argc, argv, "report",
               "usage: halo report --db FILE [--confidence C]\n\n"
               "Prints markdown tables of every scenario in the database (its newest text):\n"
               "per point, ms/token with its confidence interval over runs (C, default 0.95;\n"
               "Student's t), p99, the split, missing contributions, the speedup over the\n"
               "matching distributed-llama point, and perplexity where measured.\n",
               cmd_report);
}

int halo_cmd_regress(int argc, char **argv) {
    return run(argc, argv, "regress",
               "usage: halo regress --db FILE --baseline CSV [--write]\n\n"
               "Compares the database's curves (per point: mean ms/token, missing %, speedup over\n"
               "distributed-llama, perplexity) with a committed baseline CSV whose rows carry\n"
               "their tolerances (relative, and an absolute floor). Prints a table and exits 1\n"
               "if any value is outside its tolerance or missing. --write writes the baseline\n"
               "from the database instead (default tolerances: ms/token and speedup 10%,\n"
               "missing 25% or 0.5 points, perplexity 2%).\n",
               cmd_regress);
}
