/*
 * Reports over the results database (results/report.h): points of the latest runs, their
 * t-intervals, and the markdown tables of `halo report`.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/report.h"

#include "core/grow.h"
#include "core/json.h"
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
    return halo__push(&ps->v, &ps->n, &ps->cap, sizeof(halo_report_point), 64);
}

static void copy_text(char *dst, size_t cap, const unsigned char *src) {
    (void)snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

int halo_report_points_load(halo_db *hdb, halo_report_points *ps, halo_err *err) {
    static const char sql[] =
        "SELECT r.scenario_name, r.point_label, r.system, r.kind, r.point, r.mean_ms, r.p99_ms, "
        "r.missing, r.expected, r.compute_ms, r.network_ms, q.perplexity, r.stragglers_ms, "
        "r.loss, r.packets_lost, r.queue_drops FROM latest_run r "
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
        p->stragglers_ms += sqlite3_column_double(st, 12);
        p->loss += sqlite3_column_double(st, 13);
        p->packets_lost += sqlite3_column_double(st, 14);
        p->queue_drops += sqlite3_column_double(st, 15);
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
        p->stragglers_ms /= p->n_runs;
        p->loss /= p->n_runs;
        p->packets_lost /= p->n_runs;
        p->queue_drops /= p->n_runs;
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

/* The statement `sql` with `text` bound to its parameter 1, stepped to its first row; NULL
   when it fails or has no row. Finalize it. */
static sqlite3_stmt *first_row(sqlite3 *db, const char *sql, const char *text) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static void scenario_header(FILE *out, sqlite3 *db, const char *name) {
    (void)fprintf(out, "## %s\n\n", name);
    sqlite3_stmt *st = first_row(
        db,
        "SELECT model, weights, kind, CASE WHEN min(n_devices) = max(n_devices) THEN "
        "min(n_devices) ELSE min(n_devices) || '-' || max(n_devices) END, min(seed), count(*), "
        "max(tokens), substr(scenario_hash, 1, 12), min(git_rev) FROM latest_run WHERE "
        "scenario_name = ?",
        name);
    if (st)
        (void)fprintf(out,
                      "Model %s (%s weights, %s), %s devices, seed %lld, %d runs stored, %d "
                      "tokens per run; scenario version %s, halo %s.\n\n",
                      sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                      sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                      (long long)sqlite3_column_int64(st, 4), sqlite3_column_int(st, 5),
                      sqlite3_column_int(st, 6), sqlite3_column_text(st, 7),
                      sqlite3_column_text(st, 8));
    sqlite3_finalize(st);
}

/* "12.34 ± 0.56" with `decimals` digits (or without the interval for one value) into buf. */
static void mean_text(char *buf, size_t cap, int decimals, double m, double h, int n) {
    if (n > 1)
        (void)snprintf(buf, cap, "%.*f ± %.*f", decimals, m, decimals, h);
    else
        (void)snprintf(buf, cap, "%.*f", decimals, m);
}

/* The speedup over the matching dllama point: 1 with *value and its interval's ends (0 when
   the interval is not defined), 0 when there is none. */
static int speedup(const halo_report_points *ps, const halo_report_point *p, double confidence,
                   double *value, double *lo, double *hi) {
    double m, h, dm, dh;
    const halo_report_point *d = halo_report_peer(ps, p);
    halo_report_mean_ci(p->ms, p->n_runs, confidence, &m, &h);
    if (!d || !(m > 0))
        return 0;
    halo_report_mean_ci(d->ms, d->n_runs, confidence, &dm, &dh);
    *value = dm / m;
    *lo = *hi = 0;
    if (m - h > 0) {
        *lo = (dm - dh) / (m + h);
        *hi = (dm + dh) / (m - h);
    }
    return 1;
}

static void point_row(FILE *out, const halo_report_points *ps, const halo_report_point *p,
                      double confidence) {
    double m, h, sv, lo, hi;
    halo_report_mean_ci(p->ms, p->n_runs, confidence, &m, &h);
    char speed[96] = "-", ppl[64] = "-", ms[64];
    if (speedup(ps, p, confidence, &sv, &lo, &hi)) {
        if (hi > 0)
            (void)snprintf(speed, sizeof speed, "%.2fx [%.2f, %.2f]", sv, lo, hi);
        else
            (void)snprintf(speed, sizeof speed, "%.2fx", sv);
    }
    if (p->n_quality > 0) {
        double qm, qh;
        halo_report_mean_ci(p->ppl, p->n_quality, confidence, &qm, &qh);
        mean_text(ppl, sizeof ppl, 4, qm, qh, p->n_quality);
    } else if (strcmp(p->kind, "shape-only") == 0) {
        (void)snprintf(ppl, sizeof ppl, "n/a (shape-only)");
    }
    mean_text(ms, sizeof ms, 2, m, h, p->n_runs);
    char label[1100];
    (void)fprintf(out,
                  "| %s | %d | %s | %.1f | %.1f | %.1f | %.1f | %.2f%% | %.4g | %.0f | %.0f | %s "
                  "| %s |\n",
                  p->label[0] ? halo_report_md_cell(p->label, label, sizeof label)
                              : "(single point)",
                  p->n_runs, ms, p->p99_ms, p->compute_ms, p->stragglers_ms, p->network_ms,
                  p->missing_pct, p->loss, p->packets_lost, p->queue_drops, speed, ppl);
}

int halo_report_points_read(const char *db_path, halo_db **db, halo_report_points *ps,
                            halo_err *err) {
    *ps = (halo_report_points){0};
    halo_db *hdb = NULL;
    int rc = halo_db_new(&hdb, db_path, HALO_DB_READ, err);
    if (rc == HALO_OK)
        rc = halo_report_points_load(hdb, ps, err);
    if (rc != HALO_OK || !db) {
        halo_db_free(hdb);
        hdb = NULL;
    }
    if (db)
        *db = hdb;
    return rc;
}

/* ==== JSON ==== */

void halo_report_json_string(FILE *out, const char *s) {
    (void)fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            (void)fprintf(out, "\\%c", *c);
        else if (*c < 0x20)
            (void)fprintf(out, "\\u%04x", *c);
        else
            (void)fputc(*c, out);
    }
    (void)fputc('"', out);
}

void halo_report_csv_field(FILE *out, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        (void)fputs(s, out);
        return;
    }
    (void)fputc('"', out);
    for (const char *c = s; *c; c++) {
        if (*c == '"')
            (void)fputc('"', out);
        (void)fputc(*c, out);
    }
    (void)fputc('"', out);
}

const char *halo_report_md_cell(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    for (const char *c = s; *c && n + 2 < cap; c++) {
        if (*c == '|')
            buf[n++] = '\\';
        buf[n++] = *c == '\n' || *c == '\r' ? ' ' : *c;
    }
    if (cap)
        buf[n < cap ? n : cap - 1] = '\0';
    return buf;
}

/* A measured value (core/json.h): never NaN or Inf; one that is not finite is printed as
   null and recorded in the document's guard, which then fails the report naming it. */
static void json_num(FILE *out, double v, const char *field, halo_json_guard *g) {
    halo_json_num(out, v, HALO_JSON_GENERAL, 10, field, g);
}

/* A statistic that may not exist: null by the format's contract (the interval of a speedup
   with no interval of its own), never an error. */
static void json_num_or_null(FILE *out, double v) {
    halo_json_num(out, v, HALO_JSON_GENERAL, 10, NULL, NULL);
}

/* {"key": "value", ...} of a label "k1=v1 k2=v2". */
static void json_axes(FILE *out, const char *label) {
    (void)fputc('{', out);
    int first = 1;
    for (const char *s = label; *s;) {
        size_t n = strcspn(s, " ");
        const char *eq = memchr(s, '=', n);
        if (eq) {
            char key[256], val[256];
            (void)snprintf(key, sizeof key, "%.*s", (int)(eq - s), s);
            (void)snprintf(val, sizeof val, "%.*s", (int)(s + n - eq - 1), eq + 1);
            (void)fputs(first ? "" : ", ", out);
            halo_report_json_string(out, key);
            (void)fputs(": ", out);
            halo_report_json_string(out, val);
            first = 0;
        }
        s += n;
        while (*s == ' ')
            s++;
    }
    (void)fputc('}', out);
}

static void json_point(FILE *out, const halo_report_points *ps, const halo_report_point *p,
                       double confidence, halo_json_guard *g) {
    double m, h, sv, lo, hi;
    halo_report_mean_ci(p->ms, p->n_runs, confidence, &m, &h);
    (void)fprintf(out, "{\"point\": %ld, \"label\": ", p->point);
    halo_report_json_string(out, p->label);
    (void)fputs(", \"axes\": ", out);
    json_axes(out, p->label);
    (void)fputs(", \"system\": ", out);
    halo_report_json_string(out, p->system);
    (void)fprintf(out, ", \"runs\": %d, \"ms_per_token\": {\"mean\": ", p->n_runs);
    json_num(out, m, "ms_per_token.mean", g);
    (void)fputs(", \"ci\": ", out);
    json_num(out, h, "ms_per_token.ci", g);

    const struct {
        const char *key;
        double v;
    } f[] = {{"p99_ms", p->p99_ms},
             {"compute_ms", p->compute_ms},
             {"stragglers_ms", p->stragglers_ms},
             {"network_ms", p->network_ms},
             {"missing_pct", p->missing_pct},
             {"loss", p->loss},
             {"packets_lost", p->packets_lost},
             {"queue_drops", p->queue_drops}};

    (void)fputc('}', out);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        (void)fprintf(out, ", \"%s\": ", f[i].key);
        json_num(out, f[i].v, f[i].key, g);
    }
    (void)fputs(", \"speedup\": ", out);
    if (speedup(ps, p, confidence, &sv, &lo, &hi)) {
        (void)fputs("{\"mean\": ", out);
        json_num(out, sv, "speedup.mean", g);
        (void)fputs(", \"lo\": ", out);
        json_num_or_null(out, hi > 0 ? lo : (double)NAN);
        (void)fputs(", \"hi\": ", out);
        json_num_or_null(out, hi > 0 ? hi : (double)NAN);
        (void)fputc('}', out);
    } else {
        (void)fputs("null", out);
    }
    (void)fputs(", \"perplexity\": ", out);
    if (p->n_quality > 0) {
        double qm, qh;
        halo_report_mean_ci(p->ppl, p->n_quality, confidence, &qm, &qh);
        (void)fputs("{\"mean\": ", out);
        json_num(out, qm, "perplexity.mean", g);
        (void)fputs(", \"ci\": ", out);
        json_num(out, qh, "perplexity.ci", g);
        (void)fputc('}', out);
    } else {
        (void)fputs("null", out);
    }
    (void)fputc('}', out);
}

static void json_scenario_head(FILE *out, sqlite3 *db, const char *name) {
    (void)fputs("{\"name\": ", out);
    halo_report_json_string(out, name);
    sqlite3_stmt *st = first_row(db,
                                 "SELECT model, weights, kind, max(n_devices) FROM latest_run "
                                 "WHERE scenario_name = ?",
                                 name);
    if (st) {
        static const char *const keys[] = {"model", "weights", "kind"};
        for (int k = 0; k < 3; k++) {
            const unsigned char *v = sqlite3_column_text(st, k);
            (void)fprintf(out, ", \"%s\": ", keys[k]);
            halo_report_json_string(out, v ? (const char *)v : "");
        }
        (void)fprintf(out, ", \"devices\": %d", sqlite3_column_int(st, 3));
    }
    sqlite3_finalize(st);
    (void)fputs(", \"points\": [", out);
}

/* ==== Writing ==== */

/* The scenario names of ps, for a message ("a, b"). */
static void scenario_names(const halo_report_points *ps, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (long i = 0; i < ps->n && used < cap; i++)
        if (i == 0 || strcmp(ps->v[i - 1].scenario, ps->v[i].scenario) != 0)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
                                     ps->v[i].scenario);
}

int halo_report_write(FILE *out, const char *db_path, double confidence, halo_err *err) {
    halo_report_opts o = {.confidence = confidence};
    return halo_report_write_opts(out, db_path, &o, err);
}

static void markdown(FILE *out, sqlite3 *db, const halo_report_points *ps, const char *db_path,
                     const char *only, double confidence) {
    int pct = (int)lround(confidence * 100), any = 0;
    double qdrops = 0;
    for (long i = 0; i < ps->n; i++) {
        const halo_report_point *p = &ps->v[i];
        if (only && strcmp(p->scenario, only) != 0)
            continue;
        any = 1;
        if (i == 0 || strcmp(ps->v[i - 1].scenario, p->scenario) != 0) {
            scenario_header(out, db, p->scenario);
            (void)fprintf(out,
                          "| point | runs | ms/token (mean ± %d%% CI) | p99 ms | compute ms | "
                          "stragglers ms | network ms | missing | loss | packets lost | queue "
                          "drops | speedup vs dllama | perplexity (± %d%% CI) |\n"
                          "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
                          pct, pct);
            qdrops = 0;
        }
        point_row(out, ps, p, confidence);
        qdrops += p->queue_drops;
        if (i + 1 == ps->n || strcmp(ps->v[i + 1].scenario, p->scenario) != 0) {
            (void)fprintf(out, "\n");
            if (qdrops > 0)
                (void)fprintf(out,
                              "**Queue drops:** full drop-tail queues dropped packets at some "
                              "points (column queue drops, per run; on lossless links too): "
                              "their time is in the network column. The links' `queue_kb` sets "
                              "the queues.\n\n");
        }
    }
    if (!any)
        (void)fprintf(out, "No runs in %s.\n", db_path);
    if (any)
        (void)fprintf(out,
                      "Confidence intervals: Student's t over the runs of a point (GSL "
                      "gsl_cdf_tdist_Pinv), none with one run. compute + stragglers + network = "
                      "ms/token (means over the runs). loss: mean loss per packet over the "
                      "workers' links; packets lost and queue drops: per run, over the "
                      "measured tokens. Speedup: the mean ms/token of the "
                      "matching engine.baseline=dllama point over this point's; its interval "
                      "combines the two intervals' ends (conservative). Shape-only runs have no "
                      "numerics and so no perplexity.\n");
}

static void json_doc(FILE *out, sqlite3 *db, const halo_report_points *ps, const char *db_path,
                     const char *only, double confidence, halo_json_guard *g) {
    (void)fputs("{\"db\": ", out);
    halo_report_json_string(out, db_path);
    (void)fprintf(out, ", \"confidence\": %g, \"scenarios\": [", confidence);
    int n_sc = 0, n_pt = 0;
    for (long i = 0; i < ps->n; i++) {
        const halo_report_point *p = &ps->v[i];
        if (only && strcmp(p->scenario, only) != 0)
            continue;
        if (i == 0 || strcmp(ps->v[i - 1].scenario, p->scenario) != 0) {
            (void)fputs(n_sc++ ? "]}, " : "", out);
            json_scenario_head(out, db, p->scenario);
            n_pt = 0;
        }
        (void)fputs(n_pt++ ? ", " : "", out);
        json_point(out, ps, p, confidence, g);
    }
    (void)fputs(n_sc ? "]}]}\n" : "]}\n", out);
}

int halo_report_write_opts(FILE *out, const char *db_path, const halo_report_opts *o,
                           halo_err *err) {
    halo_db *hdb = NULL;
    halo_report_points ps;
    int rc = halo_report_points_read(db_path, &hdb, &ps, err);
    if (rc != HALO_OK)
        return rc;
    int found = !o->scenario;
    for (long i = 0; !found && i < ps.n; i++)
        found = strcmp(ps.v[i].scenario, o->scenario) == 0;
    if (!found) {
        char names[512];
        scenario_names(&ps, names, sizeof names);
        rc = HALO_FAIL(err, HALO_ERR_ARG, "%s: no scenario named '%s' (there: %s)", db_path,
                       o->scenario, names[0] ? names : "none");
    } else if (o->json) {
        /* built in memory, written only when every measured number is finite (core/json.h) */
        char *doc = NULL;
        size_t doc_len = 0;
        FILE *js = open_memstream(&doc, &doc_len);
        halo_json_guard g = {0};
        if (!js)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "report --json: out of memory");
        if (js) {
            json_doc(js, halo__db_handle(hdb), &ps, db_path, o->scenario, o->confidence, &g);
            if (fclose(js) != 0)
                rc = HALO_FAIL(err, HALO_ERR_NOMEM, "report --json: out of memory");
        }
        if (rc == HALO_OK)
            rc = halo_json_guard_check(&g, db_path, err);
        if (rc == HALO_OK)
            (void)fwrite(doc, 1, doc_len, out);
        free(doc);
    } else {
        markdown(out, halo__db_handle(hdb), &ps, db_path, o->scenario, o->confidence);
    }
    if (rc == HALO_OK && (fflush(out) != 0 || ferror(out)))
        rc = HALO_FAIL(err, HALO_ERR_IO, "writing the report of %s failed", db_path);
    halo_report_points_free(&ps);
    halo_db_free(hdb);
    return rc;
}

/* ==== Fidelity: measured against simulated ==== */

/* The measured cells with their simulated counterpart, where there is one, and the spread
   of their run means: n and the sample variance var of the cell's counted run means (NULL
   with one run); for a lossy cell, over the loss-0 cells of the same harness, system, model
   and nodes that its cost of loss subtracts (usually one): how many (k), how many with a
   variance (k_var), the sum of their variances, of their squared standard errors (var / n),
   and of (var / n)^2 / (n - 1) (for Welch-Satterthwaite's degrees of freedom). */
static const char fidelity_sql[] =
    "WITH counted AS ("
    "  SELECT harness, cell, system, model, nodes, loss, mean_ms FROM measured_run "
    "  WHERE (status = 'ok' OR tokens > 0) AND mean_ms IS NOT NULL), "
    "cs AS (SELECT harness, cell, count(*) AS n, avg(mean_ms) AS m FROM counted "
    "  GROUP BY harness, cell), "
    "cv AS (SELECT c.harness, c.cell, c.system, c.model, c.nodes, c.loss, s.n, "
    "  sum((c.mean_ms - s.m) * (c.mean_ms - s.m)) / NULLIF(s.n - 1, 0) AS var "
    "  FROM counted c JOIN cs s ON s.harness = c.harness AND s.cell = c.cell "
    "  GROUP BY c.harness, c.cell), "
    "bv AS (SELECT harness, system, model, nodes, count(*) AS k, count(var) AS k_var, "
    "  sum(var) AS sum_var, sum(var / n) AS sum_se2, "
    "  sum(var * var / (n * n * (n - 1))) AS sum_se4_df "
    "  FROM cv WHERE loss = 0 GROUP BY harness, system, model, nodes) "
    "SELECT c.harness, c.model, c.system, c.nodes, c.loss, c.runs, c.failed_runs, "
    "c.measured_mean_ms, c.measured_run_min_ms, c.measured_run_max_ms, f.simulated_mean_ms, "
    "f.error_pct, c.measured_cost_ms, f.simulated_cost_ms, f.cost_error_pct, c.measured_p90_ms, "
    "f.simulated_p90_ms, f.p90_error_pct, f.simulated_runs, "
    "v.n, v.var, b.k, b.k_var, b.sum_var, b.sum_se2, b.sum_se4_df "
    "FROM measured_cell c LEFT JOIN fidelity f ON f.harness = c.harness AND f.cell = c.cell "
    "LEFT JOIN cv v ON v.harness = c.harness AND v.cell = c.cell "
    "LEFT JOIN bv b ON c.loss > 0 AND b.harness = c.harness AND b.system = c.system "
    "AND b.model = c.model AND b.nodes = c.nodes "
    "WHERE ?1 IS NULL OR c.harness = ?1 "
    "ORDER BY c.harness, c.model, c.system, c.nodes, c.loss, c.cell";

enum {
    F_HARNESS,
    F_MODEL,
    F_SYSTEM,
    F_NODES,
    F_LOSS,
    F_RUNS,
    F_FAILED,
    F_MEAN,
    F_MIN,
    F_MAX,
    F_SIM_MEAN,
    F_ERROR,
    F_COST,
    F_SIM_COST,
    F_COST_ERROR,
    F_P90,
    F_SIM_P90,
    F_P90_ERROR,
    F_SIM_RUNS,
    F_N,
    F_VAR,
    F_BASE_K,
    F_BASE_K_VAR,
    F_BASE_SUM_VAR,
    F_BASE_SUM_SE2,
    F_BASE_SUM_SE4_DF,
};

/* v in ms with about four significant digits. */
static void ms_value(char *buf, size_t cap, double v) {
    double a = fabs(v);
    int decimals = a >= 100 ? 1 : a >= 10 ? 2 : a >= 1 ? 3 : 4;
    (void)snprintf(buf, cap, "%.*f", decimals, v);
}

/* Column col in ms with about four significant digits, or "-" for NULL. */
static void ms_text(char *buf, size_t cap, sqlite3_stmt *st, int col) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        (void)snprintf(buf, cap, "-");
    else
        ms_value(buf, cap, sqlite3_column_double(st, col));
}

/* Column col, an error in percent ("+12.3%"; "-" for NULL), in bold when `mark` and beyond
   the bound; returns 1 when beyond it. */
static int pct_text(char *buf, size_t cap, sqlite3_stmt *st, int col, int mark) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        (void)snprintf(buf, cap, "-");
        return 0;
    }
    double v = sqlite3_column_double(st, col);
    int off = fabs(v) > HALO_REPORT_FIDELITY_BOUND_PCT;
    const char *b = off && mark ? "**" : "";
    (void)snprintf(buf, cap, "%s%+.1f%%%s", b, v, b);
    return off;
}

/* ---- The measured values' uncertainty ---- */

/* Of the intervals of the fidelity report (two-sided). */
#define FIDELITY_CONFIDENCE 0.95

/* The most runs per cell `runs_to_decide` looks for. */
#define FIDELITY_MAX_RUNS 100000

/* The t quantile of FIDELITY_CONFIDENCE (two-sided) with df degrees of freedom (df > 0,
   not necessarily whole: Welch-Satterthwaite's). */
static double t_quantile(double df) {
    return gsl_cdf_tdist_Pinv(0.5 + FIDELITY_CONFIDENCE / 2, df);
}

/* The smallest number of runs n >= 2 of each cell at which the interval's half-width
   t(df(n)) * sqrt((a + b) / n) is at most `target` (a, b: the run variances of the cell and
   of its loss-free cell, b = 0 for a mean; df(n) = (n - 1) (a + b)^2 / (a^2 + b^2), Welch-
   Satterthwaite's for n runs of each); FIDELITY_MAX_RUNS + 1 when more would be needed. */
static long runs_to_decide(double a, double b, double target) {
    if (a + b <= 0)
        return 2;
    if (!(target > 0))
        return FIDELITY_MAX_RUNS + 1;
    /* t exceeds the normal quantile at every df: no n below the normal bound qualifies */
    double z = gsl_cdf_ugaussian_Pinv(0.5 + FIDELITY_CONFIDENCE / 2);
    double first = floor(z * z * (a + b) / (target * target));
    if (first > FIDELITY_MAX_RUNS)
        return FIDELITY_MAX_RUNS + 1;
    for (long n = first > 2 ? (long)first : 2; n <= FIDELITY_MAX_RUNS; n++) {
        double df = (double)(n - 1) * (a + b) * (a + b) / (a * a + b * b);
        if (t_quantile(df) * sqrt((a + b) / (double)n) <= target)
            return n;
    }
    return FIDELITY_MAX_RUNS + 1;
}

/* One measured cell's intervals and verdict. */
typedef struct fidelity_cell {
    int has_mean_half; /* mean_half_ms is known (two or more runs) */
    double mean_half_ms;
    int has_cost;      /* a lossy cell with a loss-free one: cost_ms is known */
    int has_cost_half; /* cost_half_ms is known (two or more runs in each) */
    double cost_ms, cost_half_ms;

    enum {
        VERDICT_NONE,
        VERDICT_WITHIN,
        VERDICT_OUTSIDE,
        VERDICT_UNDECIDED
    } verdict;

    long runs;  /* undecided: runs per cell that would decide it; 0: unknown (n_runs < 2) */
    int n_runs; /* the cell's counted runs */
} fidelity_cell;

static int col_null(sqlite3_stmt *st, int col) {
    return sqlite3_column_type(st, col) == SQLITE_NULL;
}

/*
 * The measured mean's and cost's 95% intervals of the row at st, and the verdict (for a
 * cell with a simulated mirror): a value is decided when its interval's half-width is at
 * most the bound (25%) of its magnitude. Outside: a decided value's error is beyond the
 * bound. Otherwise undecided when a value is not decided, within when all are.
 */
static fidelity_cell fidelity_assess(sqlite3_stmt *st) {
    const double bound = HALO_REPORT_FIDELITY_BOUND_PCT / 100;
    fidelity_cell c = {0};
    double mean = sqlite3_column_double(st, F_MEAN);
    double n = sqlite3_column_double(st, F_N), var = sqlite3_column_double(st, F_VAR);
    c.n_runs = col_null(st, F_N) ? 0 : sqlite3_column_int(st, F_N);
    int has_var = !col_null(st, F_N) && !col_null(st, F_VAR) && n >= 2;
    if (has_var && !col_null(st, F_MEAN)) {
        c.has_mean_half = 1;
        c.mean_half_ms = t_quantile(n - 1) * sqrt(var / n);
    }
    /* the cost: this cell's mean minus the mean of its loss-free cells (k of them) */
    double k = sqlite3_column_double(st, F_BASE_K);
    double base_var = 0; /* of one run of the loss-free mean, for runs_to_decide */
    c.has_cost = !col_null(st, F_COST);
    if (c.has_cost) {
        c.cost_ms = sqlite3_column_double(st, F_COST);
        int base_known = !col_null(st, F_BASE_K) && k >= 1 &&
                         sqlite3_column_int(st, F_BASE_K_VAR) == sqlite3_column_int(st, F_BASE_K);
        if (has_var && base_known) {
            double se_l2 = var / n, se_b2 = sqlite3_column_double(st, F_BASE_SUM_SE2) / (k * k);
            double se2 = se_l2 + se_b2;
            double dfden = se_l2 * se_l2 / (n - 1) +
                           sqlite3_column_double(st, F_BASE_SUM_SE4_DF) / (k * k * k * k);
            c.has_cost_half = 1;
            c.cost_half_ms = se2 > 0 ? t_quantile(se2 * se2 / dfden) * sqrt(se2) : 0;
            base_var = sqlite3_column_double(st, F_BASE_SUM_VAR) / (k * k);
        }
    }
    if (col_null(st, F_SIM_RUNS))
        return c; /* no mirror, no verdict */
    int mean_decided = c.has_mean_half && c.mean_half_ms <= bound * fabs(mean);
    int cost_decided = c.has_cost_half && c.cost_half_ms <= bound * fabs(c.cost_ms);
    double err = sqlite3_column_double(st, F_ERROR),
           cost_err = sqlite3_column_double(st, F_COST_ERROR);
    int mean_off = !col_null(st, F_ERROR) && fabs(err) > HALO_REPORT_FIDELITY_BOUND_PCT;
    int cost_off = !col_null(st, F_COST_ERROR) && fabs(cost_err) > HALO_REPORT_FIDELITY_BOUND_PCT;
    if ((mean_decided && mean_off) || (cost_decided && cost_off)) {
        c.verdict = VERDICT_OUTSIDE;
    } else if (!mean_decided || (c.has_cost && !cost_decided)) {
        c.verdict = VERDICT_UNDECIDED;
        if (has_var && (!c.has_cost || c.has_cost_half)) {
            if (!mean_decided)
                c.runs = runs_to_decide(var, 0, bound * fabs(mean));
            if (c.has_cost && !cost_decided) {
                long r = runs_to_decide(var, base_var, bound * fabs(c.cost_ms));
                c.runs = r > c.runs ? r : c.runs;
            }
        }
    } else {
        c.verdict = VERDICT_WITHIN;
    }
    return c;
}

/* "±HALF (PCT%)" of a value, or "-" when unknown. */
static void half_text(char *buf, size_t cap, int known, double half, double value) {
    char ms[24];
    if (!known) {
        (void)snprintf(buf, cap, "-");
        return;
    }
    ms_value(ms, sizeof ms, half);
    if (value != 0)
        (void)snprintf(buf, cap, "±%s (%.1f%%)", ms, 100 * half / fabs(value));
    else
        (void)snprintf(buf, cap, "±%s", ms);
}

static void verdict_text(char *buf, size_t cap, const fidelity_cell *c) {
    switch (c->verdict) {
    case VERDICT_WITHIN:
        (void)snprintf(buf, cap, "within");
        break;
    case VERDICT_OUTSIDE:
        (void)snprintf(buf, cap, "**outside**");
        break;
    case VERDICT_UNDECIDED:
        if (c->runs == 0 && c->n_runs == 0)
            (void)snprintf(buf, cap, "undecided: no run counted");
        else if (c->runs == 0)
            (void)snprintf(buf, cap, "undecided: one run");
        else if (c->runs > FIDELITY_MAX_RUNS)
            (void)snprintf(buf, cap, "undecided: over %d runs", FIDELITY_MAX_RUNS);
        else
            (void)snprintf(buf, cap, "undecided: %ld runs", c->runs);
        break;
    default:
        (void)snprintf(buf, cap, "-");
    }
}

/* The heading of one harness's table: where its runs came from, how many have a mirror. */
static void fidelity_header(FILE *out, sqlite3 *db, const char *harness) {
    (void)fprintf(out, "## Fidelity: %s\n\n", harness);
    sqlite3_stmt *st =
        first_row(db,
                  "SELECT count(*), count(DISTINCT cell), group_concat(DISTINCT source), "
                  "(SELECT count(*) FROM fidelity WHERE harness = ?1) FROM measured_run "
                  "WHERE harness = ?1",
                  harness);
    if (st)
        (void)fprintf(out,
                      "%d measured runs of %d cells, imported from %s; %d of the cells have "
                      "a simulated mirror (the scenario named mirror/CELL).\n\n",
                      sqlite3_column_int(st, 0), sqlite3_column_int(st, 1),
                      sqlite3_column_text(st, 2), sqlite3_column_int(st, 3));
    sqlite3_finalize(st);
    (void)fprintf(out, "| model | system | nodes | loss | measured ms/token (run min-max) | "
                       "simulated | error | measured cost of loss | simulated cost | cost error | "
                       "measured p90 | simulated p90 | p90 error | measured mean ±95%% | "
                       "measured cost ±95%% | verdict |\n"
                       "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
}

/* One cell's row; counts it in *k. */
static void fidelity_row(FILE *out, sqlite3_stmt *st, halo_report_fidelity_counts *k) {
    char mean[48], lo[24], hi[24], sim[24], err_mean[24], cost[24], sim_cost[24], err_cost[24];
    char p90[24], sim_p90[24], err_p90[24], failed[48] = "", mean_half[48], cost_half[48];
    char verdict[48];
    ms_text(mean, sizeof mean, st, F_MEAN);
    ms_text(lo, sizeof lo, st, F_MIN);
    ms_text(hi, sizeof hi, st, F_MAX);
    ms_text(sim, sizeof sim, st, F_SIM_MEAN);
    ms_text(cost, sizeof cost, st, F_COST);
    ms_text(sim_cost, sizeof sim_cost, st, F_SIM_COST);
    ms_text(p90, sizeof p90, st, F_P90);
    ms_text(sim_p90, sizeof sim_p90, st, F_SIM_P90);
    int off = pct_text(err_mean, sizeof err_mean, st, F_ERROR, 1);
    off |= pct_text(err_cost, sizeof err_cost, st, F_COST_ERROR, 1);
    (void)pct_text(err_p90, sizeof err_p90, st, F_P90_ERROR, 0);
    fidelity_cell c = fidelity_assess(st);
    half_text(mean_half, sizeof mean_half, c.has_mean_half, c.mean_half_ms,
              sqlite3_column_double(st, F_MEAN));
    half_text(cost_half, sizeof cost_half, c.has_cost_half, c.cost_half_ms, c.cost_ms);
    verdict_text(verdict, sizeof verdict, &c);
    int simulated = !col_null(st, F_SIM_RUNS);
    k->n_cells += simulated;
    k->n_within += simulated && !off;
    k->n_unmirrored += !simulated;
    k->n_verdict_within += c.verdict == VERDICT_WITHIN;
    k->n_outside += c.verdict == VERDICT_OUTSIDE;
    k->n_undecided += c.verdict == VERDICT_UNDECIDED;
    int n_failed = sqlite3_column_int(st, F_FAILED);
    if (n_failed > 0)
        (void)snprintf(failed, sizeof failed, "; %d of %d runs failed", n_failed,
                       sqlite3_column_int(st, F_RUNS));
    (void)fprintf(out,
                  "| %s | %s | %d | %g%% | %s (%s-%s%s) | %s | %s | %s | %s | %s | %s | %s | %s "
                  "| %s | %s | %s |\n",
                  sqlite3_column_text(st, F_MODEL), sqlite3_column_text(st, F_SYSTEM),
                  sqlite3_column_int(st, F_NODES), 100 * sqlite3_column_double(st, F_LOSS), mean,
                  lo, hi, failed, sim, err_mean, cost, sim_cost, err_cost, p90, sim_p90, err_p90,
                  mean_half, cost_half, verdict);
}

/* No measured runs (of `harness`): an error naming the harnesses there. */
static int no_measured_runs(sqlite3 *db, const char *db_path, const char *harness, halo_err *err) {
    sqlite3_stmt *st = NULL;
    char there[200] = "";
    if (sqlite3_prepare_v2(db, "SELECT group_concat(DISTINCT harness) FROM measured_run", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        copy_text(there, sizeof there, sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (harness && there[0])
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: no measured runs of harness '%s' (there: %s)",
                         db_path, harness, there);
    return HALO_FAIL(err, HALO_ERR_FORMAT,
                     "%s: no measured runs (store them with 'halo db import-measured %s DIR')",
                     db_path, db_path);
}

int halo_report_fidelity(FILE *out, const char *db_path, const char *harness,
                         halo_report_fidelity_counts *counts, halo_err *err) {
    halo_report_fidelity_counts k = {0};
    if (counts)
        *counts = k;
    halo_db *hdb = NULL;
    int rc = halo_db_new(&hdb, db_path, HALO_DB_READ, err);
    if (rc != HALO_OK)
        return rc;
    sqlite3 *db = halo__db_handle(hdb);
    sqlite3_stmt *st = NULL;
    int rows = 0, s = SQLITE_DONE;
    char current[256] = "";
    if (sqlite3_prepare_v2(db, fidelity_sql, -1, &st, NULL) != SQLITE_OK)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: reading measured runs: %s", db_path,
                       sqlite3_errmsg(db));
    if (rc == HALO_OK && harness)
        (void)sqlite3_bind_text(st, 1, harness, -1, SQLITE_STATIC);
    while (rc == HALO_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, F_HARNESS);
        if (rows++ == 0 || strcmp(current, h ? h : "") != 0) {
            if (rows > 1)
                (void)fprintf(out, "\n");
            copy_text(current, sizeof current, sqlite3_column_text(st, F_HARNESS));
            fidelity_header(out, db, current);
        }
        fidelity_row(out, st, &k);
    }
    if (rc == HALO_OK && s != SQLITE_DONE)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: reading measured runs: %s", db_path,
                       sqlite3_errmsg(db));
    if (rc == HALO_OK && rows == 0)
        rc = no_measured_runs(db, db_path, harness, err);
    sqlite3_finalize(st);
    if (rc == HALO_OK) {
        (void)fprintf(
            out,
            "\nMeasured: the mean of the run means over the runs that completed or counted "
            "tokens (min-max: the smallest and largest run mean); p90: the mean of the runs' "
            "90th percentiles (nearest rank). Simulated: the same over the newest runs of the "
            "scenario named mirror/CELL. Error: (simulated - measured) / measured. Cost of "
            "loss: the mean above the same system, model and nodes at loss 0. In bold: an "
            "error beyond %.0f%% in magnitude; '-': no value (no mirror, or loss 0).\n\n",
            HALO_REPORT_FIDELITY_BOUND_PCT);
        (void)fprintf(
            out,
            "±95%%: the half-width of the %.0f%% t-interval of the measured mean (from the run "
            "means, n - 1 degrees of freedom) and of the measured cost of loss (the standard "
            "errors of the cell's and its loss-free cell's means combined, Welch-Satterthwaite "
            "degrees of freedom), in ms and in %% of the value; '-': one run. Verdict: a "
            "measured value is decided when that half-width is at most %.0f%% of it; "
            "outside: a decided value (mean or cost of loss) has an error beyond %.0f%%; "
            "undecided: otherwise a value is not decided (with the runs of each, this cell "
            "and its loss-free cell alike, that would narrow its interval to ±%.0f%% at the "
            "spread measured; 'one run': the cell or its loss-free cell has one run, so no "
            "spread is known); within: both decided and within. "
            "The simulated runs' own spread is not counted.\n\n",
            100 * FIDELITY_CONFIDENCE, HALO_REPORT_FIDELITY_BOUND_PCT,
            HALO_REPORT_FIDELITY_BOUND_PCT, HALO_REPORT_FIDELITY_BOUND_PCT);
        (void)fprintf(out,
                      "Within %.0f%% (mean and cost of loss): %d of %d cells with a simulated "
                      "mirror; %d measured cells without one. With the measured intervals: "
                      "%d within, %d outside, %d undecided.\n",
                      HALO_REPORT_FIDELITY_BOUND_PCT, k.n_within, k.n_cells, k.n_unmirrored,
                      k.n_verdict_within, k.n_outside, k.n_undecided);
        if (fflush(out) != 0 || ferror(out))
            rc = HALO_FAIL(err, HALO_ERR_IO, "writing the fidelity report of %s failed", db_path);
    }
    if (counts && rc == HALO_OK)
        *counts = k;
    halo_db_free(hdb);
    return rc;
}
