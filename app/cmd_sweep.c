/*
 * `halo sweep SCENARIO --db FILE`: every (point, run) of a scenario's sweep into the results
 * database, skipping those already there (resume), in parallel worker processes, one
 * transaction per run; `--shard i/n` (or an MPI / Slurm launcher's rank) takes every n-th
 * run. `halo db merge|migrate|info|schema`: the database itself.
 *
 * Processes, not threads: each run is a pure function of (scenario, point, run) and owns
 * its simulator; a worker that dies takes only its run in flight with it, and SQLite's
 * locking (WAL) serialises the writers.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "app/results.h"
#include "app/sha256.h"
#include "sim/scenario.h"
#include "sim/simrun.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void usage(FILE *f) {
    (void)fprintf(
        f, "usage: halo sweep [options] --db FILE SCENARIO\n\n"
           "Runs every point of a scenario's sweep axes, each replication (runs 0..runs-1), in\n"
           "the discrete-event simulator and stores them in a SQLite results database: one\n"
           "transaction per run, so an interrupted sweep loses at most its runs in flight and\n"
           "the next sweep into the same database skips what is there (resume).\n\n"
           "options:\n"
           "      --db FILE          results database (created if missing; its directory must\n"
           "                         exist); '%%r' in FILE is replaced by the shard index\n"
           "  -j, --jobs N           worker processes (default 1)\n"
           "      --shard I/N        run only the runs with index %% N == I (0 <= I < N), for\n"
           "                         several machines; merge with 'halo db merge'\n"
           "      --shard auto       I and N from the launcher: Open MPI (OMPI_COMM_WORLD_RANK/\n"
           "                         SIZE), PMI (PMI_RANK/SIZE), or a Slurm job array\n"
           "                         (SLURM_ARRAY_TASK_ID - MIN, SLURM_ARRAY_TASK_COUNT)\n"
           "      --eval FILE        also measure quality (perplexity) of numerics points on\n"
           "                         FILE (default: the scenario's workload.eval, if any)\n"
           "      --max-stories N    score only the first N stories of the evaluation text\n"
           "      --list             print the runs still to do (point run label) and exit\n"
           "  -q, --quiet            no progress line (it is shown only on a terminal anyway)\n"
           "  -h, --help             this help\n\n"
           "Runs are identified by the scenario text's sha256, the point and the run number.\n"
           "Schema and queries: docs/results.md.\n");
}

typedef struct sweep_opts {
    const char *path, *db, *eval;
    long jobs, max_stories, shard_i, shard_n;
    int list, quiet;
} sweep_opts;

/* I and N of --shard auto from the environment of a launcher. */
static int shard_from_env(long *i, long *n, halo_err *err) {
    static const char *const pairs[][2] = {{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                           {"PMI_RANK", "PMI_SIZE"},
                                           {"PMIX_RANK", "OMPI_COMM_WORLD_SIZE"}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        const char *r = getenv(pairs[k][0]), *s = getenv(pairs[k][1]);
        if (r && s) {
            int rc = halo_cli_parse_long(pairs[k][0], r, 0, 1L << 20, i, err);
            if (rc == HALO_OK)
                rc = halo_cli_parse_long(pairs[k][1], s, 1, 1L << 20, n, err);
            if (rc == HALO_OK && *i >= *n)
                rc = HALO_FAIL(err, HALO_ERR_ARG, "%s=%ld is not below %s=%ld", pairs[k][0], *i,
                               pairs[k][1], *n);
            return rc;
        }
    }
    const char *id = getenv("SLURM_ARRAY_TASK_ID"), *count = getenv("SLURM_ARRAY_TASK_COUNT");
    if (id && count) {
        const char *mn = getenv("SLURM_ARRAY_TASK_MIN");
        long lo = 0, v = 0;
        int rc = halo_cli_parse_long("SLURM_ARRAY_TASK_ID", id, 0, 1L << 30, &v, err);
        if (rc == HALO_OK && mn)
            rc = halo_cli_parse_long("SLURM_ARRAY_TASK_MIN", mn, 0, 1L << 30, &lo, err);
        if (rc == HALO_OK)
            rc = halo_cli_parse_long("SLURM_ARRAY_TASK_COUNT", count, 1, 1L << 20, n, err);
        if (rc == HALO_OK && (v < lo || v - lo >= *n))
            rc = HALO_FAIL(err, HALO_ERR_ARG,
                           "SLURM_ARRAY_TASK_ID=%ld is outside the array (min %ld, count %ld)", v,
                           lo, *n);
        *i = v - lo;
        return rc;
    }
    return HALO_FAIL(err, HALO_ERR_ARG,
                     "--shard auto: no launcher rank in the environment (OMPI_COMM_WORLD_RANK, "
                     "PMI_RANK or SLURM_ARRAY_TASK_ID)");
}

static int parse_shard(const char *s, long *i, long *n, halo_err *err) {
    if (strcmp(s, "auto") == 0)
        return shard_from_env(i, n, err);
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (end == s || *end != '/' || errno)
        return HALO_FAIL(err, HALO_ERR_ARG, "--shard: '%s' is not I/N (e.g. 0/4) or auto", s);
    const char *t = end + 1;
    long b = strtol(t, &end, 10);
    if (end == t || *end != '\0' || errno)
        return HALO_FAIL(err, HALO_ERR_ARG, "--shard: '%s' is not I/N (e.g. 0/4) or auto", s);
    if (b < 1 || a < 0 || a >= b)
        return HALO_FAIL(err, HALO_ERR_ARG, "--shard: '%s' needs 0 <= I < N", s);
    *i = a;
    *n = b;
    return HALO_OK;
}

static int parse(int argc, char **argv, sweep_opts *o, halo_err *err) {
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"jobs", required_argument, NULL, 'j'},
        {"shard", required_argument, NULL, 's'},
        {"eval", required_argument, NULL, 'e'},
        {"max-stories", required_argument, NULL, 'S'},
        {"list", no_argument, NULL, 'l'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (sweep_opts){.jobs = 1, .max_stories = -1, .shard_n = 1};
    optind = 1;
    opterr = 0;
    int c, rc = HALO_OK;
    while (rc == HALO_OK && (c = getopt_long(argc, argv, ":hj:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->db = optarg;
            break;
        case 'j':
            rc = halo_cli_parse_long("--jobs", optarg, 1, 1024, &o->jobs, err);
            break;
        case 's':
            rc = parse_shard(optarg, &o->shard_i, &o->shard_n, err);
            break;
        case 'e':
            o->eval = optarg;
            break;
        case 'S':
            rc = halo_cli_parse_long("--max-stories", optarg, 1, 1L << 30, &o->max_stories, err);
            break;
        case 'l':
            o->list = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            return 1;
        default:
            return halo_cli_bad_option(c, argv, err);
        }
    }
    if (rc != HALO_OK)
        return rc;
    if (optind >= argc)
        return HALO_FAIL(err, HALO_ERR_ARG, "missing SCENARIO file");
    if (optind + 1 < argc)
        return HALO_FAIL(err, HALO_ERR_ARG, "unexpected argument '%s'", argv[optind + 1]);
    if (!o->db)
        return HALO_FAIL(err, HALO_ERR_ARG, "missing --db FILE");
    o->path = argv[optind];
    return HALO_OK;
}

/* `path` with "%r" replaced by the shard index, into buf. */
static int db_path(const char *path, long shard, char *buf, size_t cap, halo_err *err) {
    size_t used = 0;
    for (const char *p = path; *p; p++) {
        int n;
        if (p[0] == '%' && p[1] == 'r') {
            n = snprintf(buf + used, cap - used, "%ld", shard);
            p++;
        } else {
            n = snprintf(buf + used, cap - used, "%c", *p);
        }
        if (n < 0 || (size_t)n >= cap - used)
            return HALO_FAIL(err, HALO_ERR_ARG, "--db: path too long");
        used += (size_t)n;
    }
    return HALO_OK;
}

static int read_file(const char *path, char **out, halo_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        (void)fclose(f);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: not a regular file", path);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    int bad = !buf || ferror(f);
    (void)fclose(f);
    if (bad) {
        free(buf);
        return HALO_FAIL(err, buf ? HALO_ERR_IO : HALO_ERR_NOMEM, "%s: cannot read", path);
    }
    buf[n] = '\0';
    *out = buf;
    return HALO_OK;
}

/* ==== The work: one (point, run) ==== */

typedef struct item {
    long point;
    int run;
} item;

typedef struct sweep {
    const sweep_opts *o;
    char db_path[4096];
    char hash[65];
    char *eval_text; /* --eval or NULL (then each point's workload.eval) */
    char eval_hash[65];
    item *items; /* to do */
    long n_items;
} sweep;

/* Runs one item and writes it to the open database. */
static int run_item(const sweep *w, halo_db *db, const item *it, int *inserted, halo_err *err) {
    halo_scenario *sc = NULL;
    int rc = halo_scenario_load(&sc, w->o->path, it->point, err);
    if (rc != HALO_OK)
        return rc;
    char started[32], finished[32], ehash[65];
    halo_db_now_utc(started, sizeof started);
    halo_sim_result r = {0}, qr = {0};
    halo_eval_result q = {0};
    int with_q = 0;
    char *own_text = NULL;
    const char *text = w->eval_text, *efile = w->o->eval;
    rc = halo_simrun(sc, it->run, &r, err);
    if (rc == HALO_OK && r.numerics && !text && sc->eval_file) {
        rc = read_file(sc->eval_file, &own_text, err);
        text = own_text;
        efile = sc->eval_file;
    }
    if (rc == HALO_OK && r.numerics && text) {
        rc = halo_simrun_eval(sc, it->run, text, w->o->max_stories, &q, &qr, err);
        if (rc == HALO_OK && q.tokens == 0)
            rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: no story with at least one token", efile);
        with_q = rc == HALO_OK;
        if (own_text)
            halo_sha256_str(own_text, ehash);
        else
            memcpy(ehash, w->eval_hash, sizeof ehash);
    }
    halo_db_now_utc(finished, sizeof finished);
    r.wall_ns += qr.wall_ns; /* the run's wall time includes its evaluation */
    if (rc == HALO_OK) {
        halo_db_run_info info = {.scenario_hash = w->hash,
                                 .started_at = started,
                                 .finished_at = finished,
                                 .eval_file = efile,
                                 .eval_hash = ehash};
        rc = halo_db_insert_run(db, sc, it->run, &info, &r, with_q ? &q : NULL, with_q ? &qr : NULL,
                                inserted, err);
    }
    free(own_text);
    halo_sim_result_free(&r);
    halo_sim_result_free(&qr);
    halo_scenario_free(sc);
    return rc;
}

/* ==== Progress ==== */

typedef struct progress {
    int show;
    long done, failed, total;
    uint64_t t0_ns;
} progress;

static void progress_print(const progress *p) {
    if (!p->show)
        return;
    double el = (double)(halo_cli_now_ns() - p->t0_ns) / 1e9;
    long finished = p->done + p->failed;
    char eta[32] = "?";
    if (finished > 0) {
        double left = el / (double)finished * (double)(p->total - finished);
        (void)snprintf(eta, sizeof eta, "%.0f s", left);
    }
    (void)fprintf(stderr, "\rhalo sweep: %ld/%ld runs%s%ld failed, %.0f s elapsed, ETA %s   ",
                  finished, p->total, ", ", p->failed, el, eta);
    (void)fflush(stderr);
}

/* ==== Workers ==== */

typedef struct report_msg {
    int32_t worker, status, inserted, pad;
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

static void worker_main(const sweep *w, int idx, int task_fd, int report_fd) {
    /* Die with the parent: a killed sweep leaves no orphan writing on its own. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(1);
    halo_err err = {0};
    halo_db *db = NULL;
    int rc = halo_db_new(&db, w->db_path, HALO_DB_CREATE, &err);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        _exit(1);
    }
    int64_t k;
    while (read_all(task_fd, &k, sizeof k) == 1) {
        int inserted = 0;
        err = (halo_err){0};
        rc = run_item(w, db, &w->items[k], &inserted, &err);
        if (rc != HALO_OK) {
            (void)fprintf(stderr, "\n");
            halo_cli_print_err(&err);
        }
        report_msg m = {.worker = idx, .status = rc, .inserted = inserted};
        if (write_all(report_fd, &m, sizeof m) != 0)
            break;
    }
    halo_db_free(db);
    _exit(0);
}

static int run_parallel(const sweep *w, progress *p, halo_err *err) {
    int n = (int)(w->o->jobs < w->n_items ? w->o->jobs : w->n_items);
    int report[2];
    if (pipe(report) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "pipe: %s", strerror(errno));
    int *task = calloc((size_t)n, sizeof *task);
    pid_t *pid = calloc((size_t)n, sizeof *pid);
    if (!task || !pid) {
        free(task);
        free(pid);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    }
    (void)fflush(NULL);
    int rc = HALO_OK, started = 0;
    for (int i = 0; i < n; i++) {
        int t[2];
        if (pipe(t) != 0) {
            rc = HALO_FAIL(err, HALO_ERR_IO, "pipe: %s", strerror(errno));
            break;
        }
        pid[i] = fork();
        if (pid[i] < 0) {
            rc = HALO_FAIL(err, HALO_ERR_IO, "fork: %s", strerror(errno));
            (void)close(t[0]);
            (void)close(t[1]);
            break;
        }
        if (pid[i] == 0) {
            (void)close(t[1]);
            (void)close(report[0]);
            for (int j = 0; j < i; j++)
                (void)close(task[j]);
            worker_main(w, i, t[0], report[1]);
        }
        (void)close(t[0]);
        task[i] = t[1];
        started++;
    }
    (void)close(report[1]);
    long next = 0, busy = 0;
    for (int i = 0; i < started && next < w->n_items; i++) {
        int64_t k = next++;
        if (write_all(task[i], &k, sizeof k) == 0)
            busy++;
    }
    while (busy > 0) {
        report_msg m;
        if (read_all(report[0], &m, sizeof m) != 1)
            break; /* every worker is gone */
        busy--;
        if (m.status == HALO_OK)
            p->done++;
        else
            p->failed++;
        progress_print(p);
        if (next < w->n_items && m.worker >= 0 && m.worker < started) {
            int64_t k = next++;
            if (write_all(task[m.worker], &k, sizeof k) == 0)
                busy++;
        }
    }
    for (int i = 0; i < started; i++)
        (void)close(task[i]);
    (void)close(report[0]);
    for (int i = 0; i < started; i++) {
        int status;
        while (waitpid(pid[i], &status, 0) < 0 && errno == EINTR)
            ;
    }
    long lost = w->n_items - p->done - p->failed;
    if (rc == HALO_OK && lost > 0) {
        p->failed += lost;
        rc = HALO_FAIL(err, HALO_ERR_IO, "%ld runs were lost with their worker processes", lost);
    }
    free(task);
    free(pid);
    return rc;
}

static int run_serial(const sweep *w, progress *p, halo_err *err) {
    halo_db *db = NULL;
    int rc = halo_db_new(&db, w->db_path, HALO_DB_CREATE, err);
    for (long k = 0; rc == HALO_OK && k < w->n_items; k++) {
        int inserted = 0;
        halo_err e = {0};
        if (run_item(w, db, &w->items[k], &inserted, &e) != HALO_OK) {
            if (p->show)
                (void)fprintf(stderr, "\n");
            halo_cli_print_err(&e);
            p->failed++;
        } else {
            p->done++;
        }
        progress_print(p);
    }
    halo_db_free(db);
    return rc;
}

/* Expands the points and runs, keeps this shard's, drops those in the database. */
static int plan(sweep *w, long *total, long *skipped, halo_err *err) {
    const sweep_opts *o = w->o;
    halo_scenario *sc = NULL;
    int rc = halo_scenario_load(&sc, o->path, 0, err);
    if (rc != HALO_OK)
        return rc;
    long n_points = sc->n_points;
    halo_sha256_str(sc->text, w->hash);
    /* the number of runs may itself be an axis: take the largest */
    int max_runs = sc->runs;
    int *runs = calloc((size_t)n_points, sizeof *runs);
    if (!runs)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    for (long p = 0; rc == HALO_OK && p < n_points; p++) {
        halo_scenario *s = sc;
        if (p > 0)
            rc = halo_scenario_load(&s, o->path, p, err);
        if (rc != HALO_OK)
            break;
        runs[p] = s->runs;
        if (s->runs > max_runs)
            max_runs = s->runs;
        if (p > 0)
            halo_scenario_free(s);
    }
    halo_db *db = NULL;
    unsigned char *done = NULL;
    if (rc == HALO_OK && !o->list)
        rc = halo_db_new(&db, w->db_path, HALO_DB_CREATE, err);
    if (rc == HALO_OK && !o->list)
        rc = halo_db_put_scenario(db, sc, w->hash, err);
    if (rc == HALO_OK && o->list) {
        /* --list reads an existing database only; a missing one has nothing done */
        struct stat st;
        if (stat(w->db_path, &st) == 0)
            rc = halo_db_new(&db, w->db_path, HALO_DB_READ, err);
    }
    if (rc == HALO_OK) {
        done = calloc((size_t)(n_points * max_runs), 1);
        w->items = calloc((size_t)(n_points * max_runs), sizeof *w->items);
        if (!done || !w->items)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    }
    if (rc == HALO_OK && db)
        rc = halo_db_done_runs(db, w->hash, n_points, max_runs, done, err);
    halo_db_free(db);
    *total = *skipped = 0;
    long index = 0;
    for (long p = 0; rc == HALO_OK && p < n_points; p++)
        for (int r = 0; r < runs[p]; r++, index++) {
            if (index % o->shard_n != o->shard_i)
                continue;
            (*total)++;
            if (done[p * max_runs + r])
                (*skipped)++;
            else
                w->items[w->n_items++] = (item){p, r};
        }
    free(done);
    free(runs);
    halo_scenario_free(sc);
    return rc;
}

int halo_cmd_sweep(int argc, char **argv) {
    halo_err err = {0};
    sweep_opts o;
    int rc = parse(argc, argv, &o, &err);
    sweep w = {.o = &o};
    if (rc == HALO_OK)
        rc = db_path(o.db, o.shard_i, w.db_path, sizeof w.db_path, &err);
    int status = halo_cli_after_parse(rc, "sweep", usage, &err);
    if (status >= 0)
        return status;
    if (o.eval) {
        rc = read_file(o.eval, &w.eval_text, &err);
        if (rc == HALO_OK)
            halo_sha256_str(w.eval_text, w.eval_hash);
    }
    long total = 0, skipped = 0;
    if (rc == HALO_OK)
        rc = plan(&w, &total, &skipped, &err);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        free(w.items);
        free(w.eval_text);
        return HALO_EXIT_FAIL;
    }
    if (o.list) {
        for (long k = 0; k < w.n_items; k++)
            (void)printf("%ld %d\n", w.items[k].point, w.items[k].run);
        free(w.items);
        free(w.eval_text);
        return HALO_EXIT_OK;
    }
    progress p = {
        .show = !o.quiet && isatty(STDERR_FILENO), .total = w.n_items, .t0_ns = halo_cli_now_ns()};
    progress_print(&p);
    if (w.n_items > 0)
        rc = o.jobs > 1 ? run_parallel(&w, &p, &err) : run_serial(&w, &p, &err);
    if (p.show)
        (void)fprintf(stderr, "\n");
    (void)printf("halo sweep: %s: %ld runs in shard %ld/%ld, %ld already in %s, %ld done, %ld "
                 "failed, %.1f s\n",
                 o.path, total, o.shard_i, o.shard_n, skipped, w.db_path, p.done, p.failed,
                 (double)(halo_cli_now_ns() - p.t0_ns) / 1e9);
    free(w.items);
    free(w.eval_text);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    if (p.failed > 0) {
        (void)fprintf(stderr, "halo: %ld of %ld runs failed (see above)\n", p.failed, w.n_items);
        return HALO_EXIT_FAIL;
    }
    return HALO_EXIT_OK;
}

/* ==== halo db ==== */

static void db_usage(FILE *f) {
    (void)fprintf(f, "usage: halo db merge DEST SRC...   copy the runs DEST lacks from each SRC\n"
                     "       halo db migrate FILE         upgrade an older schema in place\n"
                     "       halo db info FILE            schema version and runs per scenario\n"
                     "       halo db schema               print the schema (results/schema.sql)\n\n"
                     "Databases are SQLite files written by 'halo sweep' (docs/results.md).\n");
}

static int db_info(const char *path, halo_err *err) {
    halo_db *db = NULL;
    int rc = halo_db_new(&db, path, HALO_DB_READ, err);
    if (rc != HALO_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(halo_db_handle(db),
                           "SELECT scenario_name, substr(scenario_hash, 1, 12), count(*), "
                           "count(DISTINCT point), kind FROM run GROUP BY scenario_hash "
                           "ORDER BY min(id)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: %s", path, sqlite3_errmsg(halo_db_handle(db)));
    } else {
        (void)printf("%s: schema version %d\n", path, HALO_DB_VERSION);
        while (sqlite3_step(st) == SQLITE_ROW)
            (void)printf("  %-20s %s  %5d runs  %4d points  %s\n", sqlite3_column_text(st, 0),
                         sqlite3_column_text(st, 1), sqlite3_column_int(st, 2),
                         sqlite3_column_int(st, 3), sqlite3_column_text(st, 4));
    }
    sqlite3_finalize(st);
    halo_db_free(db);
    return rc;
}

int halo_cmd_db(int argc, char **argv) {
    halo_err err = {0};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        db_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? HALO_EXIT_USAGE : HALO_EXIT_OK;
    }
    const char *sub = argv[1];
    int rc;
    if (strcmp(sub, "schema") == 0 && argc == 2) {
        (void)fputs(halo_db_schema_sql(), stdout);
        return HALO_EXIT_OK;
    } else if (strcmp(sub, "info") == 0 && argc == 3) {
        rc = db_info(argv[2], &err);
    } else if (strcmp(sub, "migrate") == 0 && argc == 3) {
        halo_db *db = NULL;
        rc = halo_db_new(&db, argv[2], HALO_DB_MIGRATE, &err);
        if (rc == HALO_OK)
            (void)printf("%s: schema version %d\n", argv[2], HALO_DB_VERSION);
        halo_db_free(db);
    } else if (strcmp(sub, "merge") == 0 && argc >= 4) {
        halo_db *db = NULL;
        rc = HALO_OK;
        /* check every source first, so that a bad one leaves no new destination behind */
        for (int i = 3; rc == HALO_OK && i < argc; i++) {
            struct stat st;
            if (strcmp(argv[i], argv[2]) == 0)
                rc = HALO_FAIL(&err, HALO_ERR_ARG, "%s: cannot merge a database into itself",
                               argv[i]);
            else if (stat(argv[i], &st) != 0)
                rc = HALO_FAIL(&err, HALO_ERR_IO, "%s: no such database", argv[i]);
        }
        if (rc == HALO_OK)
            rc = halo_db_new(&db, argv[2], HALO_DB_CREATE, &err);
        for (int i = 3; rc == HALO_OK && i < argc; i++) {
            long copied = 0, skipped = 0;
            rc = halo_db_merge(db, argv[i], &copied, &skipped, &err);
            if (rc == HALO_OK)
                (void)printf("%s: %ld runs copied into %s, %ld already there\n", argv[i], copied,
                             argv[2], skipped);
        }
        halo_db_free(db);
    } else {
        (void)fprintf(stderr, "halo: db: unknown subcommand or wrong arguments: '%s'\n", sub);
        db_usage(stderr);
        return HALO_EXIT_USAGE;
    }
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    return HALO_EXIT_OK;
}
