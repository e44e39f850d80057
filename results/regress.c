/*
 * The regression check against a baseline CSV (results/regress.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "results/regress.h"

#include "core/file.h"
#include "results/report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A baseline is a few hundred lines; this bounds a wrong file named by mistake. */
#define MAX_BASELINE_BYTES ((size_t)64 << 20)

typedef struct metric {
    char scenario[64], label[512], name[32];
    double value;
} metric;

static void add_metric(metric *v, int *n, const halo_report_point *p, const char *name,
                       double value) {
    metric *m = &v[(*n)++];
    (void)snprintf(m->scenario, sizeof m->scenario, "%s", p->scenario);
    (void)snprintf(m->label, sizeof m->label, "%s", p->label);
    (void)snprintf(m->name, sizeof m->name, "%s", name);
    m->value = value;
}

static double point_mean(const halo_report_point *p) {
    double m, h;
    halo_report_mean_ci(p->ms, p->n_runs, 0.95, &m, &h);
    return m;
}

/* The curves regress compares, per point: mean ms/token, missing %, perplexity, and the
 * speedup over the matching dllama point; from the database at `db_path`. */
static int current_metrics(const char *db_path, metric **out, int *n_out, halo_err *err) {
    *out = NULL;
    *n_out = 0;
    halo_report_points ps;
    int rc = halo_report_points_read(db_path, NULL, &ps, err);
    if (rc != HALO_OK)
        return rc;
    metric *v = calloc((size_t)ps.n * 4 + 1, sizeof *v);
    if (!v) {
        halo_report_points_free(&ps);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", db_path);
    }
    int n = 0;
    for (int i = 0; i < ps.n; i++) {
        const halo_report_point *p = &ps.v[i];
        double m = point_mean(p);
        add_metric(v, &n, p, "mean_ms", m);
        add_metric(v, &n, p, "missing_pct", p->missing_pct);
        if (p->n_quality > 0) {
            double qm, qh;
            halo_report_mean_ci(p->ppl, p->n_quality, 0.95, &qm, &qh);
            add_metric(v, &n, p, "perplexity", qm);
        }
        const halo_report_point *d = halo_report_peer(&ps, p);
        if (d && m > 0)
            add_metric(v, &n, p, "speedup", point_mean(d) / m);
    }
    halo_report_points_free(&ps);
    *out = v;
    *n_out = n;
    return HALO_OK;
}

/* The metrics current_metrics gives, the only ones a baseline row may name. */
static int known_metric(const char *name) {
    static const char *const names[] = {"mean_ms", "missing_pct", "perplexity", "speedup"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    return 0;
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

int halo_regress_write_baseline(const char *db_path, const char *baseline_path, int *n_values,
                                halo_err *err) {
    metric *v = NULL;
    int n = 0;
    int rc = current_metrics(db_path, &v, &n, err);
    if (rc != HALO_OK)
        return rc;
    if (n == 0) { /* regress would refuse the file ("no baseline values"): write none */
        free(v);
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: no runs to write a baseline from; %s not written", db_path,
                         baseline_path);
    }
    char tmp[4200];
    FILE *f = NULL;
    int len = snprintf(tmp, sizeof tmp, "%s.tmp", baseline_path);
    if (len < 0 || (size_t)len >= sizeof tmp)
        rc = HALO_FAIL(err, HALO_ERR_ARG, "%s: path too long", baseline_path);
    else if (!(f = fopen(tmp, "w")))
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (rc == HALO_OK) {
        (void)fprintf(f, "# halo regress baseline: scenario,point label,metric,value,relative "
                         "tolerance,absolute tolerance\n");
        for (int i = 0; i < n; i++) {
            double rel, abs_;
            tolerance(v[i].name, &rel, &abs_);
            halo_report_csv_field(f, v[i].scenario);
            (void)fputc(',', f);
            halo_report_csv_field(f, v[i].label);
            (void)fprintf(f, ",%s,%.6g,%g,%g\n", v[i].name, v[i].value, rel, abs_);
        }
        if (fclose(f) != 0 || rename(tmp, baseline_path) != 0)
            rc = HALO_FAIL(err, HALO_ERR_IO, "%s: %s", baseline_path, strerror(errno));
    }
    free(v);
    if (rc == HALO_OK && n_values)
        *n_values = n;
    return rc;
}

/* Splits `line` (changed in place) into at most 6 CSV fields: a field may be quoted, with ""
   for a quote inside. Returns the number of fields, or -1 for a field with a quote left
   open or text after its closing quote. */
static int split(char *line, char *field[6]) {
    int nf = 0;
    char *s = line;
    for (;;) {
        if (nf == 6)
            return 7; /* more fields than a row has */
        if (*s == '"') {
            char *w = s, *r = s + 1;
            field[nf++] = w;
            for (;;) {
                if (!*r)
                    return -1;
                if (r[0] == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (r[0] == '"') {
                    r++;
                    break;
                } else {
                    *w++ = *r++;
                }
            }
            *w = '\0';
            if (*r != ',' && *r != '\0')
                return -1;
            if (*r == '\0')
                return nf;
            s = r + 1;
        } else {
            field[nf++] = s;
            char *c = strchr(s, ',');
            if (!c)
                return nf;
            *c = '\0';
            s = c + 1;
        }
    }
}

/* Checks one baseline row against the current values, printing its table row; returns 1 if
   it passes, 0 if not, or an error for a malformed row. */
static int check_row(FILE *out, char *line, const char *path, int lineno, const metric *cur,
                     int n_cur, halo_err *err) {
    char *field[6], *end1, *end2, *end3;
    int nf = split(line, field);
    double want = nf == 6 ? strtod(field[3], &end1) : 0;
    double rel = nf == 6 ? strtod(field[4], &end2) : 0;
    double abs_ = nf == 6 ? strtod(field[5], &end3) : 0;
    if (nf != 6 || *end1 || *end2 || *end3)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s:%d: expected scenario,label,metric,value,rel,abs (a field with a "
                         "comma in double quotes)",
                         path, lineno);
    /* strtod takes inf and nan: a non-finite value or tolerance compares as anything */
    if (!known_metric(field[2]))
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s:%d: unknown metric '%s' (mean_ms, missing_pct, perplexity, speedup)",
                         path, lineno, field[2]);
    if (!isfinite(want))
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s:%d: value '%s' is not a finite number", path,
                         lineno, field[3]);
    if (!isfinite(rel) || rel < 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s:%d: relative tolerance '%s' is not a finite number >= 0", path, lineno,
                         field[4]);
    if (!isfinite(abs_) || abs_ < 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s:%d: absolute tolerance '%s' is not a finite number >= 0", path, lineno,
                         field[5]);
    const metric *m = NULL;
    for (int i = 0; i < n_cur && !m; i++)
        if (strcmp(cur[i].scenario, field[0]) == 0 && strcmp(cur[i].label, field[1]) == 0 &&
            strcmp(cur[i].name, field[2]) == 0)
            m = &cur[i];
    char tol[64], sc[160], label[1100];
    (void)snprintf(tol, sizeof tol, "±%g%% or ±%g", rel * 100, abs_);
    /* a '|' in a scenario name or label would split its table cell */
    const char *name = halo_report_md_cell(field[0], sc, sizeof sc);
    const char *lab = halo_report_md_cell(field[1], label, sizeof label);
    if (!m) {
        (void)fprintf(out, "| %s | %s | %s | %.6g | missing | | %s | **FAIL** |\n", name, lab,
                      field[2], want, tol);
        return 0;
    }
    double diff = m->value - want, lim = fabs(want) * rel;
    int ok = fabs(diff) <= (lim > abs_ ? lim : abs_);
    (void)fprintf(out, "| %s | %s | %s | %.6g | %.6g | %+.1f%% | %s | %s |\n", name, lab, field[2],
                  want, m->value, want != 0 ? 100 * diff / fabs(want) : 0.0, tol,
                  ok ? "ok" : "**FAIL**");
    return ok;
}

int halo_regress_check(FILE *out, const char *db_path, const char *baseline_path, int *n_checked,
                       int *n_failed, halo_err *err) {
    *n_checked = *n_failed = 0;
    metric *cur = NULL;
    int n_cur = 0;
    char *text = NULL;
    size_t len = 0;
    int rc = current_metrics(db_path, &cur, &n_cur, err);
    if (rc == HALO_OK)
        rc = halo_file_read_text(baseline_path, MAX_BASELINE_BYTES, &text, &len, err);
    if (rc == HALO_OK)
        (void)fprintf(out, "| scenario | point | metric | baseline | now | change | tolerance | |\n"
                           "|---|---|---|---|---|---|---|---|\n");
    int lineno = 0;
    for (char *line = text; rc == HALO_OK && line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        line[strcspn(line, "\r")] = '\0';
        if (line[0] != '#' && line[0] != '\0') {
            int ok = check_row(out, line, baseline_path, lineno, cur, n_cur, err);
            if (ok < 0)
                rc = ok;
            else {
                (*n_checked)++;
                *n_failed += !ok;
            }
        }
        line = next;
    }
    free(text);
    free(cur);
    if (rc == HALO_OK && *n_checked == 0)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: no baseline values", baseline_path);
    return rc;
}
