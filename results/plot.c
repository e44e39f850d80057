/*
 * Figures from the results database through gnuplot (results/plot.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "results/plot.h"

#include "core/file.h"
#include "results/db_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* The first value of the statement at tail, if any, as the conditions line. */
static int read_conditions(sqlite3 *db, const char *sqlpath, const char *tail, char *conditions,
                           size_t ccap, halo_err *err) {
    if (!tail || !*tail)
        return HALO_OK;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, tail, -1, &st, NULL) != SQLITE_OK)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s", sqlpath, sqlite3_errmsg(db));
    if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        gp_quote((const char *)sqlite3_column_text(st, 0), conditions, ccap);
    sqlite3_finalize(st); /* NULL when only whitespace or comments were left */
    return HALO_OK;
}

/* Runs the query of sqlpath into the data file dat; *rows counts data rows. */
static int run_query(sqlite3 *db, const char *sqlpath, const char *dat, char *series, size_t scap,
                     char *conditions, size_t ccap, long *rows, halo_err *err) {
    char *sql = NULL;
    size_t len;
    *rows = 0;
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
        rc = read_conditions(db, sqlpath, tail, conditions, ccap, err);
    if (fclose(f) != 0 && rc == HALO_OK)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: write error", dat);
    free(sql);
    return rc;
}

/* Runs gnuplot on script gp for one output. An exec failure comes back through a pipe
   that closes on a successful exec. */
static int gnuplot(const char *dir, const char *gp, const char *dat, const char *out,
                   const char *term, const char *series, const char *conditions, halo_err *err) {
    char expr[8192];
    (void)snprintf(expr, sizeof expr,
                   "set terminal %s; set output '%s'; datafile = '%s'; series = '%s'; "
                   "conditions = '%s'; plotdir = '%s'",
                   term, out, dat, series, conditions, dir);
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
        execlp("gnuplot", "gnuplot", "-e", expr, gp, (char *)NULL);
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

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The figures of dir (NAME of each NAME.gp not starting with '_'), sorted; the caller
   frees names[0..*n-1]. */
static int list_figures(const char *dir, char **names, int *n, halo_err *err) {
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: plot scripts not found: %s (set HALO_PLOT_DIR)",
                         dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *n < MAX_FIGURES) {
        size_t len = strlen(e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".gp") == 0 && e->d_name[0] != '_' &&
            (names[*n] = strndup(e->d_name, len - 3)) != NULL)
            (*n)++;
    }
    (void)closedir(d);
    qsort(names, (size_t)*n, sizeof *names, cmp_str);
    return HALO_OK;
}

static int make_out_dir(const char *out, halo_err *err) {
    struct stat st;
    if (stat(out, &st) != 0 && mkdir(out, 0777) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create: %s", out, strerror(errno));
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

/* Draws figure `name` (PNG and SVG) if its query finds rows. */
static int draw_one(sqlite3 *db, const char *dir, const char *out_dir, const char *scratch,
                    const char *name, halo_plot_cb cb, void *ctx, int *made, int *skipped,
                    halo_err *err) {
    char sqlp[4400], gp[4400], dat[4400], png[4400], svg[4400], series[4096], cond[1024];
    (void)snprintf(sqlp, sizeof sqlp, "%s/%s.sql", dir, name);
    (void)snprintf(gp, sizeof gp, "%s/%s.gp", dir, name);
    (void)snprintf(dat, sizeof dat, "%s/%s.dat", scratch, name);
    (void)snprintf(png, sizeof png, "%s/%s.png", out_dir, name);
    (void)snprintf(svg, sizeof svg, "%s/%s.svg", out_dir, name);
    long rows = 0;
    int rc = run_query(db, sqlp, dat, series, sizeof series, cond, sizeof cond, &rows, err);
    if (rc == HALO_OK && rows > 0)
        rc = gnuplot(dir, gp, dat, png, "pngcairo size 960,640 font 'Sans,11'", series, cond, err);
    if (rc == HALO_OK && rows > 0)
        rc = gnuplot(dir, gp, dat, svg, "svg size 960,640 font 'Sans,11'", series, cond, err);
    (void)remove(dat);
    if (rc != HALO_OK)
        return rc;
    if (rows > 0)
        (*made)++;
    else
        (*skipped)++;
    if (cb)
        cb(ctx, name, rows, rows > 0 ? png : NULL, rows > 0 ? svg : NULL);
    return HALO_OK;
}

int halo_plot_draw(const char *db_path, const char *plot_dir, const char *out_dir, halo_plot_cb cb,
                   void *ctx, int *n_made, int *n_skipped, halo_err *err) {
    halo_db *db = NULL;
    char *names[MAX_FIGURES] = {NULL};
    char scratch[512] = "";
    int n = 0, made = 0, skipped = 0;
    int rc = halo_db_new(&db, db_path, HALO_DB_READ, err);
    if (rc == HALO_OK)
        rc = make_out_dir(out_dir, err);
    if (rc == HALO_OK)
        rc = list_figures(plot_dir, names, &n, err);
    if (rc == HALO_OK)
        rc = make_scratch(scratch, sizeof scratch, err);
    for (int i = 0; rc == HALO_OK && i < n; i++)
        rc = draw_one(halo__db_handle(db), plot_dir, out_dir, scratch, names[i], cb, ctx, &made,
                      &skipped, err);
    if (scratch[0])
        (void)rmdir(scratch);
    for (int i = 0; i < n; i++)
        free(names[i]);
    halo_db_free(db);
    if (n_made)
        *n_made = made;
    if (n_skipped)
        *n_skipped = skipped;
    return rc;
}
