/*
 * `halo export` (results/export.h): the latest runs as one tidy CSV table.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/export.h"

#include "core/grow.h"
#include "results/db_internal.h"
#include "results/report.h"

#include <stdlib.h>
#include <string.h>

/* The measurement columns after the axes: header names, and the SQL that gives them. */
static const char metric_cols[] =
    "system,seed,devices,kind,worker_loss,tokens,mean_ms,p50_ms,p90_ms,p99_ms,max_ms,compute_ms,"
    "stragglers_ms,network_ms,expected,missing,retransmits,timeouts,msgs_lost,packets_lost,"
    "queue_drops,bytes_on_wire,perplexity,copied,point_hash";
static const char rows_sql[] =
    "SELECT r.id, r.scenario_name, r.point, r.run, r.system, r.seed, r.n_devices, r.kind, "
    "r.loss, r.tokens, r.mean_ms, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms, r.compute_ms, "
    "r.stragglers_ms, r.network_ms, r.expected, r.missing, r.retransmits, r.timeouts, "
    "r.msgs_lost, r.packets_lost, r.queue_drops, r.bytes_on_wire, q.perplexity, "
    "r.copied_from <> '', r.point_hash FROM latest_run r LEFT JOIN quality q ON q.run_id = r.id "
    "WHERE ?1 IS NULL OR r.scenario_name = ?1 ORDER BY r.scenario_name, r.point, r.run";

enum {
    FIRST_METRIC = 4, /* column of rows_sql where the measurements start */
    N_COLUMNS = 29,
};

/* One CSV field after a comma (unless first); nothing for NULL. */
static void field(FILE *out, const char *s, int first) {
    if (!first)
        (void)fputc(',', out);
    if (s)
        halo_report_csv_field(out, s);
}

typedef struct axes {
    char **key; /* (n) axis keys in column order */
    long n, cap;
} axes;

static void axes_free(axes *a) {
    for (long i = 0; i < a->n; i++)
        free(a->key[i]);
    free(a->key);
}

static long axis_index(const axes *a, const char *key) {
    for (long i = 0; i < a->n; i++)
        if (strcmp(a->key[i], key) == 0)
            return i;
    return -1;
}

/* Adds the keys of a point label ("k=v k=v") not seen yet, in order. */
static int add_label_keys(axes *a, const char *label) {
    for (const char *s = label; *s;) {
        size_t n = strcspn(s, " ");
        const char *eq = memchr(s, '=', n);
        if (eq) {
            char key[256];
            (void)snprintf(key, sizeof key, "%.*s", (int)(eq - s), s);
            if (axis_index(a, key) < 0) {
                char **k = halo__grow(a->key, a->n, &a->cap, sizeof *k, 16);
                if (!k)
                    return HALO_ERR_NOMEM;
                a->key = k;
                if (!(a->key[a->n] = strdup(key)))
                    return HALO_ERR_NOMEM;
                a->n++;
            }
        }
        s += n;
        while (*s == ' ')
            s++;
    }
    return HALO_OK;
}

static int sql_error(halo_db *hdb, halo_err *err, const char *what) {
    return HALO_FAIL(err, HALO_ERR_IO, "%s: %s: %s", halo_db_path(hdb), what,
                     sqlite3_errmsg(halo__db_handle(hdb)));
}

/* The axis columns: the keys of every selected point's label, in order. */
static int find_axes(halo_db *hdb, const char *scenario, axes *a, long *n_runs, halo_err *err) {
    sqlite3 *db = halo__db_handle(hdb);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT point_label, count(*) FROM latest_run WHERE ?1 IS NULL OR "
                           "scenario_name = ?1 GROUP BY scenario_name, point ORDER BY "
                           "scenario_name, point",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_error(hdb, err, "reading the axes");
    if (scenario)
        (void)sqlite3_bind_text(st, 1, scenario, -1, SQLITE_STATIC);
    int rc = HALO_OK, s;
    *n_runs = 0;
    while (rc == HALO_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *label = sqlite3_column_text(st, 0);
        *n_runs += (long)sqlite3_column_int64(st, 1);
        if (add_label_keys(a, label ? (const char *)label : "") != HALO_OK)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", halo_db_path(hdb));
    }
    if (rc == HALO_OK && s != SQLITE_DONE)
        rc = sql_error(hdb, err, "reading the axes");
    sqlite3_finalize(st);
    return rc;
}

/* The scenario names with latest runs, for a message. */
static void scenario_names(halo_db *hdb, char *buf, size_t cap) {
    sqlite3_stmt *st = NULL;
    size_t used = 0;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(halo__db_handle(hdb),
                           "SELECT DISTINCT scenario_name FROM latest_run ORDER BY 1", -1, &st,
                           NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW && used < cap)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
                                     (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* Writes the rows; vals is (a->n) scratch for one run's axis values. */
static int write_rows(FILE *out, halo_db *hdb, const char *scenario, const axes *a, char **vals,
                      long *n_rows, halo_err *err) {
    sqlite3 *db = halo__db_handle(hdb);
    sqlite3_stmt *st = NULL, *ax = NULL;
    if (sqlite3_prepare_v2(db, rows_sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT key, value FROM run_axis WHERE run_id = ?", -1, &ax, NULL) !=
            SQLITE_OK) {
        int rc = sql_error(hdb, err, "reading the runs");
        sqlite3_finalize(st);
        sqlite3_finalize(ax);
        return rc;
    }
    if (scenario)
        (void)sqlite3_bind_text(st, 1, scenario, -1, SQLITE_STATIC);
    int rc = HALO_OK, s;
    while (rc == HALO_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        for (long i = 0; i < a->n; i++) {
            free(vals[i]);
            vals[i] = NULL;
        }
        (void)sqlite3_bind_int64(ax, 1, sqlite3_column_int64(st, 0));
        while (sqlite3_step(ax) == SQLITE_ROW) {
            long i = axis_index(a, (const char *)sqlite3_column_text(ax, 0));
            const unsigned char *v = sqlite3_column_text(ax, 1);
            if (i >= 0 && v && !(vals[i] = strdup((const char *)v)))
                rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", halo_db_path(hdb));
        }
        (void)sqlite3_reset(ax);
        for (int c = 1; c < FIRST_METRIC; c++)
            field(out, (const char *)sqlite3_column_text(st, c), c == 1);
        for (long i = 0; i < a->n; i++)
            field(out, vals[i] ? vals[i] : "", 0);
        for (int c = FIRST_METRIC; c < N_COLUMNS; c++)
            field(out, (const char *)sqlite3_column_text(st, c), 0);
        (void)fputc('\n', out);
        ++*n_rows;
    }
    if (rc == HALO_OK && s != SQLITE_DONE)
        rc = sql_error(hdb, err, "reading the runs");
    sqlite3_finalize(st);
    sqlite3_finalize(ax);
    return rc;
}

int halo_export_csv(FILE *out, const char *db_path, const char *scenario, long *n_rows,
                    halo_err *err) {
    long rows = 0, n_runs = 0;
    halo_db *hdb = NULL;
    axes a = {0};
    char **vals = NULL;
    int rc = halo_db_new(&hdb, db_path, HALO_DB_READ, err);
    if (rc == HALO_OK)
        rc = find_axes(hdb, scenario, &a, &n_runs, err);
    if (rc == HALO_OK && scenario && n_runs == 0) {
        char names[512];
        scenario_names(hdb, names, sizeof names);
        rc = HALO_FAIL(err, HALO_ERR_ARG, "%s: no runs of a scenario named '%s' (there: %s)",
                       db_path, scenario, names[0] ? names : "none");
    }
    if (rc == HALO_OK && !(vals = calloc((size_t)a.n + 1, sizeof *vals)))
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", db_path);
    if (rc == HALO_OK) {
        (void)fputs("scenario,point,run", out);
        for (long i = 0; i < a.n; i++) { /* an axis named like a column gets a prefix */
            char h[300];
            size_t k = strlen(a.key[i]);
            const char *m = strstr(metric_cols, a.key[i]);
            int clash = strcmp(a.key[i], "scenario") == 0 || strcmp(a.key[i], "point") == 0 ||
                        strcmp(a.key[i], "run") == 0;
            for (; m && !clash; m = strstr(m + 1, a.key[i]))
                clash = (m == metric_cols || m[-1] == ',') && (m[k] == ',' || m[k] == '\0');
            (void)snprintf(h, sizeof h, "%s%s", clash ? "axis." : "", a.key[i]);
            field(out, h, 0);
        }
        (void)fprintf(out, ",%s\n", metric_cols);
        rc = write_rows(out, hdb, scenario, &a, vals, &rows, err);
    }
    if (rc == HALO_OK && (fflush(out) != 0 || ferror(out)))
        rc = HALO_FAIL(err, HALO_ERR_IO, "writing the export of %s failed", db_path);
    for (long i = 0; vals && i < a.n; i++)
        free(vals[i]);
    free(vals);
    axes_free(&a);
    halo_db_free(hdb);
    if (n_rows)
        *n_rows = rows;
    return rc;
}
