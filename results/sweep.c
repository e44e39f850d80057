/*
 * Sweeps (results/sweep.h): planning, resume, shards, and running the runs in this process
 * or in forked worker processes.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/sweep.h"

#include "core/file.h"
#include "core/parse.h"
#include "results/db.h"
#include "results/identity.h"
#include "results/sha256.h"
#include "sim/scenario.h"
#include "sim/simrun.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Evaluation texts are read whole (as `halo eval` does). */
#define MAX_TEXT_BYTES ((size_t)1 << 30)

/* ==== Shards ==== */

/* The whole integer `s` of environment variable `name` in [lo, hi]. */
static int env_long(const char *name, const char *s, long lo, long hi, long *out, halo_err *err) {
    long long v = 0;
    int rc = halo_parse_integer(s, lo, hi, &v, err);
    if (rc != HALO_OK)
        return halo_err_prefix(err, "%s: ", name);
    *out = (long)v;
    return HALO_OK;
}

int halo_sweep_shard_from_env(long *shard_idx, long *n_shards, halo_err *err) {
    static const char *const pairs[][2] = {{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                           {"PMI_RANK", "PMI_SIZE"},
                                           {"PMIX_RANK", "OMPI_COMM_WORLD_SIZE"}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        const char *r = getenv(pairs[k][0]), *s = getenv(pairs[k][1]);
        if (r && s) {
            int rc = env_long(pairs[k][0], r, 0, 1L << 20, shard_idx, err);
            if (rc == HALO_OK)
                rc = env_long(pairs[k][1], s, 1, 1L << 20, n_shards, err);
            if (rc == HALO_OK && *shard_idx >= *n_shards)
                rc = HALO_FAIL(err, HALO_ERR_ARG, "%s=%ld is not below %s=%ld", pairs[k][0],
                               *shard_idx, pairs[k][1], *n_shards);
            return rc;
        }
    }
    const char *id = getenv("SLURM_ARRAY_TASK_ID"), *count = getenv("SLURM_ARRAY_TASK_COUNT");
    if (id && count) {
        const char *mn = getenv("SLURM_ARRAY_TASK_MIN");
        long lo = 0, v = 0;
        int rc = env_long("SLURM_ARRAY_TASK_ID", id, 0, 1L << 30, &v, err);
        if (rc == HALO_OK && mn)
            rc = env_long("SLURM_ARRAY_TASK_MIN", mn, 0, 1L << 30, &lo, err);
        if (rc == HALO_OK)
            rc = env_long("SLURM_ARRAY_TASK_COUNT", count, 1, 1L << 20, n_shards, err);
        if (rc == HALO_OK && (v < lo || v - lo >= *n_shards))
            rc = HALO_FAIL(err, HALO_ERR_ARG,
                           "SLURM_ARRAY_TASK_ID=%ld is outside the array (min %ld, count %ld)", v,
                           lo, *n_shards);
        *shard_idx = v - lo;
        return rc;
    }
    return HALO_FAIL(err, HALO_ERR_ARG,
                     "no launcher rank in the environment (OMPI_COMM_WORLD_RANK, PMI_RANK or "
                     "SLURM_ARRAY_TASK_ID)");
}

int halo_sweep_shard_parse(const char *spec, long *shard_idx, long *n_shards, halo_err *err) {
    if (strcmp(spec, "auto") == 0)
        return halo_sweep_shard_from_env(shard_idx, n_shards, err);
    char *end;
    errno = 0;
    long a = strtol(spec, &end, 10);
    if (end == spec || *end != '/' || errno)
        return HALO_FAIL(err, HALO_ERR_ARG, "'%s' is not I/N (e.g. 0/4) or auto", spec);
    const char *t = end + 1;
    long b = strtol(t, &end, 10);
    if (end == t || *end != '\0' || errno)
        return HALO_FAIL(err, HALO_ERR_ARG, "'%s' is not I/N (e.g. 0/4) or auto", spec);
    if (b < 1 || a < 0 || a >= b)
        return HALO_FAIL(err, HALO_ERR_ARG, "'%s' needs 0 <= I < N", spec);
    *shard_idx = a;
    *n_shards = b;
    return HALO_OK;
}

int halo_sweep_db_path(const char *pattern, long shard_idx, char *buf, size_t cap, halo_err *err) {
    size_t used = 0;
    if (cap > 0)
        buf[0] = '\0';
    for (const char *p = pattern; *p; p++) {
        int n;
        if (p[0] == '%' && p[1] == 'r') {
            n = snprintf(buf + used, cap - used, "%ld", shard_idx);
            p++;
        } else {
            n = snprintf(buf + used, cap - used, "%c", *p);
        }
        if (n < 0 || (size_t)n >= cap - used)
            return HALO_FAIL(err, HALO_ERR_ARG, "path too long");
        used += (size_t)n;
    }
    return HALO_OK;
}

/* ==== Planning ==== */

struct halo_sweep {
    halo_sweep_config cfg;
    char hash[65];   /* the scenario's identity in the database: sha256 of its name and every
                        point's identity (issue 17) */
    char *name;      /* the scenario's name (of its first point that loads) */
    char *eval_text; /* cfg.eval_path's text, or NULL */
    char eval_hash[65];
    long n_points;
    char (*ph)[65];            /* (n_points) each point's identity, "" for one that fails */
    char **labels;             /* (n_points) each point's label, NULL for one that fails */
    halo_identity_cache cache; /* file hashes (each process its own) */
    halo_sweep_item *todo;     /* runs to simulate */
    halo_sweep_item *copies;   /* runs whose identity another run has: copied, not simulated */
    long n_todo, n_runs, n_stored, n_copies;
    char warnings[4][640]; /* axes that change nothing at some points */
    int n_warnings;
};

void halo_sweep_free(halo_sweep *w) {
    if (!w)
        return;
    for (long p = 0; w->labels && p < w->n_points; p++)
        free(w->labels[p]);
    free(w->labels);
    free(w->ph);
    free(w->name);
    halo_identity_cache_free(&w->cache);
    free(w->todo);
    free(w->copies);
    free(w->eval_text);
    free(w);
}

long halo_sweep_n_runs(const halo_sweep *w) {
    return w->n_runs;
}

long halo_sweep_n_stored(const halo_sweep *w) {
    return w->n_stored;
}

long halo_sweep_n_todo(const halo_sweep *w) {
    return w->n_todo;
}

const halo_sweep_item *halo_sweep_todo(const halo_sweep *w) {
    return w->todo;
}

long halo_sweep_n_copies(const halo_sweep *w) {
    return w->n_copies;
}

const halo_sweep_item *halo_sweep_copies(const halo_sweep *w) {
    return w->copies;
}

const char *halo_sweep_point_label(const halo_sweep *w, long point) {
    return point >= 0 && point < w->n_points && w->labels[point] ? w->labels[point] : NULL;
}

int halo_sweep_n_warnings(const halo_sweep *w) {
    return w->n_warnings;
}

const char *halo_sweep_warning(const halo_sweep *w, int i) {
    return i >= 0 && i < w->n_warnings ? w->warnings[i] : NULL;
}

/* The evaluation text a point's runs score: --eval's, else the point's (numerics only). */
static const char *point_eval(const halo_sweep *w, const halo_scenario *sc) {
    if (!sc->model_file)
        return NULL;
    return w->cfg.eval_path ? w->cfg.eval_path : sc->eval_file;
}

/*
 * Loads every point: its runs (the number of runs may be an axis), label and identity. A
 * point that fails to load (a bad value in one axis) is kept with the runs of the first
 * point that loads, no identity, and is run (and fails, with its error) like any other:
 * it fails only its own runs. *first_err receives the first such error; *n_loaded counts the
 * points that load.
 */
static int load_points(halo_sweep *w, int *runs, int *max_runs, long *n_loaded, halo_err *first_err,
                       halo_err *err) {
    int rc = HALO_OK, fallback = 0;
    *max_runs = 1;
    *n_loaded = 0;
    for (long p = 0; p < w->n_points && rc == HALO_OK; p++) {
        halo_scenario *s = NULL;
        halo_err e = {0};
        int lrc = halo_scenario_load(&s, w->cfg.scenario_path, p, &e);
        if (lrc == HALO_ERR_NOMEM) {
            *err = e;
            rc = lrc;
            break;
        }
        if (lrc != HALO_OK) {
            if (first_err->code == 0)
                *first_err = e;
            runs[p] = -1;
            continue;
        }
        char *json = NULL;
        rc = halo_identity_point(s, point_eval(w, s), &w->cache, &json, w->ph[p], err);
        free(json);
        if (rc == HALO_OK && !(w->labels[p] = strdup(s->point_label)))
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", w->cfg.scenario_path);
        if (rc == HALO_OK && !w->name && !(w->name = strdup(s->name)))
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", w->cfg.scenario_path);
        runs[p] = s->runs;
        if (*n_loaded == 0)
            fallback = s->runs;
        if (s->runs > *max_runs)
            *max_runs = s->runs;
        ++*n_loaded;
        halo_scenario_free(s);
    }
    for (long p = 0; p < w->n_points; p++)
        if (runs[p] < 0)
            runs[p] = fallback > 0 ? fallback : 1;
    return rc;
}

/* The scenario's identity: its name and every point's identity. */
static void scenario_identity(halo_sweep *w) {
    halo_sha256 h;
    halo_sha256_init(&h);
    halo_sha256_update(&h, w->name, strlen(w->name) + 1);
    for (long p = 0; p < w->n_points; p++)
        halo_sha256_update(&h, w->ph[p], 65);
    halo_sha256_hex(&h, w->hash);
}

/* Opens the database for planning: created (with the scenario's text) unless list_only;
 *db stays NULL for a list_only plan of a missing database. */
static int plan_db(const halo_sweep *w, halo_db **db, halo_err *err) {
    *db = NULL;
    if (w->cfg.list_only) {
        struct stat st;
        return stat(w->cfg.db_path, &st) == 0 ? halo_db_new(db, w->cfg.db_path, HALO_DB_READ, err)
                                              : HALO_OK;
    }
    halo_scenario *sc = NULL;
    int rc = HALO_OK;
    for (long p = 0; p < w->n_points && !sc; p++)
        if (w->labels[p])
            rc = halo_scenario_load(&sc, w->cfg.scenario_path, p, err);
    if (rc == HALO_OK)
        rc = halo_db_new(db, w->cfg.db_path, HALO_DB_CREATE, err);
    if (rc == HALO_OK)
        rc = halo_db_put_scenario(*db, sc, w->hash, err);
    halo_scenario_free(sc);
    return rc;
}

/* The earlier point with the identity of point p, or -1 (quadratic: bounded). */
static long same_as(const halo_sweep *w, long p) {
    if (!w->ph[p][0] || w->n_points > 8192)
        return -1;
    for (long q = 0; q < p; q++)
        if (strcmp(w->ph[q], w->ph[p]) == 0)
            return q;
    return -1;
}

/* Notes that point p simulates what point q does: the axes whose values differ change
   nothing there. One warning per set of such axes. */
static void note_alias(halo_sweep *w, long p, long q) {
    char keys[128] = "", example[160];
    size_t used = 0;
    const char *a = w->labels[p], *b = w->labels[q];
    while (*a && *b) {
        size_t la = strcspn(a, " "), lb = strcspn(b, " ");
        if (la != lb || strncmp(a, b, la) != 0) {
            size_t k = strcspn(a, "=");
            if (k > la)
                k = la;
            used += (size_t)snprintf(keys + used, used < sizeof keys ? sizeof keys - used : 0,
                                     "%s%.*s", used ? ", " : "", (int)k, a);
        }
        a += la + (a[la] == ' ');
        b += lb + (b[lb] == ' ');
    }
    if (!keys[0]) /* the same values twice in one list */
        (void)snprintf(keys, sizeof keys, "a value repeated in an axis");
    for (int i = 0; i < w->n_warnings; i++)
        if (strncmp(w->warnings[i], keys, strlen(keys)) == 0 && w->warnings[i][strlen(keys)] == ':')
            return;
    if (w->n_warnings >= (int)(sizeof w->warnings / sizeof w->warnings[0]))
        return;
    (void)snprintf(example, sizeof example, "%.150s", w->labels[p]);
    (void)snprintf(w->warnings[w->n_warnings++], sizeof w->warnings[0],
                   "%s: changes nothing at point %ld (%s), the same simulation as point %ld: "
                   "such points are simulated once and copied",
                   keys, p, example, q);
}

/* Expands the points and runs, keeps this shard's, drops those in the database, and copies
   instead of simulating the runs whose identity is stored or simulated by an earlier point. */
static int plan(halo_sweep *w, halo_err *err) {
    const halo_sweep_config *c = &w->cfg;
    int rc = halo_scenario_n_points(c->scenario_path, &w->n_points, err);
    if (rc != HALO_OK)
        return rc;
    long n_points = w->n_points, n_loaded = 0;
    int max_runs = 0;
    int *runs = calloc((size_t)n_points, sizeof *runs);
    w->ph = calloc((size_t)n_points, sizeof *w->ph);
    w->labels = calloc((size_t)n_points, sizeof *w->labels);
    halo_err first = {0};
    if (!runs || !w->ph || !w->labels)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", c->scenario_path);
    else
        rc = load_points(w, runs, &max_runs, &n_loaded, &first, err);
    if (rc == HALO_OK && n_loaded == 0) { /* no point loads: the scenario is wrong */
        *err = first;
        rc = first.code ? first.code : HALO_ERR_FORMAT;
    }
    halo_db *db = NULL;
    unsigned char *done = NULL;
    if (rc == HALO_OK) {
        scenario_identity(w);
        rc = plan_db(w, &db, err);
    }
    if (rc == HALO_OK) {
        size_t n = (size_t)(n_points * max_runs) + 1;
        done = calloc(n, 1);
        w->todo = calloc(n, sizeof *w->todo);
        w->copies = calloc(n, sizeof *w->copies);
        if (!done || !w->todo || !w->copies)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", c->scenario_path);
    }
    if (rc == HALO_OK && db)
        rc = halo_db_done_runs(db, w->hash, n_points, max_runs, done, err);
    long index = 0;
    for (long p = 0; rc == HALO_OK && p < n_points; p++) {
        long q = same_as(w, p);
        if (q >= 0)
            note_alias(w, p, q);
        for (int r = 0; rc == HALO_OK && r < runs[p]; r++, index++) {
            if (index % c->n_shards != c->shard_idx)
                continue;
            w->n_runs++;
            long long src = 0;
            if (done[p * max_runs + r]) {
                w->n_stored++;
                continue;
            }
            if (db && w->ph[p][0])
                rc = halo_db_find_run(db, w->name, w->ph[p], r, &src, err);
            /* an earlier point of this sweep simulates it: copied after (one shard only) */
            if (src || (q >= 0 && r < runs[q] && c->n_shards == 1))
                w->copies[w->n_copies++] = (halo_sweep_item){p, r};
            else
                w->todo[w->n_todo++] = (halo_sweep_item){p, r};
        }
    }
    halo_db_free(db);
    free(done);
    free(runs);
    return rc;
}

int halo_sweep_new(halo_sweep **out, const halo_sweep_config *cfg, halo_err *err) {
    *out = NULL;
    if (cfg->n_shards < 1 || cfg->shard_idx < 0 || cfg->shard_idx >= cfg->n_shards)
        return HALO_FAIL(err, HALO_ERR_ARG, "shard %ld/%ld needs 0 <= I < N", cfg->shard_idx,
                         cfg->n_shards);
    halo_sweep *w = calloc(1, sizeof *w);
    if (!w)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", cfg->scenario_path);
    w->cfg = *cfg;
    int rc = HALO_OK;
    if (cfg->eval_path) {
        size_t len;
        rc = halo_file_read_text(cfg->eval_path, MAX_TEXT_BYTES, &w->eval_text, &len, err);
        if (rc == HALO_OK)
            halo_sha256_str(w->eval_text, w->eval_hash);
    }
    if (rc == HALO_OK)
        rc = plan(w, err);
    if (rc != HALO_OK) {
        halo_sweep_free(w);
        return rc;
    }
    *out = w;
    return HALO_OK;
}

/* ==== One run ==== */

/* Evaluates the quality of a numerics run when there is a text: --eval's or the point's. */
static int run_quality(const halo_sweep *w, const halo_scenario *sc, int run, halo_eval_result *q,
                       halo_sim_result *qr, const char **efile, char ehash[65], int *with_q,
                       halo_err *err) {
    char *own_text = NULL;
    const char *text = w->eval_text;
    *efile = w->cfg.eval_path;
    *with_q = 0;
    int rc = HALO_OK;
    if (!text && sc->eval_file) {
        size_t len;
        rc = halo_file_read_text(sc->eval_file, MAX_TEXT_BYTES, &own_text, &len, err);
        text = own_text;
        *efile = sc->eval_file;
    }
    if (rc == HALO_OK && text) {
        rc = halo_simrun_eval(sc, run, text, w->cfg.max_stories, q, qr, err);
        if (rc == HALO_OK && q->tokens == 0)
            rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: no story with at least one token", *efile);
        *with_q = rc == HALO_OK;
        if (own_text)
            halo_sha256_str(own_text, ehash);
        else
            memcpy(ehash, w->eval_hash, 65);
    }
    free(own_text);
    return rc;
}

/* Runs one item and writes it to the open database. */
static int run_item(halo_sweep *w, halo_db *db, const halo_sweep_item *it, int *inserted,
                    halo_err *err) {
    *inserted = 0;
    halo_scenario *sc = NULL;
    int rc = halo_scenario_load(&sc, w->cfg.scenario_path, it->point, err);
    if (rc != HALO_OK)
        return rc;
    char started[32], finished[32], ehash[65] = "";
    halo_db_now_utc(started, sizeof started);
    halo_sim_result r = {0}, qr = {0};
    halo_eval_result q = {0};
    int with_q = 0;
    const char *efile = NULL;
    rc = halo_simrun(sc, it->run, &r, err);
    if (rc == HALO_OK && r.numerics)
        rc = run_quality(w, sc, it->run, &q, &qr, &efile, ehash, &with_q, err);
    halo_db_now_utc(finished, sizeof finished);
    r.wall_ns += qr.wall_ns; /* the run's wall time includes its evaluation */
    char *json = NULL, ph[65];
    if (rc == HALO_OK)
        rc = halo_identity_point(sc, point_eval(w, sc), &w->cache, &json, ph, err);
    if (rc == HALO_OK) {
        halo_db_run_info info = {.scenario_hash = w->hash,
                                 .started_at = started,
                                 .finished_at = finished,
                                 .eval_file = efile,
                                 .eval_hash = ehash,
                                 .point_hash = ph,
                                 .resolved = json};
        rc = halo_db_insert_run(db, sc, it->run, &info, &r, with_q ? &q : NULL, with_q ? &qr : NULL,
                                inserted, err);
    }
    free(json);
    halo_sim_result_free(&r);
    halo_sim_result_free(&qr);
    halo_scenario_free(sc);
    return rc;
}

/* ==== In this process ==== */

static void report_run(halo_sweep_cb cb, void *ctx, const halo_sweep_item *it, int status,
                       const halo_err *e, halo_sweep_progress *p) {
    if (status == HALO_OK)
        p->done++;
    else
        p->failed++;
    if (cb)
        cb(ctx, it, status, e, p);
}

/* The sweep's error once the database ran out of space: every later run would fail the same
   way, so the sweep stops (issue 18). `left` runs were not attempted. */
static int stopped_for_space(const halo_sweep *w, long left, halo_err *err) {
    return HALO_FAIL(err, HALO_ERR_IO,
                     "%s: out of space (see above): the sweep stopped with %ld runs not "
                     "attempted; every run stored before is kept: free space and run the "
                     "same sweep again to resume",
                     w->cfg.db_path, left);
}

/* ==== Worker processes ==== */

/*
 * A worker's report of one run (or, with item -1, of its failure to start). Written with
 * one write() of less than PIPE_BUF bytes, so the reports of several workers on one pipe do
 * not interleave. `file` is a string literal of this program: after fork() it has the same
 * address in the parent.
 */
typedef struct report_msg {
    int64_t item;
    int32_t worker, status, inserted, line;
    int32_t out_of_space; /* the database ran out of space (halo_db_out_of_space) */
    const char *file;
    char msg[256];
} report_msg;

static int write_all(int fd, const void *p, size_t n) {
    const char *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* A task to a worker over its socket: no SIGPIPE if the worker is gone (-1 then). */
static int send_task(int fd, int64_t k) {
    ssize_t n;
    do
        n = send(fd, &k, sizeof k, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof k ? 0 : -1;
}

/* 1: read n bytes; 0: end of file; -1: error. */
static int read_all(int fd, void *p, size_t n) {
    char *b = p;
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, b + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            return got == 0 ? 0 : -1;
        got += (size_t)k;
    }
    return 1;
}

static void send_report(int fd, int64_t item, int worker, int status, int inserted,
                        int out_of_space, const halo_err *e) {
    report_msg m = {.item = item,
                    .worker = worker,
                    .status = status,
                    .inserted = inserted,
                    .out_of_space = out_of_space};
    if (status != HALO_OK) {
        m.line = e->line;
        m.file = e->file;
        (void)snprintf(m.msg, sizeof m.msg, "%s", e->msg);
    }
    (void)write_all(fd, &m, sizeof m);
}

/* The body of worker process `idx`: runs the items it is sent until its socket closes, and
   ends the process. */
static void worker_main(halo_sweep *w, int idx, int task_fd, int report_fd) {
    /* Die with the parent: a killed sweep leaves no orphan writing on its own. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(1);
    halo_err err = {0};
    halo_db *db = NULL;
    int rc = halo_db_new(&db, w->cfg.db_path, HALO_DB_CREATE, &err);
    if (rc != HALO_OK) {
        send_report(report_fd, -1, idx, rc, 0, 0, &err);
        _exit(1);
    }
    int64_t k;
    while (read_all(task_fd, &k, sizeof k) == 1 && k >= 0 && k < w->n_todo) {
        int inserted = 0;
        err = (halo_err){0};
        rc = run_item(w, db, &w->todo[k], &inserted, &err);
        send_report(report_fd, k, idx, rc, inserted, rc != HALO_OK && halo_db_out_of_space(db),
                    &err);
    }
    halo_db_free(db);
    _exit(0);
}

/* The parent's view of its workers. */
typedef struct pool {
    int n;        /* started */
    pid_t *pid;   /* (n) */
    int *task;    /* (n) the parent's end of each worker's task socket, -1 when closed */
    int64_t *cur; /* (n) the item each worker runs, -1 when idle */
    int report;   /* read end of the shared report pipe */
    long next;    /* next item to hand out */
    long busy;    /* items handed out and not reported */
    int stop;     /* a worker's database ran out of space: hand out nothing more */
} pool;

/* Hands worker i the next item, if any. */
static void feed(pool *pl, const halo_sweep *w, int i) {
    pl->cur[i] = -1;
    if (pl->stop || pl->next >= w->n_todo || pl->task[i] < 0)
        return;
    if (send_task(pl->task[i], pl->next) == 0) {
        pl->cur[i] = pl->next++;
        pl->busy++;
    }
}

/* Forks up to n workers; pl->n counts those started. */
static int start_workers(pool *pl, halo_sweep *w, int n, halo_err *err) {
    int report[2];
    if (pipe(report) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "pipe: %s", strerror(errno));
    (void)fflush(NULL); /* nothing buffered is written twice */
    int rc = HALO_OK;
    for (int i = 0; i < n; i++) {
        int t[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t) != 0) {
            rc = HALO_FAIL(err, HALO_ERR_IO, "socketpair: %s", strerror(errno));
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            rc = HALO_FAIL(err, HALO_ERR_IO, "fork: %s", strerror(errno));
            (void)close(t[0]);
            (void)close(t[1]);
            break;
        }
        if (pid == 0) {
            (void)close(t[1]);
            (void)close(report[0]);
            for (int j = 0; j < pl->n; j++)
                (void)close(pl->task[j]);
            worker_main(w, i, t[0], report[1]);
        }
        (void)close(t[0]);
        pl->pid[i] = pid;
        pl->task[i] = t[1];
        pl->cur[i] = -1;
        pl->n++;
    }
    (void)close(report[1]);
    pl->report = report[0];
    return rc;
}

/* One report from a worker: counts it, calls back, feeds the worker its next item. */
static void on_report(pool *pl, const halo_sweep *w, const report_msg *m, halo_sweep_cb cb,
                      void *ctx, halo_sweep_progress *p) {
    if (m->worker < 0 || m->worker >= pl->n)
        return;
    halo_err e = {.code = m->status, .file = m->file, .line = m->line};
    (void)snprintf(e.msg, sizeof e.msg, "%s", m->msg);
    if (m->item < 0) { /* the worker could not start: it is gone with its item */
        if (cb)
            cb(ctx, NULL, m->status, &e, p);
        return;
    }
    if (m->item >= w->n_todo || pl->cur[m->worker] != m->item)
        return;
    pl->busy--;
    pl->stop |= m->out_of_space != 0;
    report_run(cb, ctx, &w->todo[m->item], m->status, &e, p);
    feed(pl, w, m->worker);
}

/* Handles the reports already in the pipe, without waiting. */
static void drain(pool *pl, const halo_sweep *w, halo_sweep_cb cb, void *ctx,
                  halo_sweep_progress *p) {
    struct pollfd pfd = {.fd = pl->report, .events = POLLIN};
    report_msg m;
    while (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN) &&
           read_all(pl->report, &m, sizeof m) == 1)
        on_report(pl, w, &m, cb, ctx, p);
}

/* Workers that died: the item each had in flight is reported as failed (after the reports
   it wrote before dying). */
static void reap(pool *pl, const halo_sweep *w, halo_sweep_cb cb, void *ctx,
                 halo_sweep_progress *p) {
    for (int i = 0; i < pl->n; i++) {
        int status;
        if (pl->task[i] < 0 || waitpid(pl->pid[i], &status, WNOHANG) != pl->pid[i])
            continue;
        (void)close(pl->task[i]);
        pl->task[i] = -1;
        pl->pid[i] = -1;
        if (pl->cur[i] >= 0)
            drain(pl, w, cb, ctx, p);
        if (pl->cur[i] < 0)
            continue;
        halo_err e = {0};
        const halo_sweep_item *it = &w->todo[pl->cur[i]];
        (void)HALO_FAIL(&e, HALO_ERR_IO, "point %ld run %d: worker process %s %d", it->point,
                        it->run, WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        pl->cur[i] = -1;
        pl->busy--;
        report_run(cb, ctx, it, e.code, &e, p);
    }
}

static int live_workers(const pool *pl) {
    int n = 0;
    for (int i = 0; i < pl->n; i++)
        n += pl->task[i] >= 0;
    return n;
}

static int run_parallel(halo_sweep *w, int jobs, halo_sweep_cb cb, void *ctx,
                        halo_sweep_progress *p, halo_err *err) {
    long done0 = p->done + p->failed;
    int n = (int)(jobs < w->n_todo ? jobs : w->n_todo);
    pool pl = {.report = -1};
    pl.pid = calloc((size_t)n, sizeof *pl.pid);
    pl.task = calloc((size_t)n, sizeof *pl.task);
    pl.cur = calloc((size_t)n, sizeof *pl.cur);
    int rc = pl.pid && pl.task && pl.cur ? start_workers(&pl, w, n, err)
                                         : HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    for (int i = 0; i < pl.n; i++)
        feed(&pl, w, i);
    /* Reports as they come; every 200 ms of silence, a look for workers that died (a crash
     * in a run), so that their runs are reported and the others are handed out. */
    while (pl.busy > 0 && live_workers(&pl) > 0) {
        struct pollfd pfd = {.fd = pl.report, .events = POLLIN};
        int ready = poll(&pfd, 1, 200);
        if (ready < 0 && errno != EINTR)
            break;
        if (ready <= 0) {
            if (ready == 0)
                reap(&pl, w, cb, ctx, p);
            continue;
        }
        report_msg m;
        if (read_all(pl.report, &m, sizeof m) != 1) {
            reap(&pl, w, cb, ctx, p); /* every worker is gone */
            break;
        }
        on_report(&pl, w, &m, cb, ctx, p);
    }
    for (int i = 0; i < pl.n; i++)
        if (pl.task[i] >= 0)
            (void)close(pl.task[i]);
    if (pl.report >= 0)
        (void)close(pl.report);
    for (int i = 0; i < pl.n; i++) {
        int status;
        while (pl.pid[i] > 0 && waitpid(pl.pid[i], &status, 0) < 0 && errno == EINTR)
            ;
    }
    long lost = w->n_todo - (p->done + p->failed - done0);
    if (rc == HALO_OK && pl.stop)
        rc = stopped_for_space(w, lost + w->n_copies, err);
    else if (rc == HALO_OK && lost > 0) {
        p->failed += lost;
        rc = HALO_FAIL(err, HALO_ERR_IO, "%ld runs were lost with their worker processes", lost);
    }
    free(pl.pid);
    free(pl.task);
    free(pl.cur);
    return rc;
}

/* ==== Copies ==== */

/* Stores run `it` as a copy of the stored run with its identity (results/db.h). */
static int copy_item(halo_sweep *w, halo_db *db, const halo_sweep_item *it, halo_err *err) {
    long long src = 0;
    int rc = halo_db_find_run(db, w->name, w->ph[it->point], it->run, &src, err);
    if (rc == HALO_OK && !src)
        return HALO_FAIL(err, HALO_ERR_IO,
                         "point %ld run %d: the run it copies (the same simulation at an earlier "
                         "point) failed",
                         it->point, it->run);
    halo_scenario *sc = NULL;
    if (rc == HALO_OK)
        rc = halo_scenario_load(&sc, w->cfg.scenario_path, it->point, err);
    char *json = NULL, ph[65];
    if (rc == HALO_OK)
        rc = halo_identity_point(sc, point_eval(w, sc), &w->cache, &json, ph, err);
    if (rc == HALO_OK) {
        halo_db_run_info info = {.scenario_hash = w->hash, .point_hash = ph, .resolved = json};
        int inserted = 0;
        rc = halo_db_copy_run(db, src, sc, it->run, &info, &inserted, err);
    }
    free(json);
    halo_scenario_free(sc);
    return rc;
}

/* Runs, in this process and in order, every run to simulate (copies = 0: w->todo, run_item)
   or every copy (copies = 1: w->copies, copy_item), each reported through cb; stops once the
   database is out of space (the copies, which come after the runs, count as not attempted). */
static int run_here(halo_sweep *w, int copies, halo_sweep_cb cb, void *ctx, halo_sweep_progress *p,
                    halo_err *err) {
    const halo_sweep_item *items = copies ? w->copies : w->todo;
    long n = copies ? w->n_copies : w->n_todo, after = copies ? 0 : w->n_copies;
    halo_db *db = NULL;
    int rc = halo_db_new(&db, w->cfg.db_path, HALO_DB_CREATE, err);
    for (long k = 0; rc == HALO_OK && k < n; k++) {
        int inserted = 0;
        halo_err e = {0};
        int s =
            copies ? copy_item(w, db, &items[k], &e) : run_item(w, db, &items[k], &inserted, &e);
        report_run(cb, ctx, &items[k], s, &e, p);
        if (s != HALO_OK && halo_db_out_of_space(db))
            rc = stopped_for_space(w, n - k - 1 + after, err);
    }
    halo_db_free(db);
    return rc;
}

int halo_sweep_run(halo_sweep *w, int jobs, halo_sweep_cb cb, void *ctx, halo_sweep_progress *out,
                   halo_err *err) {
    HALO_ASSERT(!w->cfg.list_only);
    halo_sweep_progress p = {.total = w->n_todo + w->n_copies};
    int rc = HALO_OK;
    if (w->n_todo > 0)
        rc = jobs > 1 ? run_parallel(w, jobs, cb, ctx, &p, err) : run_here(w, 0, cb, ctx, &p, err);
    if (rc == HALO_OK && w->n_copies > 0)
        rc = run_here(w, 1, cb, ctx, &p, err);
    if (out)
        *out = p;
    return rc;
}
