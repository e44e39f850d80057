/*
 * `halo sweep SCENARIO --db FILE`: every (point, run) of a scenario's sweep into the results
 * database (results/sweep.h does the planning, resume, shards and worker processes; this
 * command parses options and prints progress and the summary). `halo db
 * merge|migrate|info|schema`: the database itself (results/db.h); `halo db import-measured`:
 * runs of real systems measured by a harness (results/measured.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "core/file.h"
#include "results/db.h"
#include "results/measured.h"
#include "results/sweep.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct sweep_opts {
    const char *path, *db, *eval, *shard;
    long jobs, max_stories;
    int list, quiet;
    char db_path[4096]; /* --db with "%r" replaced */
    halo_sweep_config cfg;
} sweep_opts;

/* Parses the command line into *o; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, sweep_opts *o) {
    *o = (sweep_opts){.jobs = 1, .max_stories = -1};
    const halo_cli_opt opts[] = {
        HALO_CLI_OPT_REQUIRED_PATH(
            "db", 0, &o->db, "FILE",
            "results database (created if missing; its directory must\nexist); '%r' "
            "in FILE is replaced by the shard index"),
        HALO_CLI_OPT_LONG("jobs", 'j', &o->jobs, 1, 1024, "N", "worker processes (default 1)"),
        HALO_CLI_OPT_STRING(
            "shard", 0, &o->shard, "I/N|auto",
            "run only the runs with index % N == I (0 <= I < N), for\nseveral machines; merge with "
            "'halo db merge'. auto: I and N\nfrom the launcher: Open MPI "
            "(OMPI_COMM_WORLD_RANK/SIZE),\nPMI (PMI_RANK/SIZE), or a Slurm job "
            "array\n(SLURM_ARRAY_TASK_ID - MIN, SLURM_ARRAY_TASK_COUNT)"),
        HALO_CLI_OPT_PATH("eval", 0, &o->eval, "FILE",
                          "also measure quality (perplexity) of numerics points on\nFILE (default: "
                          "the scenario's workload.eval, if any)"),
        HALO_CLI_OPT_LONG("max-stories", 0, &o->max_stories, 1, 1L << 30, "N",
                          "score only the first N stories of the evaluation text"),
        HALO_CLI_OPT_FLAG("list", 0, &o->list,
                          "print the runs still to do (point run label) and exit"),
        HALO_CLI_OPT_FLAG("quiet", 'q', &o->quiet,
                          "no progress line (it is shown only on a terminal anyway)"),
        HALO_CLI_OPT_END,
    };
    halo_cli_spec spec = {
        .name = "sweep",
        .synopsis = "[options] --db FILE SCENARIO",
        .about = "Runs every point of a scenario's sweep axes, each replication (runs 0..runs-1), "
                 "in\nthe discrete-event simulator and stores them in a SQLite results database: "
                 "one\ntransaction per run, so an interrupted sweep loses at most its runs in "
                 "flight and\nthe next sweep into the same database skips what is there "
                 "(resume).\n",
        .opts = opts,
        .after = "A run is identified by its fully resolved point (model, profiles, links, "
                 "every\nsetting; not comments or formatting) and its run number: a run stored "
                 "with the\nsame identity is not simulated again but copied. Schema and "
                 "queries:\ndocs/results.md.\n",
        .positional = "SCENARIO file",
        .pos_out = &o->path};
    halo_err err = {0};
    int rc = halo_cli_parse(&spec, argc, argv, &err);
    o->cfg = (halo_sweep_config){.n_shards = 1};
    if (rc == HALO_OK && o->shard &&
        halo_sweep_shard_parse(o->shard, &o->cfg.shard_idx, &o->cfg.n_shards, &err) != HALO_OK)
        rc = halo_err_prefix(&err, "--shard: ");
    if (rc == HALO_OK &&
        halo_sweep_db_path(o->db, o->cfg.shard_idx, o->db_path, sizeof o->db_path, &err) != HALO_OK)
        rc = halo_err_prefix(&err, "--db: ");
    if (rc == HALO_OK)
        rc = halo_cli_check_output("--db", o->db_path, "SCENARIO", o->path, &err);
    if (rc == HALO_OK)
        rc = halo_cli_check_output("--db", o->db_path, "--eval", o->eval, &err);
    if (rc == 1) {
        halo_cli_usage(&spec, stdout);
        return HALO_EXIT_OK;
    }
    if (rc != HALO_OK)
        return halo_cli_usage_error(&err, "sweep");
    o->cfg.scenario_path = o->path;
    o->cfg.db_path = o->db_path;
    o->cfg.eval_path = o->eval;
    o->cfg.max_stories = o->max_stories;
    o->cfg.list_only = o->list;
    return -1;
}

/* ==== Progress ==== */

typedef struct progress {
    int show; /* a progress line on stderr (a terminal) */
    uint64_t t0_ns;
} progress;

static void progress_print(const progress *pr, const halo_sweep_progress *p) {
    if (!pr->show)
        return;
    double el = (double)(halo_cli_now_ns() - pr->t0_ns) / 1e9;
    long finished = p->done + p->failed;
    char eta[32] = "?";
    if (finished > 0)
        (void)snprintf(eta, sizeof eta, "%.0f s",
                       el / (double)finished * (double)(p->total - finished));
    (void)fprintf(stderr, "\rhalo sweep: %ld/%ld runs, %ld failed, %.0f s elapsed, ETA %s   ",
                  finished, p->total, p->failed, el, eta);
    (void)fflush(stderr);
}

static void on_run(void *ctx, const halo_sweep_item *item, int status, const halo_err *err,
                   const halo_sweep_progress *p) {
    const progress *pr = ctx;
    (void)item;
    if (status != HALO_OK) {
        if (pr->show)
            (void)fprintf(stderr, "\n");
        halo_cli_print_err(err);
    }
    progress_print(pr, p);
}

int halo_cmd_sweep(int argc, char **argv) {
    sweep_opts o;
    int status = parse(argc, argv, &o);
    if (status >= 0)
        return status;
    halo_err err = {0};
    halo_sweep *w = NULL;
    int rc = halo_sweep_new(&w, &o.cfg, &err);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    long n_todo = halo_sweep_n_todo(w), n_copies = halo_sweep_n_copies(w);
    for (int i = 0; i < halo_sweep_n_warnings(w); i++)
        (void)fprintf(stderr, "halo sweep: warning: %s\n", halo_sweep_warning(w, i));
    if (o.list) { /* point, run, label; copies end with "(copy)" */
        const halo_sweep_item *todo = halo_sweep_todo(w), *copies = halo_sweep_copies(w);
        for (long k = 0; k < n_todo + n_copies; k++) {
            const halo_sweep_item *it = k < n_todo ? &todo[k] : &copies[k - n_todo];
            const char *label = halo_sweep_point_label(w, it->point);
            (void)printf("%ld %d %s%s\n", it->point, it->run, label ? label : "(does not load)",
                         k < n_todo ? "" : " (copy)");
        }
        halo_sweep_free(w);
        return HALO_EXIT_OK;
    }
    progress pr = {.show = !o.quiet && isatty(STDERR_FILENO), .t0_ns = halo_cli_now_ns()};
    halo_sweep_progress p = {.total = n_todo + n_copies};
    progress_print(&pr, &p);
    rc = halo_sweep_run(w, (int)o.jobs, on_run, &pr, &p, &err);
    if (pr.show)
        (void)fprintf(stderr, "\n");
    (void)printf("halo sweep: %s: %ld runs in shard %ld/%ld, %ld already in %s, %ld done (%ld "
                 "copied: same simulation), %ld failed, %.1f s\n",
                 o.path, halo_sweep_n_runs(w), o.cfg.shard_idx, o.cfg.n_shards,
                 halo_sweep_n_stored(w), o.db_path, p.done, n_copies, p.failed,
                 (double)(halo_cli_now_ns() - pr.t0_ns) / 1e9);
    halo_sweep_free(w);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    if (p.failed > 0) {
        (void)fprintf(stderr, "halo: %ld of %ld runs failed (see above)\n", p.failed,
                      n_todo + n_copies);
        return HALO_EXIT_FAIL;
    }
    return HALO_EXIT_OK;
}

/* ==== halo db ==== */

static void db_usage(FILE *f) {
    (void)fprintf(f, "usage: halo db merge DEST SRC...   copy the runs DEST lacks from each SRC\n"
                     "       halo db migrate FILE         upgrade an older schema in place\n"
                     "       halo db info FILE            schema version, runs per scenario,\n"
                     "                                    measured runs per harness and source\n"
                     "       halo db schema               print the schema (results/schema.sql)\n"
                     "       halo db import-measured FILE DIR [--harness NAME] [--host NAME]\n"
                     "                                    store the runs a harness measured\n"
                     "                                    (DIR/runs.csv, DIR/samples.csv)\n\n"
                     "Databases are SQLite files written by 'halo sweep' (docs/results.md).\n");
}

static int db_info(const char *path, halo_err *err) {
    halo_db *db = NULL;
    halo_db_info info = {0};
    int rc = halo_db_new(&db, path, HALO_DB_READ, err);
    if (rc == HALO_OK)
        rc = halo_db_get_info(db, &info, err);
    if (rc == HALO_OK)
        (void)printf("%s: schema version %d\n", path, info.version);
    for (long i = 0; rc == HALO_OK && i < info.n_scenarios; i++) {
        const halo_db_scenario_info *s = &info.scenarios[i];
        (void)printf("  %-20s %.12s  %5ld runs  %4ld points  %s\n", s->name, s->hash, s->n_runs,
                     s->n_points, s->kind);
    }
    if (rc == HALO_OK)
        (void)printf("%s: %ld measured runs\n", path, info.n_measured_runs);
    for (long i = 0; rc == HALO_OK && i < info.n_measured; i++) {
        const halo_db_measured_info *m = &info.measured[i];
        (void)printf("  %-20s %5ld runs  %4ld cells (%ld simulated)  %7ld tokens  from %s\n",
                     m->harness, m->n_runs, m->n_cells, m->n_mirrored, m->n_tokens, m->source);
    }
    halo_db_info_free(&info);
    halo_db_free(db);
    return rc;
}

/* halo db merge DEST SRC...: every source is checked first, so that a bad one leaves no new
   destination behind. */
static int db_merge(int n_src, char **src, const char *dest, halo_err *err) {
    for (int i = 0; i < n_src; i++) {
        struct stat st;
        /* the same file under another path (./x.db, a link) waited on its own lock */
        if (strcmp(src[i], dest) == 0 || halo_file_same(src[i], dest))
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "cannot merge a database into itself: SRC %s is the same file as "
                             "DEST %s",
                             src[i], dest);
        if (stat(src[i], &st) != 0)
            return HALO_FAIL(err, HALO_ERR_IO, "%s: no such database", src[i]);
    }
    halo_db *db = NULL;
    int rc = halo_db_new(&db, dest, HALO_DB_CREATE, err);
    for (int i = 0; rc == HALO_OK && i < n_src; i++) {
        long copied = 0, skipped = 0, measured = 0;
        rc = halo_db_merge(db, src[i], &copied, &skipped, &measured, err);
        if (rc == HALO_OK)
            (void)printf("%s: %ld runs copied into %s, %ld already there; %ld measured runs "
                         "copied\n",
                         src[i], copied, dest, skipped, measured);
    }
    halo_db_free(db);
    return rc;
}

/* halo db import-measured FILE DIR [--harness NAME] [--host NAME] (argv[0] is
   "import-measured"). */
static int db_import_measured(int argc, char **argv) {
    const char *harness = HALO_MEASURED_DEFAULT_HARNESS, *host = NULL, *dir = NULL;
    const halo_cli_opt opts[] = {
        HALO_CLI_OPT_STRING("harness", 0, &harness, "NAME",
                            "what measured (default " HALO_MEASURED_DEFAULT_HARNESS ")"),
        HALO_CLI_OPT_STRING("host", 0, &host, "NAME",
                            "the machine measured on (default: this machine's name)"),
        HALO_CLI_OPT_END,
    };
    const halo_cli_spec spec = {
        .name = "db import-measured",
        .synopsis = "FILE DIR [--harness NAME] [--host NAME]",
        .about = "Stores the runs a harness measured on real systems (tools/ground-truth.sh) "
                 "into the\nresults database FILE (created when missing): DIR/runs.csv (one "
                 "line per run)\nand DIR/samples.csv (every counted token interval). Every "
                 "field is checked first;\na bad one is named with file:line and column, and "
                 "nothing is written. One\ntransaction; importing the same DIR again adds "
                 "nothing.\n",
        .opts = opts,
        .after = "Compare with the simulated mirrors: halo report fidelity --db FILE "
                 "(docs/results.md).\n",
        .positional = "DIR",
        .pos_out = &dir};
    /* FILE is the first argument that is neither an option nor an option's value; the
       parser takes DIR from the rest */
    char *rest[32];
    const char *db = NULL;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        int is_value =
            i > 0 && (strcmp(argv[i - 1], "--harness") == 0 || strcmp(argv[i - 1], "--host") == 0);
        if (i > 0 && !db && argv[i][0] != '-' && !is_value) {
            db = argv[i];
        } else if (n < (int)(sizeof rest / sizeof rest[0])) {
            rest[n++] = argv[i];
        } else {
            halo_err err = {0};
            (void)HALO_FAIL(&err, HALO_ERR_ARG, "too many arguments");
            return halo_cli_usage_error(&err, "db import-measured");
        }
    }
    int status = halo_cli_parse_or_exit(&spec, n, rest);
    if (status >= 0)
        return status;
    halo_err err = {0};
    if (!db) {
        (void)HALO_FAIL(&err, HALO_ERR_ARG, "missing FILE (the results database)");
        return halo_cli_usage_error(&err, "db import-measured");
    }
    halo_measured_counts k;
    int rc = halo_measured_import_dir(db, dir, harness, host, &k, &err);
    if (rc != HALO_OK) {
        return halo_cli_fail(rc, &err);
    }
    (void)printf("%s: %ld runs (%ld tokens) imported into %s, %ld runs (%ld tokens) already "
                 "there\n",
                 dir, k.n_imported, k.n_tokens_new, db, k.n_present, k.n_tokens_present);
    return HALO_EXIT_OK;
}

int halo_cmd_db(int argc, char **argv) {
    halo_err err = {0};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        db_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? HALO_EXIT_USAGE : HALO_EXIT_OK;
    }
    const char *sub = argv[1];
    int rc;
    /* `halo db SUB --help` (issue 17: it was taken as a file name or an unknown subcommand) */
    static const char *const sub_usage[][2] = {
        {"merge", "usage: halo db merge DEST SRC...\n\nCopies every run DEST lacks (same "
                  "scenario, point and run) from each SRC,\nwith its rows, and the measured "
                  "runs DEST lacks, one transaction per SRC;\nDEST is created when missing. "
                  "Merging twice copies nothing.\n"},
        {"migrate", "usage: halo db migrate FILE\n\nUpgrades an older schema in place, in "
                    "one transaction, keeping every run.\n"},
        {"info", "usage: halo db info FILE\n\nPrints the schema version, the runs per "
                 "scenario version (name, hash, runs,\npoints, kind) and the measured runs per "
                 "harness and source.\n"},
        {"schema", "usage: halo db schema\n\nPrints the schema compiled into halo "
                   "(results/schema.sql).\n"},
    };
    for (size_t i = 0; argc >= 3 && i < sizeof sub_usage / sizeof sub_usage[0]; i++)
        if (strcmp(sub, sub_usage[i][0]) == 0 &&
            (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            (void)fputs(sub_usage[i][1], stdout);
            return HALO_EXIT_OK;
        }
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
    } else if (strcmp(sub, "import-measured") == 0) {
        return db_import_measured(argc - 1, argv + 1);
    } else if (strcmp(sub, "merge") == 0 && argc >= 4) {
        rc = db_merge(argc - 3, argv + 3, argv[2], &err);
        if (rc == HALO_ERR_ARG) { /* a usage error: a database merged into itself */
            halo_cli_print_err(&err);
            return HALO_EXIT_USAGE;
        }
    } else if ((strcmp(sub, "info") == 0 || strcmp(sub, "migrate") == 0) && argc == 2) {
        (void)fprintf(stderr, "halo: db %s: missing FILE (the results database)\n", sub);
        db_usage(stderr);
        return HALO_EXIT_USAGE;
    } else if (strcmp(sub, "merge") == 0 && argc < 4) {
        (void)fprintf(stderr, "halo: db merge: missing %s\n",
                      argc == 2 ? "DEST and SRC (databases)" : "SRC (a database to copy from)");
        db_usage(stderr);
        return HALO_EXIT_USAGE;
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
