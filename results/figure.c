/*
 * Figures of any sweep (results/plot.h, `halo plot --x --y --series --facet`): the points of
 * one scenario's newest text, a metric per point with the report's confidence interval over
 * its runs, drawn against one key (a sweep axis, or a column derived from the run), one line
 * per value of a second, one panel per value of a third, and one figure per combination of
 * the axes left over. Automatic choices come from the scenario's own axes.
 *
 * Not here: the paper's figures, formats, captions' files and gnuplot itself (plot.c), the
 * intervals' arithmetic (report.c: halo_report_mean_ci).
 */
#define _POSIX_C_SOURCE 200809L

#include "core/file.h"
#include "core/grow.h"
#include "core/text.h"
#include "results/plot_internal.h"
#include "results/report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS     24  /* sweep axes plus derived columns per scenario */
#define MAX_VALUE    64  /* bytes of one key's value at a point */
#define MAX_SPLITS   24  /* figures per metric for the combinations of left-over axes */
#define MAX_PANELS   12  /* facet values */
#define MAX_SERIES   12  /* series values */
#define MAX_XVALUES  256 /* distinct x values */
#define MAX_METRICS  16
#define NAME_BYTES   200
#define SCRIPT_BYTES (64 * 1024)

/* ==== Metrics ==== */

enum metric {
    M_MEAN,
    M_P50,
    M_P90,
    M_P99,
    M_COMPUTE,
    M_STRAGGLERS,
    M_NETWORK,
    M_MISSING,
    M_RETRANSMITS,
    M_TIMEOUTS,
    M_MSGS_LOST,
    M_BYTES,
    M_PERPLEXITY,
    M_SPEEDUP, /* derived from mean_ms and the distributed-llama peer's */
    N_METRICS
};

static const struct metric_info {
    const char *name;  /* as --y takes it (the database's column where there is one) */
    const char *label; /* the y axis label */
    int time;          /* milliseconds (a log scale when the range is wide) */
} metrics[N_METRICS] = {
    [M_MEAN] = {"mean_ms", "time per token (ms)", 1},
    [M_P50] = {"p50_ms", "median time per token (ms)", 1},
    [M_P90] = {"p90_ms", "90th percentile time per token (ms)", 1},
    [M_P99] = {"p99_ms", "99th percentile time per token (ms)", 1},
    [M_COMPUTE] = {"compute_ms", "compute per token (ms)", 1},
    [M_STRAGGLERS] = {"stragglers_ms", "waiting for stragglers per token (ms)", 1},
    [M_NETWORK] = {"network_ms", "network per token (ms)", 1},
    [M_MISSING] = {"missing_pct", "contributions missing (%)", 0},
    [M_RETRANSMITS] = {"retransmits", "retransmissions per run", 0},
    [M_TIMEOUTS] = {"timeouts", "retransmission timeouts per run", 0},
    [M_MSGS_LOST] = {"msgs_lost", "messages lost per run", 0},
    [M_BYTES] = {"bytes_on_wire", "bytes on the wire per run", 0},
    [M_PERPLEXITY] = {"perplexity", "perplexity", 0},
    [M_SPEEDUP] = {"speedup", "speedup over distributed-llama", 0},
};

const char *halo_plot_metrics(void) {
    return "  mean_ms        mean time per token (ms)\n"
           "  p50_ms, p90_ms, p99_ms  percentiles of the time per token (ms)\n"
           "  compute_ms     compute per token (ms)\n"
           "  stragglers_ms  waiting for the slowest worker per token (ms)\n"
           "  network_ms     network per token (ms)\n"
           "  missing_pct    contributions missing, % of expected\n"
           "  retransmits, timeouts, msgs_lost, bytes_on_wire  per run\n"
           "  perplexity     of the evaluation text (runs with quality only)\n"
           "  speedup        over the matching engine.baseline=dllama point\n";
}

/* ==== Points of one scenario ==== */

/* Derived keys: columns of the run, usable as x, series or facet besides the axes. */
static const char *const derived[] = {"loss",      "loss_pct", "speed_ratio",
                                      "n_devices", "system",   NULL};

typedef struct fpoint {
    long point;
    char val[MAX_KEYS][MAX_VALUE]; /* per key: the value at this point ("" when unset) */
    int n[N_METRICS];              /* runs with a value of each metric */
    double v[N_METRICS][HALO_REPORT_MAX_RUNS];
    double mean[N_METRICS], lo[N_METRICS], hi[N_METRICS]; /* lo/hi: interval ends */
    int has[N_METRICS];                                   /* mean is defined */
} fpoint;

typedef struct fscen {
    char name[128];
    char keys[MAX_KEYS][128]; /* axes (label order), then the derived keys */
    int n_keys, n_axes;
    fpoint *pts;
    long n_pts, cap_pts;
    char model[128], weights[16];
    int n_devices_min, n_devices_max, tokens, runs_min, runs_max;
} fscen;

static int key_index(const fscen *s, const char *key) {
    for (int k = 0; k < s->n_keys; k++)
        if (strcmp(s->keys[k], key) == 0)
            return k;
    return -1;
}

static fpoint *point_of(fscen *s, long point) {
    for (long i = s->n_pts - 1; i >= 0; i--) /* rows come in point order: usually the last */
        if (s->pts[i].point == point)
            return &s->pts[i];
    return NULL;
}

/* Prepares sql with the scenario's name as ?1 into *st; `what` names the reading in the
   error ("axes", "runs"). */
static int prepare_for(halo__plot *p, const char *sql, const fscen *s, const char *what,
                       sqlite3_stmt **st, halo_err *err) {
    if (sqlite3_prepare_v2(p->db, sql, -1, st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(*st, 1, s->name, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return HALO_FAIL(err, HALO_ERR_IO, "%s: reading %s: %s", p->db_path, what,
                         sqlite3_errmsg(p->db));
    }
    return HALO_OK;
}

static int load_axes(halo__plot *p, fscen *s, halo_err *err) {
    static const char sql[] =
        "SELECT r.point, a.key, a.value FROM run_axis a JOIN latest_run r ON r.id = a.run_id "
        "WHERE r.scenario_name = ?1 ORDER BY r.point, r.run, "
        "instr(' ' || r.point_label, ' ' || a.key || '=')";
    sqlite3_stmt *st = NULL;
    if (prepare_for(p, sql, s, "axes", &st, err) != HALO_OK)
        return HALO_ERR_IO;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 1);
        const char *val = (const char *)sqlite3_column_text(st, 2);
        fpoint *pt = point_of(s, (long)sqlite3_column_int64(st, 0));
        if (!key || !val || !pt)
            continue;
        int k = key_index(s, key);
        if (k < 0 && s->n_axes < MAX_KEYS - 5) {
            k = s->n_axes++;
            (void)snprintf(s->keys[k], sizeof s->keys[k], "%s", key);
        }
        if (k >= 0 && !pt->val[k][0])
            (void)snprintf(pt->val[k], MAX_VALUE, "%s", val);
    }
    sqlite3_finalize(st);
    return HALO_OK;
}

static void put(fpoint *pt, enum metric m, double v) {
    if (pt->n[m] < HALO_REPORT_MAX_RUNS)
        pt->v[m][pt->n[m]++] = v;
}

static int load_runs(halo__plot *p, fscen *s, halo_err *err) {
    static const char sql[] =
        "SELECT r.point, r.system, r.loss, r.speed_ratio, r.n_devices, r.mean_ms, r.p50_ms, "
        "r.p90_ms, r.p99_ms, r.compute_ms, r.stragglers_ms, r.network_ms, r.expected, "
        "r.missing, r.retransmits, r.timeouts, r.msgs_lost, r.bytes_on_wire, q.perplexity, "
        "r.model, r.weights, r.tokens FROM latest_run r LEFT JOIN quality q ON q.run_id = r.id "
        "WHERE r.scenario_name = ?1 ORDER BY r.point, r.run";
    sqlite3_stmt *st = NULL;
    if (prepare_for(p, sql, s, "runs", &st, err) != HALO_OK)
        return HALO_ERR_IO;
    int rc = HALO_OK;
    s->n_devices_min = s->n_devices_max = -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        long point = (long)sqlite3_column_int64(st, 0);
        fpoint *pt = s->n_pts ? &s->pts[s->n_pts - 1] : NULL;
        if (!pt || pt->point != point) {
            if (!(pt = halo__push(&s->pts, &s->n_pts, &s->cap_pts, sizeof *pt, 16))) {
                rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", p->db_path);
                break;
            }
            pt->point = point;
            int d = s->n_axes;
            (void)snprintf(pt->val[d], MAX_VALUE, "%.10g", sqlite3_column_double(st, 2));
            (void)snprintf(pt->val[d + 1], MAX_VALUE, "%.10g", 100 * sqlite3_column_double(st, 2));
            (void)snprintf(pt->val[d + 2], MAX_VALUE, "%.4g", sqlite3_column_double(st, 3));
            (void)snprintf(pt->val[d + 3], MAX_VALUE, "%d", sqlite3_column_int(st, 4));
            (void)snprintf(pt->val[d + 4], MAX_VALUE, "%s", sqlite3_column_text(st, 1));
        }
        int nd = sqlite3_column_int(st, 4);
        if (s->n_devices_min < 0 || nd < s->n_devices_min)
            s->n_devices_min = nd;
        if (nd > s->n_devices_max)
            s->n_devices_max = nd;
        for (int m = M_MEAN; m <= M_NETWORK; m++)
            put(pt, (enum metric)m, sqlite3_column_double(st, 5 + m));
        double expected = sqlite3_column_double(st, 12);
        put(pt, M_MISSING, expected > 0 ? 100 * sqlite3_column_double(st, 13) / expected : 0);
        put(pt, M_RETRANSMITS, sqlite3_column_double(st, 14));
        put(pt, M_TIMEOUTS, sqlite3_column_double(st, 15));
        put(pt, M_MSGS_LOST, sqlite3_column_double(st, 16));
        put(pt, M_BYTES, sqlite3_column_double(st, 17));
        if (sqlite3_column_type(st, 18) != SQLITE_NULL)
            put(pt, M_PERPLEXITY, sqlite3_column_double(st, 18));
        (void)snprintf(s->model, sizeof s->model, "%s", sqlite3_column_text(st, 19));
        (void)snprintf(s->weights, sizeof s->weights, "%s", sqlite3_column_text(st, 20));
        s->tokens = sqlite3_column_int(st, 21);
    }
    sqlite3_finalize(st);
    return rc;
}

/* The peer of pt under distributed-llama: the point whose axes are all equal but
   engine.baseline, which is dllama (the report's halo_report_peer, by axes). */
static const fpoint *peer(const fscen *s, const fpoint *pt, int kb) {
    if (kb < 0 || strcmp(pt->val[kb], "dllama") == 0)
        return NULL;
    for (long i = 0; i < s->n_pts; i++) {
        const fpoint *q = &s->pts[i];
        if (strcmp(q->val[kb], "dllama") != 0)
            continue;
        int same = 1;
        for (int k = 0; k < s->n_axes && same; k++)
            same = k == kb || strcmp(q->val[k], pt->val[k]) == 0;
        if (same)
            return q;
    }
    return NULL;
}

/* Means and interval ends of every metric, as halo report computes them. */
static void summarize(fscen *s, double confidence) {
    int kb = key_index(s, "engine.baseline");
    s->runs_min = s->runs_max = -1;
    for (long i = 0; i < s->n_pts; i++) {
        fpoint *pt = &s->pts[i];
        for (int m = 0; m < M_SPEEDUP; m++) {
            if (pt->n[m] == 0)
                continue;
            double mean, half;
            halo_report_mean_ci(pt->v[m], pt->n[m], confidence, &mean, &half);
            pt->mean[m] = mean;
            pt->lo[m] = mean - half;
            pt->hi[m] = mean + half;
            pt->has[m] = 1;
        }
        int r = pt->n[M_MEAN];
        if (s->runs_min < 0 || r < s->runs_min)
            s->runs_min = r;
        if (r > s->runs_max)
            s->runs_max = r;
    }
    for (long i = 0; i < s->n_pts; i++) {
        fpoint *pt = &s->pts[i];
        const fpoint *d = peer(s, pt, kb);
        double m = pt->mean[M_MEAN], h = pt->hi[M_MEAN] - m;
        if (!d || !(m > 0))
            continue;
        double dm = d->mean[M_MEAN], dh = d->hi[M_MEAN] - dm;
        pt->mean[M_SPEEDUP] = dm / m;
        pt->lo[M_SPEEDUP] = pt->hi[M_SPEEDUP] = dm / m; /* no interval when m - h <= 0 */
        if (m - h > 0) {
            pt->lo[M_SPEEDUP] = (dm - dh) / (m + h);
            pt->hi[M_SPEEDUP] = (dm + dh) / (m - h);
        }
        pt->has[M_SPEEDUP] = 1;
    }
}

static void fscen_free(fscen *s) {
    free(s->pts);
    s->pts = NULL;
    s->n_pts = s->cap_pts = 0;
}

static int fscen_load(halo__plot *p, const char *name, fscen *s, halo_err *err) {
    memset(s, 0, sizeof *s);
    if (snprintf(s->name, sizeof s->name, "%s", name) >= (int)sizeof s->name)
        return HALO_FAIL(err, HALO_ERR_ARG, "scenario name too long: %s", name);
    /* axes are known only after the runs; derived keys go after the axes, so read the
       axes' keys first from one point, then everything */
    static const char sql[] = "SELECT DISTINCT a.key FROM run_axis a JOIN latest_run r ON "
                              "r.id = a.run_id WHERE r.scenario_name = ?1 AND r.point = "
                              "(SELECT min(point) FROM latest_run WHERE scenario_name = ?1) "
                              "ORDER BY instr(' ' || r.point_label, ' ' || a.key || '=')";
    sqlite3_stmt *st = NULL;
    if (prepare_for(p, sql, s, "axes", &st, err) != HALO_OK)
        return HALO_ERR_IO;
    while (sqlite3_step(st) == SQLITE_ROW && s->n_axes < MAX_KEYS - 5)
        (void)snprintf(s->keys[s->n_axes++], sizeof s->keys[0], "%s",
                       (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    for (int i = 0; derived[i]; i++)
        (void)snprintf(s->keys[s->n_axes + i], sizeof s->keys[0], "%s", derived[i]);
    s->n_keys = s->n_axes + 5;
    int rc = load_runs(p, s, err);
    if (rc == HALO_OK)
        rc = load_axes(p, s, err);
    if (rc == HALO_OK)
        summarize(s, p->opt->confidence);
    if (rc != HALO_OK)
        fscen_free(s);
    return rc;
}

/* ==== Choosing x, series, facet ==== */

static int is_number(const char *v) {
    char *end;
    if (!*v)
        return 0;
    errno = 0;
    (void)strtod(v, &end);
    return *end == '\0' && errno == 0;
}

/* Distinct values of key k over the points, in first-appearance order (numerically sorted
   when all are numbers); returns their count (at most cap). */
static int distinct(const fscen *s, int k, const char **vals, int cap, int *numeric) {
    int n = 0;
    *numeric = 1;
    for (long i = 0; i < s->n_pts; i++) {
        const char *v = s->pts[i].val[k];
        int seen = 0;
        for (int j = 0; j < n && !seen; j++)
            seen = strcmp(vals[j], v) == 0;
        if (seen)
            continue;
        if (n == cap)
            return cap + 1; /* too many */
        vals[n++] = v;
        *numeric = *numeric && is_number(v);
    }
    if (*numeric)
        for (int i = 1; i < n; i++) /* insertion sort by value */
            for (int j = i; j > 0 && strtod(vals[j - 1], NULL) > strtod(vals[j], NULL); j--) {
                const char *t = vals[j];
                vals[j] = vals[j - 1];
                vals[j - 1] = t;
            }
    return n;
}

static int n_distinct(const fscen *s, int k) {
    const char *vals[MAX_XVALUES];
    int numeric;
    return distinct(s, k, vals, MAX_XVALUES, &numeric);
}

/* Is key k a function of the keys in roles (-1 entries ignored): no two points agree on the
   roles and differ on k? Linked axes, and axes that change nothing, are. */
static int depends(const fscen *s, int k, const int *roles, int n_roles) {
    for (long i = 0; i < s->n_pts; i++)
        for (long j = i + 1; j < s->n_pts; j++) {
            int agree = 1;
            for (int r = 0; r < n_roles && agree; r++)
                agree =
                    roles[r] < 0 || strcmp(s->pts[i].val[roles[r]], s->pts[j].val[roles[r]]) == 0;
            if (agree && strcmp(s->pts[i].val[k], s->pts[j].val[k]) != 0)
                return 0;
        }
    return 1;
}

/* The axis (not derived, not in roles, not a function of them) to take next: the numeric one
   with the most values when `want_x`, else the one with the fewest values; -1 if none. */
static int pick_axis(const fscen *s, const int *roles, int n_roles, int want_x) {
    int best = -1, best_n = 0, best_num = 0;
    for (int k = 0; k < s->n_axes; k++) {
        int used = 0;
        for (int r = 0; r < n_roles; r++)
            used = used || roles[r] == k;
        if (used || n_distinct(s, k) < 2 || (n_roles > 0 && depends(s, k, roles, n_roles)))
            continue;
        const char *vals[MAX_XVALUES];
        int numeric, n = distinct(s, k, vals, MAX_XVALUES, &numeric);
        int better =
            best < 0 ||
            (want_x ? (numeric > best_num || (numeric == best_num && n > best_n)) : n < best_n);
        if (better) {
            best = k;
            best_n = n;
            best_num = numeric;
        }
    }
    return best;
}

/* ==== One figure ==== */

/* s with every byte outside [A-Za-z0-9._-] as '_' into buf. */
static void file_part(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        buf[n++] = ok ? c : '_';
    }
    buf[n] = '\0';
}

/* A gnuplot single-quoted string: ' becomes a typographic apostrophe. */
static void gp_text(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    for (; *s && n + 4 < cap; s++) {
        if (*s == '\'') {
            buf[n++] = (char)0xe2;
            buf[n++] = (char)0x80;
            buf[n++] = (char)0x99;
        } else {
            buf[n++] = *s == '\n' ? ' ' : *s;
        }
    }
    buf[n] = '\0';
}

/* What one figure draws. */
typedef struct fig {
    const fscen *s;
    enum metric m;
    int x, series, facet; /* key indexes; -1 when not used */
    int split[MAX_KEYS];  /* the left-over axes fixed in this figure */
    int n_split;
    const fpoint *at; /* the point giving the split axes' values */
} fig;

static int in_figure(const fig *f, const fpoint *pt) {
    for (int i = 0; i < f->n_split; i++)
        if (strcmp(pt->val[f->split[i]], f->at->val[f->split[i]]) != 0)
            return 0;
    return 1;
}

static const char style[] = "set termoption noenhanced\n"
                            "set grid back lc rgb '#dddddd'\n"
                            "set border 3\n"
                            "set tics nomirror\n"
                            "set style line 1 lc rgb '#c0392b' lw 2 pt 7 ps 1.2\n"
                            "set style line 2 lc rgb '#8e44ad' lw 2 pt 5 ps 1.2 dt 2\n"
                            "set style line 3 lc rgb '#2980b9' lw 2 pt 9 ps 1.4\n"
                            "set style line 4 lc rgb '#27ae60' lw 2 pt 13 ps 1.4\n"
                            "set style line 5 lc rgb '#d35400' lw 2 pt 11 ps 1.2\n"
                            "set style line 6 lc rgb '#7f8c8d' lw 2 pt 3 ps 1.2\n"
                            "set bars small\n"
                            "set offsets graph 0.06, graph 0.06, 0, 0\n";

/* Writes the data blocks (panel-major, then series) and the script; *rows counts points. */
static int write_figure(halo__plot *p, const fig *f, const char *dat, const char *gp, long *rows,
                        int *panel_rows, halo_err *err) {
    const fscen *s = f->s;
    const char *xv[MAX_XVALUES], *sv[MAX_SERIES], *fv[MAX_PANELS];
    int xnum, snum, fnum;
    int nx = distinct(s, f->x, xv, MAX_XVALUES, &xnum);
    int ns = f->series >= 0 ? distinct(s, f->series, sv, MAX_SERIES, &snum) : 1;
    int nf = f->facet >= 0 ? distinct(s, f->facet, fv, MAX_PANELS, &fnum) : 1;
    if (nx > MAX_XVALUES || ns > MAX_SERIES || nf > MAX_PANELS)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: too many values to draw (x %s: %d, series: %d, panels: %d; at "
                         "most %d, %d, %d)",
                         s->name, s->keys[f->x], nx, ns, nf, MAX_XVALUES, MAX_SERIES, MAX_PANELS);
    halo_file_out dout; /* written whole or not at all (issue 18) */
    int drc = halo_file_out_open(&dout, dat, 0644, err);
    if (drc != HALO_OK)
        return drc;
    FILE *d = dout.f;
    int block[MAX_PANELS][MAX_SERIES], n_blocks = 0;
    double ymin = HUGE_VAL, ymax = -HUGE_VAL;
    *rows = 0;
    (void)fprintf(d, "# %s against %s: x (%s), mean, interval low, interval high\n",
                  metrics[f->m].name, s->keys[f->x], xnum ? "as swept" : "index of the value");
    for (int fi = 0; fi < nf; fi++)
        for (int si = 0; si < ns; si++) {
            block[fi][si] = -1;
            long before = *rows;
            for (int xi = 0; xi < nx; xi++)
                for (long i = 0; i < s->n_pts; i++) {
                    const fpoint *pt = &s->pts[i];
                    if (!pt->has[f->m] || !in_figure(f, pt) || strcmp(pt->val[f->x], xv[xi]) != 0 ||
                        (f->series >= 0 && strcmp(pt->val[f->series], sv[si]) != 0) ||
                        (f->facet >= 0 && strcmp(pt->val[f->facet], fv[fi]) != 0))
                        continue;
                    if (*rows == before) {
                        (void)fprintf(d, "%s# block %d:", n_blocks > 0 ? "\n\n" : "", n_blocks);
                        if (f->facet >= 0)
                            (void)fprintf(d, " %s=%s", s->keys[f->facet], fv[fi]);
                        if (f->series >= 0)
                            (void)fprintf(d, " %s=%s", s->keys[f->series], sv[si]);
                        (void)fprintf(d, "\n");
                    }
                    /* categorical: the value's index, each series a little aside */
                    char pos[32];
                    (void)snprintf(pos, sizeof pos, "%.3f",
                                   xi + (ns > 1 ? 0.3 * (si - (ns - 1) / 2.0) / ns : 0.0));
                    (void)fprintf(d, "%s %.10g %.10g %.10g\n", xnum ? xv[xi] : pos, pt->mean[f->m],
                                  pt->lo[f->m], pt->hi[f->m]);
                    ymin = fmin(ymin, pt->lo[f->m]);
                    ymax = fmax(ymax, pt->hi[f->m]);
                    (*rows)++;
                    break; /* one point per (x, series, panel) */
                }
            if (*rows > before)
                block[fi][si] = n_blocks++;
        }
    if ((drc = halo_file_out_commit(&dout, err)) != HALO_OK)
        return drc;
    if (*rows == 0)
        return HALO_OK;

    char *sc = malloc(SCRIPT_BYTES), t[512];
    if (!sc)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", s->name);
    size_t len = 0;
    halo_text_appendf(sc, SCRIPT_BYTES, &len, "%s", style);
    gp_text(s->keys[f->x], t, sizeof t);
    halo_text_appendf(sc, SCRIPT_BYTES, &len, "set xlabel '%s'\nset ylabel '%s'\n", t,
                      metrics[f->m].label);
    int logy = metrics[f->m].time && ymin > 0 && ymax / ymin > 20;
    if (logy)
        halo_text_appendf(sc, SCRIPT_BYTES, &len, "set logscale y\n");
    if (nf > 1 && logy) /* panels share one y range, so that they compare */
        halo_text_appendf(sc, SCRIPT_BYTES, &len, "set yrange [%.10g:%.10g]\n", ymin / 1.25,
                          ymax * 1.25);
    else if (nf > 1 && ymin >= 0 && ymax > 0)
        halo_text_appendf(sc, SCRIPT_BYTES, &len, "set yrange [0:%.10g]\n", ymax * 1.08);
    else if (nf > 1 && ymax > ymin)
        halo_text_appendf(sc, SCRIPT_BYTES, &len, "set yrange [%.10g:%.10g]\n",
                          ymin - 0.05 * (ymax - ymin), ymax + 0.05 * (ymax - ymin));
    else if (ymin >= 0)
        halo_text_appendf(sc, SCRIPT_BYTES, &len, "set yrange [0:*]\n");
    if (!xnum) {
        halo_text_appendf(sc, SCRIPT_BYTES, &len, "set xrange [-0.5:%d.5]\nset xtics (", nx - 1);
        for (int xi = 0; xi < nx; xi++) {
            gp_text(xv[xi], t, sizeof t);
            halo_text_appendf(sc, SCRIPT_BYTES, &len, "%s'%s' %d", xi ? ", " : "", t, xi);
        }
        halo_text_appendf(sc, SCRIPT_BYTES, &len, ")\n");
    }
    if (xnum && nx <= 8) { /* tics at the values swept, as written */
        halo_text_appendf(sc, SCRIPT_BYTES, &len, "set xtics (");
        for (int xi = 0; xi < nx; xi++)
            halo_text_appendf(sc, SCRIPT_BYTES, &len, "%s'%s' %s", xi ? ", " : "", xv[xi], xv[xi]);
        halo_text_appendf(sc, SCRIPT_BYTES, &len, ")\n");
    }
    int cols = nf <= 2 ? nf : (p->opt->size == HALO_PLOT_SIZE_COLUMN ? 2 : (nf <= 6 ? 3 : 4));
    *panel_rows = (nf + cols - 1) / cols;
    /* the key above the panels, in a line of its own (a blank multiplot title keeps room) */
    if (nf > 1)
        halo_text_appendf(sc, SCRIPT_BYTES, &len,
                          "set key horizontal center top at screen 0.5, 0.995 samplen 2\n"
                          "set multiplot layout %d,%d title ' '\n",
                          *panel_rows, cols);
    else
        halo_text_appendf(sc, SCRIPT_BYTES, &len,
                          "set key outside horizontal center top samplen 2\n");
    for (int fi = 0; fi < nf; fi++) {
        if (f->facet >= 0) { /* the key's last part (the caption names it whole), unless
                                that is the name of the x or series key */
            char k[256];
            const char *full = s->keys[f->facet], *dot = strrchr(full, '.');
            const char *part = dot ? dot + 1 : full;
            if (strcmp(part, s->keys[f->x]) == 0 ||
                (f->series >= 0 && strcmp(part, s->keys[f->series]) == 0))
                part = full;
            gp_text(part, k, sizeof k);
            gp_text(fv[fi], t, sizeof t);
            halo_text_appendf(sc, SCRIPT_BYTES, &len, "set title '%s=%s'\n", k, t);
        }
        int first = 1;
        for (int si = 0; si < ns; si++) {
            if (block[fi][si] < 0)
                continue;
            gp_text(f->series >= 0 ? sv[si] : "", t, sizeof t);
            /* categories are not a line: points and bars only */
            halo_text_appendf(sc, SCRIPT_BYTES, &len,
                              "%sdatafile index %d using 1:2:3:4 with %s ls %d title '%s'",
                              first ? "plot " : ", \\\n     ", block[fi][si],
                              xnum ? "yerrorlines" : "yerrorbars", si % 6 + 1, fi == 0 ? t : "");
            first = 0;
        }
        if (f->m == M_SPEEDUP)
            halo_text_appendf(sc, SCRIPT_BYTES, &len,
                              ", \\\n     1 with lines dt 3 lc rgb '#555555' title '%s'",
                              fi == 0 ? "distributed-llama" : "");
        if (first) /* an empty panel: an invisible point keeps the layout */
            halo_text_appendf(sc, SCRIPT_BYTES, &len, "plot 1/0 notitle");
        halo_text_appendf(sc, SCRIPT_BYTES, &len,
                          "\nunset key\n"); /* the first panel's key serves all */
    }
    if (nf > 1)
        halo_text_appendf(sc, SCRIPT_BYTES, &len, "unset multiplot\n");
    halo_file_out g;
    int rc = halo_file_out_open(&g, gp, 0644, err);
    if (rc == HALO_OK) {
        (void)fwrite(sc, 1, len, g.f);
        rc = halo_file_out_commit(&g, err);
    }
    free(sc);
    return rc;
}

static void caption_of(halo__plot *p, const fig *f, char *buf, size_t cap) {
    const fscen *s = f->s;
    size_t len = 0;
    const char *label = metrics[f->m].label;
    halo_text_appendf(buf, cap, &len, "%c%s against %s", label[0] - 'a' + 'A', label + 1,
                      s->keys[f->x]);
    if (f->series >= 0)
        halo_text_appendf(buf, cap, &len, ", one line per %s", s->keys[f->series]);
    if (f->facet >= 0)
        halo_text_appendf(buf, cap, &len, ", one panel per %s", s->keys[f->facet]);
    for (int i = 0; i < f->n_split; i++)
        halo_text_appendf(buf, cap, &len, "%s%s=%s", i ? ", " : "; at ", s->keys[f->split[i]],
                          f->at->val[f->split[i]]);
    halo_text_appendf(buf, cap, &len, ". Scenario %s: %s (%s weights), ", s->name, s->model,
                      s->weights);
    if (s->n_devices_min == s->n_devices_max)
        halo_text_appendf(buf, cap, &len, "%d devices", s->n_devices_min);
    else
        halo_text_appendf(buf, cap, &len, "%d to %d devices", s->n_devices_min, s->n_devices_max);
    halo_text_appendf(buf, cap, &len, ", %d tokens per run, ", s->tokens);
    if (s->runs_min == s->runs_max)
        halo_text_appendf(buf, cap, &len, "%d runs per point.", s->runs_min);
    else
        halo_text_appendf(buf, cap, &len, "%d to %d runs per point.", s->runs_min, s->runs_max);
    int pct = (int)lround(100 * p->opt->confidence);
    if (f->m == M_SPEEDUP)
        halo_text_appendf(
            buf, cap, &len,
            " Speedup: distributed-llama's mean time per token over this point's (the matching "
            "engine.baseline=dllama point). Error bars: from the ratio of the ends of the two "
            "%d%% confidence intervals of the mean over runs (Student's t), as in halo report.",
            pct);
    else
        halo_text_appendf(
            buf, cap, &len,
            " Error bars: %d%% confidence intervals of the mean over runs (Student's t), as in "
            "halo report.",
            pct);
    if (s->runs_min < 2)
        halo_text_appendf(buf, cap, &len, " Points with one run have no bar.");
}

/* FNV-1a of a figure's name parts, for stems too long to keep whole. */
static uint64_t hash(const char *a, const char *b, const char *c, int m) {
    uint64_t h = UINT64_C(1469598103934665603) ^ (uint64_t)m;
    for (const char *const *p = (const char *const[]){a, b, c, NULL}; *p; p++)
        for (const char *q = *p; *q; q++)
            h = (h ^ (unsigned char)*q) * UINT64_C(1099511628211);
    return h;
}

static int draw_figure(halo__plot *p, const fig *f, const char *suffix, halo_err *err) {
    char name[NAME_BYTES + 64], sn[NAME_BYTES], xn[NAME_BYTES], dat[4400], gp[4400];
    file_part(f->s->name, sn, sizeof sn);
    file_part(f->s->keys[f->x], xn, sizeof xn);
    int w = snprintf(name, sizeof name, "%s.%s-vs-%s%s", sn, metrics[f->m].name, xn, suffix);
    if (w < 0 || w >= (int)sizeof name) /* the stem cut short: still unique by its hash */
        (void)snprintf(name + sizeof name - 18, 18, "-%016" PRIx64, hash(sn, xn, suffix, f->m));
    (void)snprintf(dat, sizeof dat, "%s/%s.dat", p->out_dir, name); /* kept: the numbers */
    (void)snprintf(gp, sizeof gp, "%s/fig.gp", p->scratch);
    long rows = 0;
    int panel_rows = 1;
    int rc = write_figure(p, f, dat, gp, &rows, &panel_rows, err);
    if (rc == HALO_OK && rows > 0) {
        char caption[4096];
        caption_of(p, f, caption, sizeof caption);
        rc = halo__plot_render(p, "", name, gp, dat, "", "", 0, panel_rows, rows, caption, err);
    } else if (rc == HALO_OK) {
        halo__plot_skip(p, name, "no point has this metric");
        (void)remove(dat);
    }
    (void)remove(gp);
    return rc;
}

/* ==== One scenario ==== */

/* The metrics named in `y` ("mean_ms,speedup") into ms[] (at most MAX_METRICS kept); returns
   how many it names, or an error status (negative) naming an unknown one. */
static int parse_y(const char *y, enum metric *ms, halo_err *err) {
    char buf[512];
    int n = 0;
    (void)snprintf(buf, sizeof buf, "%s", y);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int m = 0;
        while (m < N_METRICS && strcmp(metrics[m].name, t) != 0)
            m++;
        if (m == N_METRICS)
            return HALO_FAIL(err, HALO_ERR_ARG, "--y %s: unknown metric; one of:\n%s", t,
                             halo_plot_metrics());
        if (n < MAX_METRICS)
            ms[n] = (enum metric)m;
        n++;
    }
    return n;
}

int halo__figure_check_y(const char *y, halo_err *err) {
    if (!y)
        return HALO_OK;
    enum metric ms[MAX_METRICS];
    int n = parse_y(y, ms, err);
    if (n < 0)
        return n;
    if (n == 0)
        return HALO_FAIL(err, HALO_ERR_ARG, "--y '%s': no metric; one or more of:\n%s", y,
                         halo_plot_metrics());
    return HALO_OK;
}

/* The metrics to draw into ms[] (count returned): the chosen ones, or mean_ms and, where the
   points have them, speedup, missing_pct and perplexity. */
static int choose_metrics(const halo_plot_options *o, const fscen *s, enum metric *ms,
                          halo_err *err) {
    int n = 0;
    if (o->y) {
        n = parse_y(o->y, ms, err);
        return n < MAX_METRICS ? n : MAX_METRICS; /* an error status is negative */
    }
    int has[N_METRICS] = {0};
    double missing = 0;
    for (long i = 0; i < s->n_pts; i++) {
        for (int m = 0; m < N_METRICS; m++)
            has[m] |= s->pts[i].has[m];
        missing += s->pts[i].mean[M_MISSING];
    }
    ms[n++] = M_MEAN;
    if (has[M_SPEEDUP])
        ms[n++] = M_SPEEDUP;
    if (missing > 0)
        ms[n++] = M_MISSING;
    if (has[M_PERPLEXITY])
        ms[n++] = M_PERPLEXITY;
    return n;
}

/* A chosen key's index in s, or -1 with *why set when s lacks it. */
static int chosen_key(const fscen *s, const char *opt, const char *key, char *why, size_t cap) {
    int k = key_index(s, key);
    if (k < 0) {
        size_t len = 0;
        halo_text_appendf(why, cap, &len, "%s %s: not an axis of this scenario; its axes:", opt,
                          key);
        for (int i = 0; i < s->n_axes; i++)
            halo_text_appendf(why, cap, &len, " %s", s->keys[i]);
        halo_text_appendf(why, cap, &len, "%s; derived: loss loss_pct speed_ratio n_devices system",
                          s->n_axes ? "" : " none");
    }
    return k;
}

static int draw_scenario(halo__plot *p, fscen *s, halo_err *err) {
    const halo_plot_options *o = p->opt;
    char why[2048] = "";
    fig f = {.s = s, .x = -1, .series = -1, .facet = -1};
    if (o->x && (f.x = chosen_key(s, "--x", o->x, why, sizeof why)) < 0)
        goto skip;
    if (o->series && (f.series = chosen_key(s, "--series", o->series, why, sizeof why)) < 0)
        goto skip;
    if (o->facet && (f.facet = chosen_key(s, "--facet", o->facet, why, sizeof why)) < 0)
        goto skip;
    if ((f.x >= 0 && (f.x == f.series || f.x == f.facet)) || (f.series >= 0 && f.series == f.facet))
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: the same key in two roles of --x, --series, "
                         "--facet",
                         s->name);
    int roles[3 + MAX_KEYS];
    int kb = key_index(s, "engine.baseline");
    if (f.series < 0 && !o->series && kb >= 0 && kb != f.x && kb != f.facet &&
        n_distinct(s, kb) > 1)
        f.series = kb;
    if (f.x < 0) {
        roles[0] = f.series, roles[1] = f.facet;
        f.x = pick_axis(s, roles, 2, 1);
        if (f.x < 0 && f.series >= 0 && !o->series) { /* only the baseline varies */
            f.x = f.series;
            f.series = -1;
        }
    }
    if (f.x < 0) {
        (void)snprintf(why, sizeof why, "no sweep axis varies (a single point)");
        goto skip;
    }
    roles[0] = f.x, roles[1] = f.series, roles[2] = f.facet;
    if (f.series < 0 && !o->series)
        roles[1] = f.series = pick_axis(s, roles, 3, 0);
    if (f.facet < 0 && !o->facet)
        roles[2] = f.facet = pick_axis(s, roles, 3, 0);
    /* the rest: one figure per combination of the axes not a function of the roles */
    int n_roles = 3;
    for (int k; (k = pick_axis(s, roles, n_roles, 0)) >= 0;)
        roles[n_roles++] = f.split[f.n_split++] = k;
    enum metric ms[MAX_METRICS];
    int n_m = choose_metrics(o, s, ms, err);
    if (n_m < 0)
        return n_m;
    const fpoint *combos[MAX_SPLITS + 1];
    int n_combos = 0;
    for (long i = 0; i < s->n_pts && n_combos <= MAX_SPLITS; i++) {
        fig g = f;
        g.at = &s->pts[i];
        int seen = 0;
        for (int c = 0; c < n_combos && !seen; c++)
            seen = in_figure(&g, combos[c]);
        if (!seen)
            combos[n_combos++] = &s->pts[i];
    }
    if (n_combos > MAX_SPLITS) {
        (void)snprintf(why, sizeof why,
                       "more than %d combinations of the axes left over; choose --x, --series "
                       "and --facet",
                       MAX_SPLITS);
        goto skip;
    }
    for (int mi = 0; mi < n_m; mi++)
        for (int c = 0; c < n_combos; c++) {
            f.m = ms[mi];
            f.at = combos[c];
            char suffix[NAME_BYTES] = "", part[NAME_BYTES];
            size_t len = 0;
            for (int i = 0; i < f.n_split; i++) {
                char kv[2 * MAX_VALUE + 160];
                (void)snprintf(kv, sizeof kv, "%s=%s", s->keys[f.split[i]], f.at->val[f.split[i]]);
                file_part(kv, part, sizeof part);
                halo_text_appendf(suffix, sizeof suffix, &len, ".%s", part);
            }
            int rc = draw_figure(p, &f, suffix, err);
            if (rc != HALO_OK)
                return rc;
        }
    return HALO_OK;
skip:
    if (o->scenario)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: %s", s->name, why);
    halo__plot_skip(p, s->name, why);
    return HALO_OK;
}

int halo__figure_draw(halo__plot *p, char *const *covered, int n_covered, halo_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(p->db, "SELECT DISTINCT scenario_name FROM latest_run ORDER BY 1", -1,
                           &st, NULL) != SQLITE_OK)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: %s", p->db_path, sqlite3_errmsg(p->db));
    char names[256][128];
    int n = 0, found = 0;
    while (sqlite3_step(st) == SQLITE_ROW && n < 256) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!name)
            continue;
        (void)snprintf(names[n], sizeof names[n], "%s", name);
        found = found || (p->opt->scenario && strcmp(name, p->opt->scenario) == 0);
        n++;
    }
    sqlite3_finalize(st);
    if (p->opt->scenario && !found) {
        char list[2048] = "";
        size_t len = 0;
        for (int i = 0; i < n; i++)
            halo_text_appendf(list, sizeof list, &len, " %s", names[i]);
        return HALO_FAIL(err, HALO_ERR_ARG, "--scenario %s: not in %s; there:%s", p->opt->scenario,
                         p->db_path, n ? list : " none");
    }
    fscen *s = malloc(sizeof *s);
    if (!s)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    int rc = HALO_OK;
    for (int i = 0; rc == HALO_OK && i < n; i++) {
        if (p->opt->scenario && strcmp(names[i], p->opt->scenario) != 0)
            continue;
        int skip = 0;
        for (int c = 0; c < n_covered && !skip; c++)
            skip = strcmp(covered[c], names[i]) == 0;
        if (skip)
            continue;
        rc = fscen_load(p, names[i], s, err);
        if (rc == HALO_OK)
            rc = draw_scenario(p, s, err);
        fscen_free(s);
    }
    free(s);
    return rc;
}
