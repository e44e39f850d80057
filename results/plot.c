/*
 * Figures from the results database through gnuplot (results/plot.h): the paper's figures
 * of plots/ (a query and a script each), the output formats and sizes, the captions, and
 * the run of gnuplot. Figures of any sweep are built in results/figure.c.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/plot.h"

#include "core/file.h"
#include "results/db_internal.h"
#include "results/plot_internal.h"
#include "results/report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FIGURES   256
#define MAX_SQL_BYTES ((size_t)1 << 20)

/* Copies s into buf for a gnuplot single-quoted string (no quotes, no newlines). */
static void gp_quote(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    for (; s && *s && n + 4 < cap; s++) {
        if (*s == '\'') { /* a typographic apostrophe (U+2019) */
            buf[n++] = (char)0xe2;
            buf[n++] = (char)0x80;
            buf[n++] = (char)0x99;
        } else if (*s == '\n') {
            buf[n++] = ' ';
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = '\0';
}

/* A series name for gnuplot's words(), which splits on spaces: spaces become no-break
   spaces (U+00A0), which print as spaces. */
static void series_name(const char *s, char *name, size_t cap) {
    char raw[128];
    gp_quote(s, raw, sizeof raw);
    size_t k = 0;
    for (const char *c = raw; *c && k + 3 < cap; c++) {
        if (*c == ' ') {
            name[k++] = (char)0xc2;
            name[k++] = (char)0xa0;
        } else {
            name[k++] = *c;
        }
    }
    name[k] = '\0';
}

/* The first statement's rows into f (see plot.h); *tail is left after it. */
static int write_rows(sqlite3 *db, const char *sqlpath, const char **tail, FILE *f, char *series,
                      size_t scap, long *rows, halo_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = HALO_OK;
    if (sqlite3_prepare_v2(db, *tail, -1, &st, tail) != SQLITE_OK || !st) {
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s", sqlpath, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return rc;
    }
    int nc = sqlite3_column_count(st);
    int split = nc > 0 && strcmp(sqlite3_column_name(st, 0), "series") == 0;
    char last[256] = "";
    size_t slen = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (split) {
            char name[256];
            series_name((const char *)sqlite3_column_text(st, 0), name, sizeof name);
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
    sqlite3_finalize(st);
    return rc;
}

/* The first value of the statement at tail, if any, as the conditions line; its second
   value, if any, into *paper. */
static int read_conditions(sqlite3 *db, const char *sqlpath, const char *tail, char *conditions,
                           size_t ccap, int *paper, halo_err *err) {
    if (!tail || !*tail)
        return HALO_OK;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, tail, -1, &st, NULL) != SQLITE_OK)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s", sqlpath, sqlite3_errmsg(db));
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_text(st, 0))
            gp_quote((const char *)sqlite3_column_text(st, 0), conditions, ccap);
        if (sqlite3_column_count(st) > 1)
            *paper = sqlite3_column_int(st, 1) != 0;
    }
    sqlite3_finalize(st); /* NULL when only whitespace or comments were left */
    return HALO_OK;
}

/* Runs the query of sqlpath into the data file dat; *rows counts data rows. */
static int run_query(sqlite3 *db, const char *sqlpath, const char *dat, char *series, size_t scap,
                     char *conditions, size_t ccap, int *paper, long *rows, halo_err *err) {
    char *sql = NULL;
    size_t len;
    *rows = 0;
    *paper = 0;
    series[0] = conditions[0] = '\0';
    int rc = halo_file_read_text(sqlpath, MAX_SQL_BYTES, &sql, &len, err);
    if (rc != HALO_OK)
        return rc;
    FILE *f = fopen(dat, "w");
    if (!f) {
        free(sql);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: %s", dat, strerror(errno));
    }
    const char *tail = sql;
    rc = write_rows(db, sqlpath, &tail, f, series, scap, rows, err);
    if (rc == HALO_OK)
        rc = read_conditions(db, sqlpath, tail, conditions, ccap, paper, err);
    if (fclose(f) != 0 && rc == HALO_OK)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: write error", dat);
    free(sql);
    return rc;
}

/* Runs gnuplot on script gp for one output, the variables set by `vars`. An exec failure
   comes back through a pipe that closes on a successful exec. */
static int gnuplot(const char *gp, const char *vars, const char *out, halo_err *err) {
    int ep[2];
    if (pipe(ep) != 0 || fcntl(ep[1], F_SETFD, FD_CLOEXEC) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        (void)close(ep[0]);
        (void)close(ep[1]);
        return HALO_FAIL(err, HALO_ERR_IO, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        (void)close(ep[0]);
        execlp("gnuplot", "gnuplot", "-e", vars, gp, (char *)NULL);
        int e = errno;
        ssize_t k = write(ep[1], &e, sizeof e);
        _exit(k == (ssize_t)sizeof e ? 127 : 126);
    }
    (void)close(ep[1]);
    int exec_errno = 0;
    ssize_t k;
    while ((k = read(ep[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR)
        ;
    (void)close(ep[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return HALO_FAIL(err, HALO_ERR_IO, "waitpid: %s", strerror(errno));
    if (k == (ssize_t)sizeof exec_errno)
        return HALO_FAIL(err, HALO_ERR_IO, "gnuplot: %s (Debian: apt-get install gnuplot-nox)",
                         strerror(exec_errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: gnuplot failed (exit %d) writing %s", gp,
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
    return HALO_OK;
}

/* ==== Formats and sizes ==== */

/* Each format with the bytes its complete file ends with (PNG's IEND chunk, SVG's closing
   tag, PDF's end-of-file marker): gnuplot exits 0 even when it could not write the whole
   file (a full disk), so the ending is what tells a complete figure (issue 18). */
static const struct format {
    unsigned bit;
    const char *ext;
    const char *end;
    size_t end_len;
} formats[] = {{HALO_PLOT_PNG, "png", "IEND\xae\x42\x60\x82", 8},
               {HALO_PLOT_SVG, "svg", "</svg>", 6},
               {HALO_PLOT_PDF, "pdf", "%%EOF", 5}};

/* 1 when the file at path ends with f's ending (trailing white space aside). */
static int complete(const char *path, const struct format *f) {
    char tail[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof tail ? size - (off_t)sizeof tail : 0;
    ssize_t n = size > 0 ? pread(fd, tail, (size_t)(size - from), from) : 0;
    (void)close(fd);
    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r' || tail[n - 1] == ' '))
        n--;
    return n >= (ssize_t)f->end_len && memcmp(tail + n - f->end_len, f->end, f->end_len) == 0;
}

/*
 * Runs gnuplot for one output into a temporary name beside `out`, and renames it to `out`
 * only when complete: a full disk leaves no half-written figure under its name.
 */
static int render_one(const struct format *f, const char *gp, const char *vars_fmt_head,
                      const char *vars_tail, const char *out, halo_err *err) {
    char tmp[4500], vars[8192 + 4500 + 256];
    const char *slash = strrchr(out, '/');
    int dir_len = slash ? (int)(slash - out + 1) : 0;
    (void)snprintf(tmp, sizeof tmp, "%.*s.%s.%ld.tmp", dir_len, out, out + dir_len, (long)getpid());
    (void)snprintf(vars, sizeof vars, "%s; set output '%s'; %s", vars_fmt_head, tmp, vars_tail);
    int rc = gnuplot(gp, vars, out, err);
    if (rc == HALO_OK && !complete(tmp, f))
        rc = HALO_FAIL(err, HALO_ERR_IO,
                       "%s: gnuplot's %s is incomplete (a full disk or the file-size limit?); "
                       "nothing written under that name",
                       out, f->ext);
    if (rc == HALO_OK && rename(tmp, out) != 0)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: cannot rename %s to it: %s", out, tmp,
                       strerror(errno));
    if (rc != HALO_OK)
        (void)unlink(tmp);
    return rc;
}

/* The gnuplot terminal for one format, size and height in panel rows (one panel row is the
   base height; each further row adds 60% of it). Column width: 3.3 in with 8 pt text; its
   PNG is the same page at 300 dpi. */
static void terminal(unsigned bit, int size, int panel_rows, char *buf, size_t cap) {
    double h = 1.0 + 0.6 * (panel_rows > 1 ? panel_rows - 1 : 0);
    if (size == HALO_PLOT_SIZE_COLUMN) {
        if (bit == HALO_PLOT_PNG)
            (void)snprintf(buf, cap,
                           "pngcairo size 990,%d font 'Sans,8' fontscale 2.2 linewidth 2.5 "
                           "pointscale 1.6",
                           (int)(720 * h));
        else if (bit == HALO_PLOT_SVG)
            (void)snprintf(buf, cap, "svg size 317,%d font 'Sans,8' linewidth 0.8", (int)(230 * h));
        else
            (void)snprintf(buf, cap,
                           "pdfcairo size 3.3in,%.2fin font 'Sans,8' linewidth 1 pointscale 0.45",
                           2.4 * h);
    } else {
        if (bit == HALO_PLOT_PNG)
            (void)snprintf(buf, cap, "pngcairo size 960,%d font 'Sans,11'", (int)(640 * h));
        else if (bit == HALO_PLOT_SVG)
            (void)snprintf(buf, cap, "svg size 960,%d font 'Sans,11'", (int)(640 * h));
        else
            (void)snprintf(buf, cap, "pdfcairo size 6.4in,%.2fin font 'Sans,11' pointscale 0.8",
                           4.27 * h);
    }
}

static int write_caption(const char *path, const char *caption, halo_err *err) {
    halo_file_out o;
    int rc = halo_file_out_open(&o, path, 0644, err);
    if (rc != HALO_OK)
        return rc;
    (void)fprintf(o.f, "%s\n", caption);
    return halo_file_out_commit(&o, err);
}

int halo__plot_render(halo__plot *p, const char *plot_dir, const char *name, const char *gp,
                      const char *dat, const char *series, const char *conditions, int paper,
                      int panel_rows, long rows, const char *caption, halo_err *err) {
    char files[3][4400], cap_path[4400], term[160], head[200], vars[8192];
    halo_plot_figure fig = {.name = name, .rows = rows};
    int rc = HALO_OK;
    for (size_t i = 0; rc == HALO_OK && i < sizeof formats / sizeof formats[0]; i++) {
        if (!(p->opt->formats & formats[i].bit))
            continue;
        char *out = files[fig.n_files];
        (void)snprintf(out, sizeof files[0], "%s/%s.%s", p->out_dir, name, formats[i].ext);
        terminal(formats[i].bit, p->opt->size, panel_rows, term, sizeof term);
        (void)snprintf(head, sizeof head, "set terminal %s", term);
        (void)snprintf(vars, sizeof vars,
                       "datafile = '%s'; series = '%s'; conditions = '%s'; paper = %d; "
                       "plotdir = '%s'; panel_rows = %d",
                       dat, series, conditions, paper, plot_dir, panel_rows);
        rc = render_one(&formats[i], gp, head, vars, out, err);
        if (rc == HALO_OK)
            fig.files[fig.n_files++] = out;
    }
    if (rc == HALO_OK && caption) {
        (void)snprintf(cap_path, sizeof cap_path, "%s/%s.caption.txt", p->out_dir, name);
        rc = write_caption(cap_path, caption, err);
        fig.caption = cap_path;
    }
    if (rc != HALO_OK)
        return rc;
    p->made++;
    if (p->cb)
        p->cb(p->ctx, &fig);
    return HALO_OK;
}

void halo__plot_skip(halo__plot *p, const char *name, const char *why) {
    p->skipped++;
    halo_plot_figure fig = {.name = name, .skipped = why};
    if (p->cb)
        p->cb(p->ctx, &fig);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The figures of dir (NAME of each NAME.gp not starting with '_'), sorted; the caller
   frees names[0..*n-1]. */
/* The names in dir ending in `suffix` (the suffix taken off), sorted: those starting with "_"
   when `shared`, else the others. */
static int list_files(const char *dir, const char *suffix, int shared, char **names, int *n,
                      halo_err *err) {
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: plot scripts not found: %s (set HALO_PLOT_DIR)",
                         dir, strerror(errno));
    size_t slen = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *n < MAX_FIGURES) {
        size_t len = strlen(e->d_name);
        if (len > slen && strcmp(e->d_name + len - slen, suffix) == 0 &&
            (e->d_name[0] == '_') == shared && (names[*n] = strndup(e->d_name, len - slen)) != NULL)
            (*n)++;
    }
    (void)closedir(d);
    qsort(names, (size_t)*n, sizeof *names, cmp_str);
    return HALO_OK;
}

/* Runs the shared queries of dir (_*.sql, in name order) on db: the TEMP views that the
   figures' queries read (plots/_speedup.sql). The connection is query_only (results/db.c),
   which refuses even a TEMP view, so that is lifted while they run; a TEMP view lives in
   the connection's own temporary schema, never in the database file. */
static int run_shared(sqlite3 *db, const char *dir, halo_err *err) {
    char *names[MAX_FIGURES] = {NULL};
    int n = 0;
    int rc = list_files(dir, ".sql", 1, names, &n, err);
    for (int i = 0; i < n; i++) {
        char path[4400], *sql = NULL;
        size_t len;
        (void)snprintf(path, sizeof path, "%s/%s.sql", dir, names[i]);
        if (rc == HALO_OK)
            rc = halo_file_read_text(path, MAX_SQL_BYTES, &sql, &len, err);
        if (rc == HALO_OK &&
            (sqlite3_exec(db, "PRAGMA query_only=OFF", NULL, NULL, NULL) != SQLITE_OK ||
             sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK))
            rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s", path, sqlite3_errmsg(db));
        if (sqlite3_exec(db, "PRAGMA query_only=ON", NULL, NULL, NULL) != SQLITE_OK &&
            rc == HALO_OK)
            rc = HALO_FAIL(err, HALO_ERR_IO, "%s: %s", path, sqlite3_errmsg(db));
        free(sql);
        free(names[i]);
    }
    return rc;
}

/* *created: 1 when this call made the directory (removed again if nothing goes into it). */
static int make_out_dir(const char *out, int *created, halo_err *err) {
    struct stat st;
    *created = 0;
    if (stat(out, &st) != 0) {
        if (mkdir(out, 0777) != 0)
            return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create: %s", out, strerror(errno));
        *created = 1;
    }
    if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
        return HALO_FAIL(err, HALO_ERR_IO, "%s: not a directory", out);
    return HALO_OK;
}

/* A fresh scratch directory under $TMPDIR (else /tmp) into buf. */
static int make_scratch(char *buf, size_t cap, halo_err *err) {
    const char *root = getenv("TMPDIR");
    if (!root || !*root)
        root = "/tmp";
    int n = snprintf(buf, cap, "%s/halo-plot-XXXXXX", root);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return HALO_FAIL(err, HALO_ERR_ARG, "TMPDIR is too long");
    }
    if (!mkdtemp(buf)) {
        buf[0] = '\0';
        return HALO_FAIL(err, HALO_ERR_IO, "cannot make a scratch directory in %s: %s", root,
                         strerror(errno));
    }
    return HALO_OK;
}

/* ==== The paper's figures ==== */

/* The text after "# caption:" in the script gp into buf ("" when none). */
static void script_caption(const char *gp, char *buf, size_t cap) {
    buf[0] = '\0';
    FILE *f = fopen(gp, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "# caption:", 10) == 0) {
            const char *t = line + 10;
            while (*t == ' ')
                t++;
            (void)snprintf(buf, cap, "%s", t);
            buf[strcspn(buf, "\n")] = '\0';
            break;
        }
    (void)fclose(f);
}

/* Does the query file sqlpath name the scenario ('NAME' in its text)? */
static int query_names(const char *sqlpath, const char *scenario) {
    char *sql = NULL, quoted[256];
    size_t len;
    if (halo_file_read_text(sqlpath, MAX_SQL_BYTES, &sql, &len, NULL) != HALO_OK)
        return 0;
    (void)snprintf(quoted, sizeof quoted, "'%s'", scenario);
    int found = strstr(sql, quoted) != NULL;
    free(sql);
    return found;
}

/* Draws paper figure `name` if its query finds rows. */
static int draw_paper(halo__plot *p, const char *dir, const char *name, halo_err *err) {
    char sqlp[4400], gp[4400], dat[4400], series[4096], cond[1024], cap[1024], caption[2200];
    (void)snprintf(sqlp, sizeof sqlp, "%s/%s.sql", dir, name);
    (void)snprintf(gp, sizeof gp, "%s/%s.gp", dir, name);
    (void)snprintf(dat, sizeof dat, "%s/%s.dat", p->scratch, name);
    long rows = 0;
    int paper = 0;
    int rc =
        run_query(p->db, sqlp, dat, series, sizeof series, cond, sizeof cond, &paper, &rows, err);
    if (rc == HALO_OK && rows > 0) {
        script_caption(gp, cap, sizeof cap);
        (void)snprintf(caption, sizeof caption, "%s%s%s.", cap, cap[0] && cond[0] ? ". " : "",
                       cond);
        rc = halo__plot_render(p, dir, name, gp, dat, series, cond, paper, 1, rows, caption, err);
    } else if (rc == HALO_OK) {
        char why[4500];
        (void)snprintf(why, sizeof why, "no data in %s", p->db_path);
        halo__plot_skip(p, name, why);
    }
    (void)remove(dat);
    return rc;
}

/* ==== ci_half(x): the report's confidence interval inside a query ==== */

typedef struct ci_acc {
    double *v;
    long n, cap;
} ci_acc;

static void ci_step(sqlite3_context *c, int argc, sqlite3_value **argv) {
    (void)argc;
    ci_acc *a = sqlite3_aggregate_context(c, sizeof *a);
    if (!a || sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    if (a->n == a->cap) {
        long cap = a->cap ? 2 * a->cap : 16;
        double *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) {
            sqlite3_result_error_nomem(c);
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = sqlite3_value_double(argv[0]);
}

static void ci_final(sqlite3_context *c) {
    ci_acc *a = sqlite3_aggregate_context(c, 0);
    double conf = *(const double *)sqlite3_user_data(c), mean = 0, half = 0;
    if (a && a->n > 0)
        halo_report_mean_ci(a->v, a->n > INT32_MAX ? INT32_MAX : (int)a->n, conf, &mean, &half);
    sqlite3_result_double(c, half);
    if (a)
        free(a->v);
}

/* ==== halo_plot_draw ==== */

int halo_plot_draw(const char *db_path, const char *out_dir, const halo_plot_options *opt,
                   halo_plot_cb cb, void *ctx, int *n_made, int *n_skipped, halo_err *err) {
    halo_db *db = NULL;
    char *names[MAX_FIGURES] = {NULL}, *covered[MAX_FIGURES] = {NULL};
    char scratch[512] = "";
    int n = 0, n_covered = 0;
    halo_plot_options o = *opt;
    if (!o.formats)
        o.formats = HALO_PLOT_PNG | HALO_PLOT_SVG | HALO_PLOT_PDF;
    if (!(o.confidence > 0))
        o.confidence = 0.95;
    halo__plot p = {.db_path = db_path, .out_dir = out_dir, .opt = &o, .cb = cb, .ctx = ctx};
    int chosen = o.scenario || o.x || o.y || o.series || o.facet, created = 0;
    /* what can be checked without the database first: a bad --y leaves no directory */
    int rc = halo__figure_check_y(o.y, err);
    if (rc == HALO_OK)
        rc = halo_db_new(&db, db_path, HALO_DB_READ, err);
    if (rc == HALO_OK) {
        p.db = halo__db_handle(db);
        if (sqlite3_create_function(p.db, "ci_half", 1, SQLITE_UTF8, &o.confidence, NULL, ci_step,
                                    ci_final) != SQLITE_OK)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: %s", db_path, sqlite3_errmsg(p.db));
    }
    if (rc == HALO_OK)
        rc = make_out_dir(out_dir, &created, err);
    if (rc == HALO_OK && !chosen && o.plot_dir)
        rc = list_files(o.plot_dir, ".gp", 0, names, &n, err);
    if (rc == HALO_OK && n > 0)
        rc = run_shared(p.db, o.plot_dir, err);
    if (rc == HALO_OK)
        rc = make_scratch(scratch, sizeof scratch, err);
    p.scratch = scratch;
    for (int i = 0; rc == HALO_OK && i < n; i++) {
        int before = p.made;
        rc = draw_paper(&p, o.plot_dir, names[i], err);
        if (rc != HALO_OK || p.made == before)
            continue;
        /* the scenarios this figure read are covered: no automatic figures for them */
        sqlite3_stmt *st = NULL;
        char sqlp[4400];
        (void)snprintf(sqlp, sizeof sqlp, "%s/%s.sql", o.plot_dir, names[i]);
        if (sqlite3_prepare_v2(p.db, "SELECT DISTINCT scenario_name FROM latest_run", -1, &st,
                               NULL) == SQLITE_OK)
            while (sqlite3_step(st) == SQLITE_ROW && n_covered < MAX_FIGURES) {
                const char *s = (const char *)sqlite3_column_text(st, 0);
                int dup = 0;
                for (int k = 0; k < n_covered && !dup; k++)
                    dup = strcmp(covered[k], s) == 0;
                if (s && !dup && query_names(sqlp, s) && (covered[n_covered] = strdup(s)))
                    n_covered++;
            }
        sqlite3_finalize(st);
    }
    if (rc == HALO_OK)
        rc = halo__figure_draw(&p, covered, n_covered, err);
    if (rc == HALO_OK && p.made == 0)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: nothing drawn: %s", db_path,
                       chosen ? "no scenario has points along the chosen keys"
                              : "no paper figure's query finds rows and no scenario varies "
                                "along a sweep axis");
    if (scratch[0])
        (void)rmdir(scratch);
    /* a directory this call made and nothing went into (an unknown --scenario or --x, an
       empty database): removed, as rmdir leaves one that holds anything */
    if (created && (rc != HALO_OK || p.made == 0))
        (void)rmdir(out_dir);
    for (int i = 0; i < n; i++)
        free(names[i]);
    for (int i = 0; i < n_covered; i++)
        free(covered[i]);
    halo_db_free(db);
    if (n_made)
        *n_made = p.made;
    if (n_skipped)
        *n_skipped = p.skipped;
    return rc;
}
