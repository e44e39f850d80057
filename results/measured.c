/*
 * Measured runs (results/measured.h): the harness's CSV files read and validated, then
 * imported into measured_run and measured_token in one transaction.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/measured.h"

#include "core/file.h"
#include "core/grow.h"
#include "core/parse.h"
#include "halo_git_rev.h"
#include "results/db_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    NAME_MAX_BYTES = 64, /* system, model and harness names, with the NUL */
    LOSS_MAX_BYTES = 32, /* the loss as written, with the NUL */
    MAX_FIELDS = 32,     /* fields split per line (more are counted, not kept) */
};

/* The statuses a run may have (a run keeps the index of its own). */
static const char *const status_names[] = {"ok", "failed", "timeout", NULL};

/* One counted token interval of a run. */
typedef struct sample {
    long long idx; /* as the harness numbered it */
    double ms;
    long line; /* its line in samples.csv */
} sample;

/* One run: a line of runs.csv and its samples. */
typedef struct mrun {
    char system[NAME_MAX_BYTES], model[NAME_MAX_BYTES], loss_text[LOSS_MAX_BYTES];
    char cell[2 * NAME_MAX_BYTES + LOSS_MAX_BYTES + 32]; /* system/model/nodes/loss */
    double loss;
    long long nodes, run, tokens, frames, dropped;
    double mean_ms;     /* NAN without tokens */
    double missing_pct; /* NAN when empty */
    double self_ms;     /* NAN when empty */
    double wall_s;
    int status;                    /* index into status_names */
    long line;                     /* its line in runs.csv */
    double csv_mean_ms;            /* ms_mean as written (checked against the samples) */
    sample *s;                     /* (n_s) by idx once loaded */
    long n_s, cap_s;               /* samples read, capacity */
    double p50_ms, p90_ms, max_ms; /* NAN without samples */
} mrun;

struct halo_measured {
    char runs_path[4096], samples_path[4096];
    mrun *runs; /* (n_runs) in the order of runs.csv */
    long n_runs, cap_runs;
    long n_tokens; /* samples read */
};

/* ==== Plain CSV ==== */

/* A CSV file read whole and split line by line in place. */
typedef struct csv {
    const char *path;
    char *text; /* owned */
    char *p;    /* the next line */
    long line;  /* the current line's number (from 1) */
    int n;      /* fields on the current line (all of them, also beyond MAX_FIELDS) */
    char *f[MAX_FIELDS];
} csv;

/* Splits the next line into c->f. Returns 1 for a line, 0 at the end, or an error. */
static int csv_next(csv *c, halo_err *err) {
    for (;;) {
        if (!*c->p)
            return 0;
        char *line = c->p, *nl = strchr(line, '\n');
        c->p = nl ? nl + 1 : line + strlen(line);
        if (nl)
            *nl = '\0';
        c->line++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len == 0) {
            /* empty lines are tolerated only at the end of the file */
            if (strspn(c->p, "\r\n") == strlen(c->p))
                return 0;
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s:%ld: empty line", c->path, c->line);
        }
        if (strchr(line, '"'))
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s:%ld: a quote; plain CSV is expected (no quoting, no field with "
                             "a comma or a quote)",
                             c->path, c->line);
        c->n = 0;
        for (char *s = line;;) {
            char *comma = strchr(s, ',');
            if (comma)
                *comma = '\0';
            if (c->n < MAX_FIELDS)
                c->f[c->n] = s;
            c->n++;
            if (!comma)
                break;
            s = comma + 1;
        }
        return 1;
    }
}

/* Reads `path` and checks its first line against `header` (n_cols names). */
static int csv_open(csv *c, const char *path, const char *header, int n_cols, halo_err *err) {
    *c = (csv){.path = path};
    size_t len = 0;
    int rc = halo_file_read_text(path, HALO_MEASURED_MAX_FILE_BYTES, &c->text, &len, err);
    if (rc != HALO_OK)
        return rc;
    c->p = c->text;
    rc = csv_next(c, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: empty; expected the header '%s'", path, header);
    if (c->n != n_cols)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s:1: the header has %d columns, expected %d: '%s'",
                         path, c->n, n_cols, header);
    const char *h = header;
    for (int i = 0; i < n_cols; i++) {
        size_t n = strcspn(h, ",");
        if (strlen(c->f[i]) != n || strncmp(c->f[i], h, n) != 0)
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s:1: column %d is '%.40s', expected '%.*s' (the header must be "
                             "'%s')",
                             path, i + 1, c->f[i], (int)n, h, header);
        h += n + (h[n] == ',');
    }
    return HALO_OK;
}

/* ==== Fields ==== */

/* The name of column `col` (0-based) of a header. */
static void column_name(const char *header, int col, char *buf, size_t cap) {
    const char *h = header;
    for (int i = 0; i < col && h; i++) {
        h = strchr(h, ',');
        h = h ? h + 1 : NULL;
    }
    size_t n = h ? strcspn(h, ",") : 0;
    (void)snprintf(buf, cap, "%.*s", (int)n, h ? h : "");
}

/* Puts "path:line: column N (name): " in front of err's message (a value's error, raised
   just before); returns HALO_ERR_FORMAT. */
static int at_field(const csv *c, const char *header, int col, halo_err *err) {
    char name[32];
    column_name(header, col, name, sizeof name);
    (void)halo_err_prefix(err, "%s:%ld: column %d (%s): ", c->path, c->line, col + 1, name);
    if (err)
        err->code = HALO_ERR_FORMAT;
    return HALO_ERR_FORMAT;
}

/* The number in field s, `what` naming the kind expected ("a number"); a negative one is
   refused when lo >= 0. */
static int field_number(const char *s, const char *what, double lo, double *v, halo_err *err) {
    if (!halo_parse_double(s, v))
        return HALO_FAIL(err, HALO_ERR_FORMAT, "expected %s, got '%.40s'", what, s);
    if (*v < 0 && lo >= 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%.40s is negative", s);
    return HALO_OK;
}

/* A number >= lo (<= hi) in column col; the empty field gives NAN when `optional`. */
static int num_field(const csv *c, const char *header, int col, double lo, double hi, int optional,
                     double *out, halo_err *err) {
    const char *s = c->f[col];
    if (optional && !*s) {
        *out = (double)NAN;
        return HALO_OK;
    }
    double v;
    int rc = field_number(s, "a number", lo, &v, err);
    if (rc == HALO_OK && (v < lo || v > hi))
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%.40s is not in [%g, %g]", s, lo, hi);
    if (rc != HALO_OK)
        return at_field(c, header, col, err);
    *out = v;
    return HALO_OK;
}

/* A whole number >= lo in column col. */
static int int_field(const csv *c, const char *header, int col, long long lo, long long *out,
                     halo_err *err) {
    const char *s = c->f[col];
    double v;
    int rc = field_number(s, "an integer", (double)lo, &v, err);
    if (rc == HALO_OK)
        rc = halo_parse_integer(s, lo, (long long)1 << 53, out, err);
    return rc == HALO_OK ? HALO_OK : at_field(c, header, col, err);
}

/* Letters, digits, '-', '_', '.'; not empty; shorter than NAME_MAX_BYTES. */
static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= NAME_MAX_BYTES)
        return 0;
    for (const char *p = s; *p; p++)
        if (!halo_parse_name_char(*p))
            return 0;
    return 1;
}

/* HALO_OK for a valid harness name, else HALO_ERR_ARG naming it. */
static int check_harness(const char *harness, halo_err *err) {
    if (valid_name(harness))
        return HALO_OK;
    return HALO_FAIL(err, HALO_ERR_ARG,
                     "harness name '%.40s': expected 1 to %d letters, digits, '-', '_', '.'",
                     harness, NAME_MAX_BYTES - 1);
}

/* A name (system, model) in column col into buf (NAME_MAX_BYTES). */
static int name_field(const csv *c, const char *header, int col, char *buf, halo_err *err) {
    const char *s = c->f[col];
    if (!valid_name(s)) {
        (void)HALO_FAIL(err, HALO_ERR_FORMAT,
                        "expected a name (1 to %d letters, digits, '-', '_', '.'), got '%.40s'",
                        NAME_MAX_BYTES - 1, s);
        return at_field(c, header, col, err);
    }
    (void)snprintf(buf, NAME_MAX_BYTES, "%s", s);
    return HALO_OK;
}

/* The columns shared by both files: system, model, loss, nodes, run (columns 1-5). */
typedef struct run_key {
    char system[NAME_MAX_BYTES], model[NAME_MAX_BYTES], loss_text[LOSS_MAX_BYTES];
    double loss;
    long long nodes, run;
} run_key;

static int key_fields(const csv *c, const char *header, run_key *k, halo_err *err) {
    int rc = name_field(c, header, 0, k->system, err);
    if (rc == HALO_OK)
        rc = name_field(c, header, 1, k->model, err);
    if (rc == HALO_OK)
        rc = num_field(c, header, 2, 0, 1, 0, &k->loss, err);
    if (rc == HALO_OK && strlen(c->f[2]) >= LOSS_MAX_BYTES) {
        (void)HALO_FAIL(err, HALO_ERR_FORMAT, "longer than %d characters", LOSS_MAX_BYTES - 1);
        rc = at_field(c, header, 2, err);
    }
    if (rc == HALO_OK)
        (void)snprintf(k->loss_text, sizeof k->loss_text, "%s", c->f[2]);
    if (rc == HALO_OK)
        rc = int_field(c, header, 3, 1, &k->nodes, err);
    if (rc == HALO_OK)
        rc = int_field(c, header, 4, 0, &k->run, err);
    return rc;
}

static int same_key(const mrun *r, const run_key *k) {
    return r->nodes == k->nodes && r->run == k->run && strcmp(r->system, k->system) == 0 &&
           strcmp(r->model, k->model) == 0 && strcmp(r->loss_text, k->loss_text) == 0;
}

static int wrong_columns(const csv *c, int want, halo_err *err) {
    return HALO_FAIL(err, HALO_ERR_FORMAT, "%s:%ld: %d columns, expected %d", c->path, c->line,
                     c->n, want);
}

/* ==== runs.csv ==== */

enum {
    RUNS_COLS = 13,
    SAMPLES_COLS = 7
};

static mrun *add_run(halo_measured *m) {
    return halo__push(&m->runs, &m->n_runs, &m->cap_runs, sizeof(mrun), 64);
}

/* The fields of one runs.csv line into r (columns 6-13). */
static int run_fields(const csv *c, mrun *r, halo_err *err) {
    static const char *const h = HALO_MEASURED_RUNS_HEADER;
    int rc = int_field(c, h, 5, 0, &r->tokens, err);
    if (rc == HALO_OK)
        rc = num_field(c, h, 6, 0, HUGE_VAL, 0, &r->csv_mean_ms, err);
    if (rc == HALO_OK)
        rc = int_field(c, h, 7, 0, &r->frames, err);
    if (rc == HALO_OK)
        rc = int_field(c, h, 8, 0, &r->dropped, err);
    if (rc == HALO_OK && r->dropped > r->frames) {
        (void)HALO_FAIL(err, HALO_ERR_FORMAT, "%lld dropped of %lld frames", r->dropped, r->frames);
        rc = at_field(c, h, 8, err);
    }
    if (rc == HALO_OK)
        rc = num_field(c, h, 9, 0, 100, 1, &r->missing_pct, err);
    if (rc == HALO_OK)
        rc = num_field(c, h, 10, 0, HUGE_VAL, 1, &r->self_ms, err);
    if (rc == HALO_OK)
        rc = num_field(c, h, 11, 0, HUGE_VAL, 0, &r->wall_s, err);
    if (rc == HALO_OK && halo_parse_enum(c->f[12], status_names, &r->status, err) != HALO_OK)
        rc = at_field(c, h, 12, err);
    r->mean_ms = r->tokens > 0 ? r->csv_mean_ms : (double)NAN;
    return rc;
}

/* One line of runs.csv (c's current line) into a new run of m (a line_fn; runs need no
   `last`). */
static int run_line(halo_measured *m, const csv *c, mrun **last, halo_err *err) {
    (void)last;
    run_key k;
    int rc = key_fields(c, HALO_MEASURED_RUNS_HEADER, &k, err);
    if (rc != HALO_OK)
        return rc;
    for (long i = 0; i < m->n_runs; i++)
        if (same_key(&m->runs[i], &k))
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s:%ld: %s/%s/%lld/%s run %lld is listed twice (also line %ld)",
                             c->path, c->line, k.system, k.model, k.nodes, k.loss_text, k.run,
                             m->runs[i].line);
    mrun *r = add_run(m);
    if (!r)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", c->path);
    memcpy(r->system, k.system, sizeof r->system);
    memcpy(r->model, k.model, sizeof r->model);
    memcpy(r->loss_text, k.loss_text, sizeof r->loss_text);
    r->loss = k.loss;
    r->nodes = k.nodes;
    r->run = k.run;
    r->line = c->line;
    (void)snprintf(r->cell, sizeof r->cell, "%s/%s/%lld/%s", k.system, k.model, k.nodes,
                   k.loss_text);
    return run_fields(c, r, err);
}

/* ==== samples.csv ==== */

static int add_sample(mrun *r, const sample *s) {
    sample *v = halo__push(&r->s, &r->n_s, &r->cap_s, sizeof *v, 128);
    if (!v)
        return -1;
    *v = *s;
    return 0;
}

/* One line of samples.csv (c's current line) into its run's samples; *last is the run of
   the line before (samples come grouped by run: it is looked at first). */
static int sample_line(halo_measured *m, const csv *c, mrun **last, halo_err *err) {
    static const char *const h = HALO_MEASURED_SAMPLES_HEADER;
    run_key k;
    sample s = {.line = c->line};
    int rc = key_fields(c, h, &k, err);
    if (rc == HALO_OK)
        rc = int_field(c, h, 5, 0, &s.idx, err);
    if (rc == HALO_OK)
        rc = num_field(c, h, 6, 0, HUGE_VAL, 0, &s.ms, err);
    if (rc != HALO_OK)
        return rc;
    mrun *r = *last && same_key(*last, &k) ? *last : NULL;
    for (long i = 0; !r && i < m->n_runs; i++)
        if (same_key(&m->runs[i], &k))
            r = &m->runs[i];
    if (!r)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s:%ld: no run %s/%s/%lld/%s run %lld in %s",
                         c->path, c->line, k.system, k.model, k.nodes, k.loss_text, k.run,
                         m->runs_path);
    if (add_sample(r, &s) != 0)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", c->path);
    *last = r;
    m->n_tokens++;
    return HALO_OK;
}

/* One line of a CSV file into m (c's current line, of the file's n_cols columns); *last is
   what the handler of the line before left there (NULL before the first line). */
typedef int (*line_fn)(halo_measured *m, const csv *c, mrun **last, halo_err *err);

/* Reads the CSV file `path`, whose first line must be `header` (n_cols names), and hands each
   later line to `line`, in order, until one fails; a line of another column count fails
   first. Returns HALO_OK or the first error (csv_open's, csv_next's or line's). */
static int read_lines(halo_measured *m, const char *path, const char *header, int n_cols,
                      line_fn line, halo_err *err) {
    csv c;
    int rc = csv_open(&c, path, header, n_cols, err);
    mrun *last = NULL;
    while (rc == HALO_OK) {
        int got = csv_next(&c, err);
        if (got <= 0) {
            rc = got;
            break;
        }
        rc = c.n != n_cols ? wrong_columns(&c, n_cols, err) : line(m, &c, &last, err);
    }
    free(c.text);
    return rc;
}

static int by_idx(const void *a, const void *b) {
    const sample *x = a, *y = b;
    if (x->idx != y->idx)
        return x->idx < y->idx ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of sorted[0..n-1], nearest rank: the definition of sim/simrun.c. */
static double quantile(const double *sorted, long n, double q) {
    long i = (long)(q * (double)(n - 1) + 0.5);
    return sorted[i];
}

/* Checks a run's samples against its line and derives its percentiles. */
static int finish_run(const halo_measured *m, mrun *r, halo_err *err) {
    if (r->n_s > 1) /* a run without samples has no array at all */
        qsort(r->s, (size_t)r->n_s, sizeof *r->s, by_idx);
    for (long i = 1; i < r->n_s; i++)
        if (r->s[i].idx == r->s[i - 1].idx)
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s:%ld: idx %lld of %s run %lld is listed twice (also line %ld)",
                             m->samples_path, r->s[i].line, r->s[i].idx, r->cell, r->run,
                             r->s[i - 1].line);
    if (r->n_s != r->tokens)
        return HALO_FAIL(
            err, HALO_ERR_FORMAT, "%s:%ld: %s run %lld: tokens %lld, but %s has %ld samples of it",
            m->runs_path, r->line, r->cell, r->run, r->tokens, m->samples_path, r->n_s);
    r->p50_ms = r->p90_ms = r->max_ms = (double)NAN;
    if (r->n_s == 0)
        return HALO_OK;
    double *v = malloc((size_t)r->n_s * sizeof *v), sum = 0;
    if (!v)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", m->samples_path);
    for (long i = 0; i < r->n_s; i++) {
        v[i] = r->s[i].ms;
        sum += v[i];
    }
    qsort(v, (size_t)r->n_s, sizeof *v, by_value);
    r->p50_ms = quantile(v, r->n_s, 0.50);
    r->p90_ms = quantile(v, r->n_s, 0.90);
    r->max_ms = v[r->n_s - 1];
    free(v);
    /* ms_mean and the samples are both written with 4 decimals: their means agree to that
       rounding unless the two files are not of the same measurement */
    double mean = sum / (double)r->n_s;
    if (fabs(mean - r->csv_mean_ms) > 5e-4 + 1e-3 * fabs(mean))
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s:%ld: %s run %lld: ms_mean %.4f, but its %ld samples in %s "
                         "average %.4f",
                         m->runs_path, r->line, r->cell, r->run, r->csv_mean_ms, r->n_s,
                         m->samples_path, mean);
    return HALO_OK;
}

void halo_measured_free(halo_measured *m) {
    if (!m)
        return;
    for (long i = 0; i < m->n_runs; i++)
        free(m->runs[i].s);
    free(m->runs);
    free(m);
}

long halo_measured_n_runs(const halo_measured *m) {
    return m->n_runs;
}

long halo_measured_n_tokens(const halo_measured *m) {
    return m->n_tokens;
}

int halo_measured_load(halo_measured **out, const char *dir, halo_err *err) {
    *out = NULL;
    halo_measured *m = calloc(1, sizeof *m);
    if (!m) {
        (void)HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
        return HALO_ERR_NOMEM;
    }
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    int w1 = snprintf(m->runs_path, sizeof m->runs_path, "%.*s/runs.csv", (int)n, dir);
    int w2 = snprintf(m->samples_path, sizeof m->samples_path, "%.*s/samples.csv", (int)n, dir);
    int rc = HALO_OK;
    if (w1 < 0 || (size_t)w1 >= sizeof m->runs_path || w2 < 0 ||
        (size_t)w2 >= sizeof m->samples_path)
        rc = HALO_FAIL(err, HALO_ERR_ARG, "%.200s: path too long", dir);
    if (rc == HALO_OK)
        rc = read_lines(m, m->runs_path, HALO_MEASURED_RUNS_HEADER, RUNS_COLS, run_line, err);
    if (rc == HALO_OK)
        rc = read_lines(m, m->samples_path, HALO_MEASURED_SAMPLES_HEADER, SAMPLES_COLS, sample_line,
                        err);
    for (long i = 0; rc == HALO_OK && i < m->n_runs; i++)
        rc = finish_run(m, &m->runs[i], err);
    if (rc != HALO_OK) {
        halo_measured_free(m);
        return rc;
    }
    *out = m;
    return HALO_OK;
}

/* ==== Import ==== */

/* Binds v, or NULL for NAN. */
static void bind_opt(sqlite3_stmt *st, int i, double v) {
    if (isnan(v))
        (void)sqlite3_bind_null(st, i);
    else
        (void)sqlite3_bind_double(st, i, v);
}

/* The values of a run that identify its measurement, bound from parameter `first` on (the
   order of the columns in find_sql and insert_sql). */
static void bind_values(sqlite3_stmt *st, int first, const mrun *r) {
    int i = first;
    (void)sqlite3_bind_int64(st, i++, r->tokens);
    bind_opt(st, i++, r->mean_ms);
    bind_opt(st, i++, r->p50_ms);
    bind_opt(st, i++, r->p90_ms);
    bind_opt(st, i++, r->max_ms);
    (void)sqlite3_bind_int64(st, i++, r->frames);
    (void)sqlite3_bind_int64(st, i++, r->dropped);
    bind_opt(st, i++, r->missing_pct);
    bind_opt(st, i++, r->self_ms);
    (void)sqlite3_bind_double(st, i++, r->wall_s);
    (void)sqlite3_bind_text(st, i, status_names[r->status], -1, SQLITE_STATIC);
}

/* The run already stored (?1-?4: harness, cell, run, source): its id, whether its values
   equal ?5-?15 (the order of bind_values), and what it stored. */
static const char find_sql[] =
    "SELECT id, (tokens IS ?5 AND mean_ms IS ?6 AND p50_ms IS ?7 AND p90_ms IS ?8 AND max_ms IS "
    "?9 AND frames IS ?10 AND dropped IS ?11 AND missing_pct IS ?12 AND self_ms IS ?13 AND "
    "wall_s IS ?14 AND status IS ?15), tokens, mean_ms FROM measured_run WHERE harness = ?1 AND "
    "cell = ?2 AND run = ?3 AND source = ?4";

static const char insert_sql[] =
    "INSERT INTO measured_run (harness, cell, run, source, tokens, mean_ms, p50_ms, p90_ms, "
    "max_ms, frames, dropped, missing_pct, self_ms, wall_s, status, system, model, nodes, loss, "
    "drop_rate, host, imported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
    "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)";

typedef struct importer {
    halo_db *db;
    sqlite3 *h;
    const halo_measured *m;
    const char *harness, *host, *source, *now;
    sqlite3_stmt *find, *insert, *token;
} importer;

static int sql_fail(const importer *im, const char *what, halo_err *err) {
    char m[200];
    return HALO_FAIL(err, HALO_ERR_IO, "%s: %s: %s", halo_db_path(im->db), what,
                     halo__db_errmsg(im->db, m, sizeof m));
}

/* Resets st (find_sql or insert_sql) and binds the run's identity to ?1-?4 and its values
   to ?5-?15, which both statements share. */
static void bind_run(sqlite3_stmt *st, const importer *im, const mrun *r) {
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    (void)sqlite3_bind_text(st, 1, im->harness, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, r->cell, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 3, r->run);
    (void)sqlite3_bind_text(st, 4, im->source, -1, SQLITE_STATIC);
    bind_values(st, 5, r);
}

/* *present: 1 when the run is stored with the same values; an error when with others. */
static int find_run(const importer *im, const mrun *r, int *present, halo_err *err) {
    sqlite3_stmt *st = im->find;
    bind_run(st, im, r);
    int s = sqlite3_step(st);
    *present = 0;
    if (s == SQLITE_DONE)
        return HALO_OK;
    if (s != SQLITE_ROW)
        return sql_fail(im, "measured_run", err);
    if (sqlite3_column_int(st, 1) == 1) {
        *present = 1;
        return HALO_OK;
    }
    return HALO_FAIL(err, HALO_ERR_FORMAT,
                     "%s:%ld: %s run %lld is already in %s from %s with other values (%lld "
                     "tokens, %.4f ms/token there; %lld, %.4f here): a new measurement in the "
                     "same directory? import it from another one",
                     im->m->runs_path, r->line, r->cell, r->run, halo_db_path(im->db), im->source,
                     (long long)sqlite3_column_int64(st, 2), sqlite3_column_double(st, 3),
                     r->tokens, isnan(r->mean_ms) ? 0.0 : r->mean_ms);
}

static int insert_run(const importer *im, const mrun *r, sqlite3_int64 *id_out, halo_err *err) {
    sqlite3_stmt *st = im->insert;
    bind_run(st, im, r);
    (void)sqlite3_bind_text(st, 16, r->system, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 17, r->model, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(st, 18, r->nodes);
    (void)sqlite3_bind_double(st, 19, r->loss);
    bind_opt(st, 20, r->frames > 0 ? (double)r->dropped / (double)r->frames : (double)NAN);
    (void)sqlite3_bind_text(st, 21, im->host, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 22, im->now, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return sql_fail(im, "measured_run", err);
    sqlite3_int64 id = sqlite3_last_insert_rowid(im->h);
    if (id_out)
        *id_out = id;
    for (long i = 0; i < r->n_s; i++) {
        (void)sqlite3_reset(im->token);
        (void)sqlite3_bind_int64(im->token, 1, id);
        (void)sqlite3_bind_int64(im->token, 2, r->s[i].idx);
        (void)sqlite3_bind_double(im->token, 3, r->s[i].ms);
        if (sqlite3_step(im->token) != SQLITE_DONE)
            return sql_fail(im, "measured_token", err);
    }
    return HALO_OK;
}

static int import_all(importer *im, halo_measured_counts *k, halo_err *err) {
    int rc = HALO_OK;
    for (long i = 0; rc == HALO_OK && i < im->m->n_runs; i++) {
        const mrun *r = &im->m->runs[i];
        int present = 0;
        rc = find_run(im, r, &present, err);
        if (rc == HALO_OK && present) {
            k->n_present++;
            k->n_tokens_present += r->n_s;
        } else if (rc == HALO_OK) {
            rc = insert_run(im, r, NULL, err);
            k->n_imported++;
            k->n_tokens_new += r->n_s;
        }
    }
    return rc;
}

int halo_measured_import(halo_db *db, const halo_measured *m, const char *harness, const char *host,
                         const char *source, halo_measured_counts *counts, halo_err *err) {
    *counts = (halo_measured_counts){.n_runs = m->n_runs};
    int rc = check_harness(harness, err);
    if (rc == HALO_OK)
        rc = halo__db_writable(db, err);
    if (rc != HALO_OK)
        return rc;
    char hostname[256] = "unknown", now[32], src[4096];
    if (!host) {
        (void)gethostname(hostname, sizeof hostname - 1);
        host = hostname;
    }
    size_t n = strlen(source);
    while (n > 1 && source[n - 1] == '/')
        n--;
    (void)snprintf(src, sizeof src, "%.*s", (int)n, source);
    halo_db_now_utc(now, sizeof now);
    importer im = {.db = db,
                   .h = halo__db_handle(db),
                   .m = m,
                   .harness = harness,
                   .host = host,
                   .source = src,
                   .now = now};
    if (sqlite3_prepare_v2(im.h, find_sql, -1, &im.find, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(im.h, insert_sql, -1, &im.insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(im.h, "INSERT INTO measured_token VALUES (?, ?, ?)", -1, &im.token,
                           NULL) != SQLITE_OK)
        rc = sql_fail(&im, "preparing the import", err);
    if (rc == HALO_OK && sqlite3_exec(im.h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        rc = sql_fail(&im, "begin", err);
    else if (rc == HALO_OK) {
        halo_measured_counts k = *counts;
        rc = import_all(&im, &k, err);
        if (rc == HALO_OK && sqlite3_exec(im.h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = sql_fail(&im, "commit", err);
        if (rc != HALO_OK)
            (void)sqlite3_exec(im.h, "ROLLBACK", NULL, NULL, NULL);
        else
            *counts = k;
    }
    sqlite3_finalize(im.find);
    sqlite3_finalize(im.insert);
    sqlite3_finalize(im.token);
    return rc;
}

int halo_measured_import_dir(const char *db_path, const char *dir, const char *harness,
                             const char *host, halo_measured_counts *counts, halo_err *err) {
    *counts = (halo_measured_counts){0};
    if (!harness)
        harness = HALO_MEASURED_DEFAULT_HARNESS;
    int rc = check_harness(harness, err);
    if (rc != HALO_OK)
        return rc;
    halo_measured *m = NULL;
    rc = halo_measured_load(&m, dir, err);
    halo_db *db = NULL;
    if (rc == HALO_OK)
        rc = halo_db_new(&db, db_path, HALO_DB_CREATE, err);
    if (rc == HALO_OK)
        rc = halo_measured_import(db, m, harness, host, dir, counts, err);
    halo_db_free(db);
    halo_measured_free(m);
    return rc;
}

/* ==== Runs measured by halo itself ==== */

/* The next run number of (harness, cell, source). */
static int next_run(const importer *im, const mrun *r, long long *out, halo_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = HALO_OK;
    if (sqlite3_prepare_v2(im->h,
                           "SELECT coalesce(max(run) + 1, 0) FROM measured_run WHERE harness = ?1 "
                           "AND cell = ?2 AND source = ?3",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_fail(im, "measured_run", err);
    (void)sqlite3_bind_text(st, 1, im->harness, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 2, r->cell, -1, SQLITE_STATIC);
    (void)sqlite3_bind_text(st, 3, im->source, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = sql_fail(im, "measured_run", err);
    sqlite3_finalize(st);
    return rc;
}

/* Fills r from info and the intervals (r->s allocated); the checks of an import. */
static int record_run(mrun *r, const char *source, const halo_measured_run_info *info,
                      const double *token_ms, long n_tokens, halo_err *err) {
    if (!info->system || !valid_name(info->system) || !info->model || !valid_name(info->model))
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: system '%.40s' or model '%.40s': expected 1 to %d letters, digits, "
                         "'-', '_', '.'",
                         source, info->system ? info->system : "", info->model ? info->model : "",
                         NAME_MAX_BYTES - 1);
    if (!(info->loss >= 0 && info->loss <= 1) || info->nodes < 1 || n_tokens < 0 ||
        info->frames < 0 || info->dropped < 0 || info->dropped > info->frames ||
        !(info->wall_s >= 0) ||
        (!isnan(info->missing_pct) && !(info->missing_pct >= 0 && info->missing_pct <= 100)))
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: measured run values out of range", source);
    (void)snprintf(r->system, sizeof r->system, "%s", info->system);
    (void)snprintf(r->model, sizeof r->model, "%s", info->model);
    (void)snprintf(r->loss_text, sizeof r->loss_text, "%g", info->loss);
    (void)snprintf(r->cell, sizeof r->cell, "%s/%s/%d/%s", r->system, r->model, info->nodes,
                   r->loss_text);
    r->loss = info->loss;
    r->nodes = info->nodes;
    r->tokens = n_tokens;
    r->frames = info->frames;
    r->dropped = info->dropped;
    r->missing_pct = info->missing_pct;
    r->self_ms = (double)NAN;
    r->wall_s = info->wall_s;
    r->status = info->failed ? 1 : 0;
    r->mean_ms = r->p50_ms = r->p90_ms = r->max_ms = (double)NAN;
    if (n_tokens == 0)
        return HALO_OK;
    r->s = malloc((size_t)n_tokens * sizeof *r->s);
    double *v = malloc((size_t)n_tokens * sizeof *v), sum = 0;
    if (!r->s || !v) {
        free(v);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", source);
    }
    for (long i = 0; i < n_tokens; i++) {
        if (!(token_ms[i] >= 0)) {
            free(v);
            return HALO_FAIL(err, HALO_ERR_ARG, "%s: token interval %ld is %g ms", source, i + 1,
                             token_ms[i]);
        }
        r->s[i] = (sample){.idx = i + 1, .ms = token_ms[i]};
        v[i] = token_ms[i];
        sum += v[i];
    }
    r->n_s = n_tokens;
    qsort(v, (size_t)n_tokens, sizeof *v, by_value);
    r->p50_ms = quantile(v, n_tokens, 0.50);
    r->p90_ms = quantile(v, n_tokens, 0.90);
    r->max_ms = v[n_tokens - 1];
    r->mean_ms = sum / (double)n_tokens;
    free(v);
    return HALO_OK;
}

/* The run's re-plans (measured_replan), inside the record's transaction. */
static int insert_replans(const importer *im, sqlite3_int64 id, const halo_measured_run_info *info,
                          halo_err *err) {
    if (!info->n_replans)
        return HALO_OK;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(im->h, "INSERT INTO measured_replan VALUES (?, ?, ?, ?, ?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        return sql_fail(im, "preparing measured_replan", err);
    int rc = HALO_OK;
    for (int i = 0; rc == HALO_OK && i < info->n_replans; i++) {
        const halo_measured_replan *p = &info->replans[i];
        (void)sqlite3_reset(st);
        (void)sqlite3_bind_int64(st, 1, id);
        (void)sqlite3_bind_int64(st, 2, i + 1);
        (void)sqlite3_bind_int64(st, 3, p->token);
        (void)sqlite3_bind_text(st, 4, p->reason ? p->reason : "", -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 5, p->old_split ? p->old_split : "", -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 6, p->new_split ? p->new_split : "", -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(im, "measured_replan", err);
    }
    sqlite3_finalize(st);
    return rc;
}

int halo_measured_record(halo_db *db, const char *harness, const char *source,
                         const halo_measured_run_info *info, const double *token_ms, long n_tokens,
                         long long *run_out, halo_err *err) {
    int rc = check_harness(harness, err);
    if (rc == HALO_OK)
        rc = halo__db_writable(db, err);
    if (rc != HALO_OK)
        return rc;
    mrun r = {0};
    rc = record_run(&r, source, info, token_ms, n_tokens, err);
    char hostname[256] = "unknown", now[32];
    (void)gethostname(hostname, sizeof hostname - 1);
    halo_db_now_utc(now, sizeof now);
    /* provenance: what ran, and which build measured it */
    size_t cap = strlen(source) + 128;
    char *src = malloc(cap);
    if (rc == HALO_OK && !src)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    if (src)
        (void)snprintf(src, cap, "%s; halo %s (%s)", source, HALO_VERSION, HALO_GIT_REV);
    importer im = {.db = db,
                   .h = halo__db_handle(db),
                   .harness = harness,
                   .host = hostname,
                   .source = src,
                   .now = now};
    if (rc == HALO_OK && (sqlite3_prepare_v2(im.h, insert_sql, -1, &im.insert, NULL) != SQLITE_OK ||
                          sqlite3_prepare_v2(im.h, "INSERT INTO measured_token VALUES (?, ?, ?)",
                                             -1, &im.token, NULL) != SQLITE_OK))
        rc = sql_fail(&im, "preparing the insert", err);
    if (rc == HALO_OK && sqlite3_exec(im.h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_fail(&im, "begin", err);
    } else if (rc == HALO_OK) {
        rc = next_run(&im, &r, &r.run, err);
        sqlite3_int64 id = 0;
        if (rc == HALO_OK)
            rc = insert_run(&im, &r, &id, err);
        if (rc == HALO_OK)
            rc = insert_replans(&im, id, info, err);
        if (rc == HALO_OK && sqlite3_exec(im.h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = sql_fail(&im, "commit", err);
        if (rc != HALO_OK)
            (void)sqlite3_exec(im.h, "ROLLBACK", NULL, NULL, NULL);
    }
    if (rc == HALO_OK && run_out)
        *run_out = r.run;
    sqlite3_finalize(im.insert);
    sqlite3_finalize(im.token);
    free(r.s);
    free(src);
    return rc;
}
