/*
 * Reports over the results database (results/report.h): points of the latest runs, their
 * t-intervals, and the markdown tables of `halo report`.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/report.h"

#include "results/db_internal.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== Points ==== */

void halo_report_mean_ci(const double *x, int n, double confidence, double *mean, double *half) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    *mean = n ? s / n : 0;
    for (int i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *half = 0;
    if (n >= 2) {
        double sd = sqrt(ss / (n - 1));
        *half = gsl_cdf_tdist_Pinv(0.5 + confidence / 2, n - 1) * sd / sqrt((double)n);
    }
}

void halo_report_points_free(halo_report_points *ps) {
    free(ps->v);
    *ps = (halo_report_points){0};
}

/* A new point at the end of ps, zeroed; NULL when out of memory. */
static halo_report_point *add_point(halo_report_points *ps) {
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 64;
        halo_report_point *v = realloc(ps->v, (size_t)cap * sizeof *v);
        if (!v)
            return NULL;
        ps->v = v;
        ps->cap = cap;
    }
    halo_report_point *p = &ps->v[ps->n++];
    memset(p, 0, sizeof *p);
    return p;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src) {
    (void)snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

int halo_report_points_load(halo_db *hdb, halo_report_points *ps, halo_err *err) {
    static const char sql[] =
        "SELECT r.scenario_name, r.point_label, r.system, r.kind, r.point, r.mean_ms, r.p99_ms, "
        "r.missing, r.expected, r.compute_ms, r.network_ms, q.perplexity FROM latest_run r "
        "LEFT JOIN quality q ON q.run_id = r.id ORDER BY r.scenario_name, r.point, r.run";
    *ps = (halo_report_points){0};
    sqlite3 *db = halo__db_handle(hdb);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: reading runs: %s", halo_db_path(hdb),
                         sqlite3_errmsg(db));
    int rc = HALO_OK;
    double miss = 0, expected = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        long idx = (long)sqlite3_column_int64(st, 4);
        halo_report_point *p = ps->n ? &ps->v[ps->n - 1] : NULL;
        if (!p || strcmp(p->scenario, name ? name : "") != 0 || p->point != idx) {
            if (!(p = add_point(ps))) {
                rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", halo_db_path(hdb));
                break;
            }
            copy_text(p->scenario, sizeof p->scenario, sqlite3_column_text(st, 0));
            copy_text(p->label, sizeof p->label, sqlite3_column_text(st, 1));
            copy_text(p->system, sizeof p->system, sqlite3_column_text(st, 2));
            copy_text(p->kind, sizeof p->kind, sqlite3_column_text(st, 3));
            p->point = idx;
            miss = expected = 0;
        }
        if (p->n_runs < HALO_REPORT_MAX_RUNS)
            p->ms[p->n_runs] = sqlite3_column_double(st, 5);
        p->p99_ms += sqlite3_column_double(st, 6);
        miss += sqlite3_column_double(st, 7);
        expected += sqlite3_column_double(st, 8);
        p->missing_pct = expected > 0 ? 100 * miss / expected : 0;
        p->compute_ms += sqlite3_column_double(st, 9);
        p->network_ms += sqlite3_column_double(st, 10);
        if (sqlite3_column_type(st, 11) != SQLITE_NULL && p->n_quality < HALO_REPORT_MAX_RUNS)
            p->ppl[p->n_quality++] = sqlite3_column_double(st, 11);
        p->n_runs++; /* all runs here, for the means; capped below */
    }
    sqlite3_finalize(st);
    for (int i = 0; i < ps->n; i++) {
        halo_report_point *p = &ps->v[i];
        p->p99_ms /= p->n_runs;
        p->compute_ms /= p->n_runs;
        p->network_ms /= p->n_runs;
        if (p->n_runs > HALO_REPORT_MAX_RUNS)
            p->n_runs = HALO_REPORT_MAX_RUNS;
    }
    if (rc != HALO_OK)
        halo_report_points_free(ps);
    return rc;
}

const halo_report_point *halo_report_peer(const halo_report_points *ps,
                                          const halo_report_point *p) {
    static const char key[] = "engine.baseline=";
    const char *k = strstr(p->label, key);
    if (strcmp(p->system, "dllama") == 0 || !k)
        return NULL;
    const char *v = k + strlen(key), *end = strchr(v, ' ');
    if (!end)
        end = v + strlen(v);
    char label[sizeof p->label];
    int n = snprintf(label, sizeof label, "%.*sdllama%s", (int)(v - p->label), p->label, end);
    if (n <= 0 || (size_t)n >= sizeof label)
        return NULL;
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i].scenario, p->scenario) == 0 && strcmp(ps->v[i].label, label) == 0)
            return &ps->v[i];
    return NULL;
}

/* ==== The markdown report ==== */

static void scenario_header(FILE *out, sqlite3 *db, const char *name) {
    sqlite3_stmt *st = NULL;
    (void)fprintf(out, "## %s\n\n", name);
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
            (void)fprintf(out,
                          "Model %s (%s weights, %s), %s devices, seed %lld, %d runs stored, %d "
                          "tokens per run; scenario text %s, halo %s.\n\n",
                          sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                          sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                          (long long)sqlite3_column_int64(st, 4), sqlite3_column_int(st, 5),
                          sqlite3_column_int(st, 6), sqlite3_column_text(st, 7),
                          sqlite3_column_text(st, 8));
    }
    sqlite3_finalize(st);
}

/* "12.34 ± 0.56" with `decimals` digits (or without the interval for one value) into buf. */
static void mean_text(char *buf, size_t cap, int decimals, double m, double h, int n) {
    if (n > 1)
        (void)snprintf(buf, cap, "%.*f ± %.*f", decimals, m, decimals, h);
    else
        (void)snprintf(buf, cap, "%.*f", decimals, m);
}

static void point_row(FILE *out, const halo_report_points *ps, const halo_report_point *p,
                      double confidence) {
    double m, h;
    halo_report_mean_ci(p->ms, p->n_runs, confidence, &m, &h);
    char speed[96] = "-", ppl[64] = "-", ms[64];
    const halo_report_point *d = halo_report_peer(ps, p);
    if (d) {
        double dm, dh;
        halo_report_mean_ci(d->ms, d->n_runs, confidence, &dm, &dh);
        if (m > 0 && m - h > 0)
            (void)snprintf(speed, sizeof speed, "%.2fx [%.2f, %.2f]", dm / m, (dm - dh) / (m + h),
                           (dm + dh) / (m - h));
        else if (m > 0)
            (void)snprintf(speed, sizeof speed, "%.2fx", dm / m);
    }
    if (p->n_quality > 0) {
        double qm, qh;
        halo_report_mean_ci(p->ppl, p->n_quality, confidence, &qm, &qh);
        mean_text(ppl, sizeof ppl, 4, qm, qh, p->n_quality);
    } else if (strcmp(p->kind, "shape-only") == 0) {
        (void)snprintf(ppl, sizeof ppl, "n/a (shape-only)");
    }
    mean_text(ms, sizeof ms, 2, m, h, p->n_runs);
    (void)fprintf(out, "| %s | %d | %s | %.1f | %.1f | %.1f | %.2f%% | %s | %s |\n",
                  p->label[0] ? p->label : "(single point)", p->n_runs, ms, p->p99_ms,
                  p->compute_ms, p->network_ms, p->missing_pct, speed, ppl);
}

int halo_report_write(FILE *out, const char *db_path, double confidence, halo_err *err) {
    halo_db *hdb = NULL;
    int rc = halo_db_new(&hdb, db_path, HALO_DB_READ, err);
    if (rc != HALO_OK)
        return rc;
    halo_report_points ps = {0};
    rc = halo_report_points_load(hdb, &ps, err);
    if (rc == HALO_OK && ps.n == 0)
        (void)fprintf(out, "No runs in %s.\n", db_path);
    int pct = (int)lround(confidence * 100);
    for (int i = 0; rc == HALO_OK && i < ps.n; i++) {
        const halo_report_point *p = &ps.v[i];
        if (i == 0 || strcmp(ps.v[i - 1].scenario, p->scenario) != 0) {
            scenario_header(out, halo__db_handle(hdb), p->scenario);
            (void)fprintf(out,
                          "| point | runs | ms/token (mean ± %d%% CI) | p99 ms | compute ms | "
                          "network ms | missing | speedup vs dllama | perplexity (± %d%% CI) |\n"
                          "|---|---|---|---|---|---|---|---|---|\n",
                          pct, pct);
        }
        point_row(out, &ps, p, confidence);
        if (i + 1 == ps.n || strcmp(ps.v[i + 1].scenario, p->scenario) != 0)
            (void)fprintf(out, "\n");
    }
    if (rc == HALO_OK && ps.n > 0)
        (void)fprintf(out,
                      "Confidence intervals: Student's t over the runs of a point (GSL "
                      "gsl_cdf_tdist_Pinv), none with one run. Speedup: the mean ms/token of the "
                      "matching engine.baseline=dllama point over this point's; its interval "
                      "combines the two intervals' ends (conservative). Shape-only runs have no "
                      "numerics and so no perplexity.\n");
    if (rc == HALO_OK && (fflush(out) != 0 || ferror(out)))
        rc = HALO_FAIL(err, HALO_ERR_IO, "writing the report of %s failed", db_path);
    halo_report_points_free(&ps);
    halo_db_free(hdb);
    return rc;
}
