/*
 * The results database through results/db.h: a simulated run of a tiny scenario
 * (scenarios/tiny-loss.yaml, point 0, run 0) is stored and read back; a run is stored once;
 * a read-only open writes nothing (the file's bytes are unchanged, and every write is
 * refused); merging copies only what is missing; bad paths and files give errors that name
 * them; a version-1 database is refused until migrated, and migrated keeps its runs and gets
 * a new database's schema. Measured runs (results/measured.h): a small harness directory
 * written here is imported once (percentiles, NULLs, counts), every bad input is named with
 * file:line (and column), and the views measured_cell and fidelity give, on a hand-made
 * case with simulated mirrors of tiny-loss, the numbers computed here from the stored values.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/db.h"
#include "results/db_internal.h"
#include "results/measured.h"
#include "results/report.h"
#include "results/sha256.h"
#include "sim/scenario.h"
#include "sim/simrun.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* One stored run: the scenario point, its result and its identity. */
typedef struct fixture {
    halo_scenario *sc;
    halo_sim_result r;
    char hash[65];
} fixture;

static void fixture_init(fixture *f) {
    halo_err err = {0};
    memset(f, 0, sizeof *f);
    ASSERT_OK_ERR(halo_scenario_load(&f->sc, tu_src_path("scenarios/tiny-loss.yaml"), 0, &err),
                  err);
    ASSERT_OK_ERR(halo_simrun(f->sc, 0, &f->r, &err), err);
    ASSERT(f->r.numerics);
    ASSERT(f->r.n_tokens > 0);
    halo_sha256_str(f->sc->text, f->hash);
}

static void fixture_free(fixture *f) {
    halo_sim_result_free(&f->r);
    halo_scenario_free(f->sc);
}

/* Stores the fixture's run into db; returns *inserted. */
static int store(halo_db *db, const fixture *f, halo_err *err) {
    halo_db_run_info info = {.scenario_hash = f->hash,
                             .started_at = "2024-01-01T00:00:00.000Z",
                             .finished_at = "2024-01-01T00:00:01.000Z"};
    int inserted = -1;
    int rc = halo_db_put_scenario(db, f->sc, f->hash, err);
    if (rc == HALO_OK)
        rc = halo_db_insert_run(db, f->sc, 0, &info, &f->r, NULL, NULL, &inserted, err);
    return rc == HALO_OK ? inserted : rc;
}

/* A new database file `name` (scratch) holding the fixture's run; returns its path. */
static const char *db_with_run(const fixture *f, const char *name) {
    const char *path = tu_tmp_path(name);
    halo_db *db = NULL;
    halo_err err = {0};
    if (halo_db_new(&db, path, HALO_DB_CREATE, &err) != HALO_OK || store(db, f, &err) != 1)
        TEST_FAIL_AT("%s: %s", path, err.msg);
    halo_db_free(db);
    return path;
}

static long count_runs(halo_db *db) {
    long n = -1;
    halo_err err = {0};
    ASSERT_OK_ERR(halo_db_count_runs(db, &n, &err), err);
    return n;
}

/* A single number from the database (the test looks behind the API to check the rows). */
static double query_number(halo_db *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    ASSERT_EQ(sqlite3_prepare_v2(halo__db_handle(db), sql, -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    double v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void created_db_stores_a_simulated_run_once(void) {
    fixture f;
    fixture_init(&f);
    const char *path = tu_tmp_path("a.db");
    halo_db *db = NULL;
    halo_err err = {0};
    ASSERT_OK(halo_db_new(&db, path, HALO_DB_CREATE, &err));
    ASSERT_EQ(count_runs(db), 0);
    ASSERT_EQ(store(db, &f, &err), 1);
    ASSERT_EQ(count_runs(db), 1);
    /* its rows, read back */
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM token"), f.r.n_tokens);
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM device_stat"), f.sc->n_devices);
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM layer_stat"), f.r.n_layers);
    ASSERT_NEAR(query_number(db, "SELECT mean_ms FROM run"), f.r.mean_ms, 1e-9);
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM run_axis"), 1); /* the loss axis */
    /* resume sees it: point 0, run 0 of 3 points x 1 run */
    unsigned char done[3] = {0};
    ASSERT_OK(halo_db_done_runs(db, f.hash, 3, 1, done, &err));
    ASSERT(done[0] == 1 && done[1] == 0 && done[2] == 0);
    /* the same run again: not stored twice, no error */
    ASSERT_EQ(store(db, &f, &err), 0);
    ASSERT_EQ(count_runs(db), 1);
    halo_db_info info;
    ASSERT_OK(halo_db_get_info(db, &info, &err));
    ASSERT_EQ(info.version, HALO_DB_VERSION);
    ASSERT_EQ(info.n_scenarios, 1);
    ASSERT(strcmp(info.scenarios[0].name, "tiny-loss") == 0);
    ASSERT(strcmp(info.scenarios[0].hash, f.hash) == 0);
    ASSERT(strcmp(info.scenarios[0].kind, "numerics") == 0);
    ASSERT_EQ(info.scenarios[0].n_runs, 1);
    ASSERT_EQ(info.scenarios[0].n_points, 1);
    halo_db_info_free(&info);
    halo_db_free(db);
    fixture_free(&f);
}

static void read_only_open_writes_nothing(void) {
    fixture f;
    fixture_init(&f);
    const char *path = db_with_run(&f, "ro.db");
    halo_db *db = NULL;
    halo_err err = {0};
    size_t n_before, n_after;
    unsigned char *before = tu_read_file(path, &n_before);

    ASSERT_OK(halo_db_new(&db, path, HALO_DB_READ, &err));
    ASSERT_EQ(count_runs(db), 1);
    /* the write functions refuse it */
    err = (halo_err){0};
    ASSERT_EQ(halo_db_put_scenario(db, f.sc, f.hash, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "read-only");
    ASSERT_STR_CONTAINS(err.msg, path);
    halo_db_run_info info = {.scenario_hash = f.hash, .started_at = "", .finished_at = ""};
    int inserted = -1;
    f.sc->point = 1; /* a run the database does not have */
    ASSERT_EQ(halo_db_insert_run(db, f.sc, 0, &info, &f.r, NULL, NULL, &inserted, &err),
              HALO_ERR_ARG);
    ASSERT_EQ(inserted, 0);
    long copied = -1, skipped = -1;
    ASSERT_EQ(halo_db_merge(db, path, &copied, &skipped, NULL, &err), HALO_ERR_ARG);
    /* and so does the connection itself */
    ASSERT(sqlite3_exec(halo__db_handle(db), "DELETE FROM token", NULL, NULL, NULL) != SQLITE_OK);
    ASSERT_EQ(count_runs(db), 1);
    halo_db_free(db);

    unsigned char *after = tu_read_file(path, &n_after);
    ASSERT_EQ(n_after, n_before);
    ASSERT(memcmp(before, after, n_before) == 0);
    free(before);
    free(after);
    /* a missing database is not created by a read-only open */
    const char *missing = tu_tmp_path("missing.db");
    ASSERT_EQ(halo_db_new(&db, missing, HALO_DB_READ, &err), HALO_ERR_IO);
    ASSERT(db == NULL);
    ASSERT_STR_CONTAINS(err.msg, "no such database");
    ASSERT(access(missing, F_OK) != 0);
    fixture_free(&f);
}

static void merge_copies_only_missing_runs(void) {
    fixture f;
    fixture_init(&f);
    const char *src = db_with_run(&f, "src.db"), *dst = tu_tmp_path("dst.db");
    halo_db *b = NULL;
    halo_err err = {0};
    ASSERT_OK(halo_db_new(&b, dst, HALO_DB_CREATE, &err));
    long copied = -1, skipped = -1;
    ASSERT_OK(halo_db_merge(b, src, &copied, &skipped, NULL, &err));
    ASSERT(copied == 1 && skipped == 0);
    ASSERT_EQ(count_runs(b), 1);
    ASSERT_EQ(query_number(b, "SELECT count(*) FROM token"), f.r.n_tokens);
    ASSERT_OK(halo_db_merge(b, src, &copied, &skipped, NULL, &err));
    ASSERT(copied == 0 && skipped == 1);
    ASSERT_EQ(count_runs(b), 1);
    halo_db_free(b);
    fixture_free(&f);
}

static void bad_paths_and_files_give_clear_errors(void) {
    halo_db *db = NULL;
    halo_err err = {0};
    /* a directory that does not exist: named, and nothing created */
    const char *nodir = tu_tmp_path("no/such/dir/x.db");
    ASSERT_EQ(halo_db_new(&db, nodir, HALO_DB_CREATE, &err), HALO_ERR_IO);
    ASSERT(db == NULL);
    ASSERT_STR_CONTAINS(err.msg, nodir);
    ASSERT_STR_CONTAINS(err.msg, "directory does not exist");
    ASSERT(access(tu_tmp_path("no"), F_OK) != 0);
    /* a directory where the file should be */
    const char *dir = tu_tmp_path("");
    ASSERT_EQ(halo_db_new(&db, dir, HALO_DB_CREATE, &err), HALO_ERR_IO);
    ASSERT_STR_CONTAINS(err.msg, "not a regular file");
    /* a file that is not SQLite, left as it was */
    const char *garbage = tu_tmp_path("garbage.db");
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    tu_write_file(garbage, junk, sizeof junk);
    err = (halo_err){0};
    ASSERT_EQ(halo_db_new(&db, garbage, HALO_DB_CREATE, &err), HALO_ERR_FORMAT);
    ASSERT(db == NULL);
    ASSERT_STR_CONTAINS(err.msg, garbage);
    size_t n;
    unsigned char *back = tu_read_file(garbage, &n);
    ASSERT(n == sizeof junk && memcmp(back, junk, n) == 0);
    free(back);
    /* a newer schema version is refused, naming both versions */
    const char *newer = tu_tmp_path("newer.db");
    sqlite3 *raw = NULL;
    ASSERT_EQ(sqlite3_open(newer, &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE t(x); PRAGMA user_version = 99", NULL, NULL, NULL),
              SQLITE_OK);
    (void)sqlite3_close(raw);
    ASSERT_EQ(halo_db_new(&db, newer, HALO_DB_READ, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "schema version 99 is newer");
}

/* ==== Schema versions ==== */

/* Every object of the schema (type, name, table, SQL) as one text. */
static char *schema_text(halo_db *db) {
    sqlite3_stmt *st = NULL;
    ASSERT_EQ(sqlite3_prepare_v2(halo__db_handle(db),
                                 "SELECT type || '|' || name || '|' || tbl_name || '|' || "
                                 "coalesce(sql, '') FROM sqlite_master ORDER BY type, name",
                                 -1, &st, NULL),
              SQLITE_OK);
    size_t cap = 1 << 16, used = 0;
    char *text = calloc(1, cap);
    ASSERT(text != NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *row = (const char *)sqlite3_column_text(st, 0);
        size_t n = strlen(row);
        ASSERT(used + n + 2 < cap);
        memcpy(text + used, row, n);
        used += n;
        text[used++] = '\n';
    }
    sqlite3_finalize(st);
    return text;
}

static void version_1_database_is_refused_then_migrated(void) {
    fixture f;
    fixture_init(&f);
    char path[4096], fresh[4096];
    (void)snprintf(path, sizeof path, "%s", tu_tmp_path("v1.db"));
    (void)snprintf(fresh, sizeof fresh, "%s", tu_tmp_path("v2.db"));
    halo_db *db = NULL;
    halo_err err = {0};
    /* a version-1 database: a new one without what versions 2 to 4 added, with a run */
    ASSERT_OK(halo_db_new(&db, path, HALO_DB_CREATE, &err));
    ASSERT_EQ(store(db, &f, &err), 1);
    halo_db_free(db);
    sqlite3 *raw = NULL;
    ASSERT_EQ(sqlite3_open(path, &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw,
                           "DROP VIEW speedup; DROP VIEW fidelity; DROP VIEW latest_run; "
                           "ALTER TABLE scenario DROP COLUMN last_seen; "
                           "ALTER TABLE run DROP COLUMN packets_lost; "
                           "ALTER TABLE run DROP COLUMN queue_drops; "
                           "ALTER TABLE device_stat DROP COLUMN queue_drops; "
                           "DROP INDEX run_identity; ALTER TABLE run DROP COLUMN copied_from; "
                           "ALTER TABLE run DROP COLUMN resolved; "
                           "ALTER TABLE run DROP COLUMN point_hash; "
                           "DROP VIEW measured_cell; "
                           "DROP TABLE measured_replan; DROP TABLE measured_token; "
                           "DROP TABLE measured_run; "
                           "CREATE VIEW latest_run AS SELECT r.* FROM run r WHERE "
                           "r.scenario_hash = (SELECT s.hash FROM scenario s WHERE s.name = "
                           "r.scenario_name ORDER BY s.first_seen DESC, s.rowid DESC LIMIT 1); "
                           "PRAGMA user_version = 1",
                           NULL, NULL, NULL),
              SQLITE_OK);
    (void)sqlite3_close(raw);
    /* refused for reading and for writing, naming the command that migrates */
    ASSERT_EQ(halo_db_new(&db, path, HALO_DB_READ, &err), HALO_ERR_FORMAT);
    ASSERT(db == NULL);
    ASSERT_STR_CONTAINS(err.msg, "schema version 1 is older than this halo's 5");
    ASSERT_STR_CONTAINS(err.msg, "halo db migrate");
    ASSERT_EQ(halo_db_new(&db, path, HALO_DB_CREATE, &err), HALO_ERR_FORMAT);
    /* migrated: its run kept, and the schema of a new database, object for object */
    ASSERT_OK(halo_db_new(&db, path, HALO_DB_MIGRATE, &err));
    ASSERT_EQ(count_runs(db), 1);
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM token"), f.r.n_tokens);
    ASSERT_EQ(query_number(db, "PRAGMA user_version"), HALO_DB_VERSION);
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM measured_run"), 0);
    char *migrated = schema_text(db);
    halo_db_free(db);
    ASSERT_OK(halo_db_new(&db, fresh, HALO_DB_CREATE, &err));
    char *created = schema_text(db);
    halo_db_free(db);
    ASSERT_STR_CONTAINS(created, "view|fidelity|fidelity|");
    ASSERT_STR_CONTAINS(created, "view|speedup|speedup|");
    if (strcmp(migrated, created) != 0)
        TEST_FAIL_AT("migrated schema differs from a new one:\n%s\n--- new:\n%s", migrated,
                     created);
    free(migrated);
    free(created);
    /* and it opens read-only now */
    ASSERT_OK(halo_db_new(&db, path, HALO_DB_READ, &err));
    ASSERT_EQ(count_runs(db), 1);
    halo_db_free(db);
    fixture_free(&f);
}

/* ==== Measured runs ==== */

static const char runs_header[] = HALO_MEASURED_RUNS_HEADER "\n";
static const char samples_header[] = HALO_MEASURED_SAMPLES_HEADER "\n";

/*
 * The hand-made measurement: halo-strict/S/4/0 twice (means 10 and 12), halo-strict/S/4/0.01
 * ok (20), failed after 2 tokens (30) and timed out without tokens, dllama/S/4/0.01 once.
 * Nearest-rank percentiles, index round(q * (n - 1)): of 8 9 11 12, p50 11 and p90 12.
 */
static const char fixture_runs[] =
    HALO_MEASURED_RUNS_HEADER "\n"
                              "halo-strict,S,0,4,1,4,10.0000,1000,0,0.00,10.1,2,ok\n"
                              "halo-strict,S,0,4,2,4,12.0000,1000,0,0.00,12.2,2,ok\n"
                              "halo-strict,S,0.01,4,1,4,20.0000,1000,10,,,3,ok\n"
                              "halo-strict,S,0.01,4,2,2,30.0000,500,5,,,4,failed\n"
                              "halo-strict,S,0.01,4,3,0,0.0000,0,0,,,1,timeout\n"
                              "dllama,S,0.01,4,1,1,50.0000,100,1,,49.5,1,ok\n";

static const char fixture_samples[] =
    HALO_MEASURED_SAMPLES_HEADER "\n"
                                 "halo-strict,S,0,4,1,1,8.0000\n"
                                 "halo-strict,S,0,4,1,2,12.0000\n"
                                 "halo-strict,S,0,4,1,3,9.0000\n"
                                 "halo-strict,S,0,4,1,4,11.0000\n"
                                 "halo-strict,S,0,4,2,1,10.0000\n"
                                 "halo-strict,S,0,4,2,2,11.0000\n"
                                 "halo-strict,S,0,4,2,3,13.0000\n"
                                 "halo-strict,S,0,4,2,4,14.0000\n"
                                 "halo-strict,S,0.01,4,1,1,5.0000\n"
                                 "halo-strict,S,0.01,4,1,2,15.0000\n"
                                 "halo-strict,S,0.01,4,1,3,25.0000\n"
                                 "halo-strict,S,0.01,4,1,4,35.0000\n"
                                 "halo-strict,S,0.01,4,2,1,20.0000\n"
                                 "halo-strict,S,0.01,4,2,2,40.0000\n"
                                 "dllama,S,0.01,4,1,1,50.0000\n";

/* Writes a harness directory `name` with the two files; returns its path (static). */
static const char *write_dir(const char *name, const char *runs, const char *samples) {
    static char dir[4096];
    char file[4200];
    (void)snprintf(dir, sizeof dir, "%s", tu_tmp_path(name));
    (void)mkdir(dir, 0755);
    (void)snprintf(file, sizeof file, "%s/runs.csv", dir);
    tu_write_file(file, runs, strlen(runs));
    (void)snprintf(file, sizeof file, "%s/samples.csv", dir);
    tu_write_file(file, samples, strlen(samples));
    return dir;
}

/* A number from the database for `sql` with ?1 bound to `text`; NAN for NULL. */
static double query_value(halo_db *db, const char *sql, const char *text) {
    sqlite3_stmt *st = NULL;
    ASSERT_EQ(sqlite3_prepare_v2(halo__db_handle(db), sql, -1, &st, NULL), SQLITE_OK);
    if (text)
        (void)sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    double v =
        sqlite3_column_type(st, 0) == SQLITE_NULL ? (double)NAN : sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void measured_runs_are_imported_once(void) {
    char dir[4096], path[4096];
    (void)snprintf(dir, sizeof dir, "%s", write_dir("gt", fixture_runs, fixture_samples));
    (void)snprintf(path, sizeof path, "%s", tu_tmp_path("m.db"));
    halo_err err = {0};
    halo_measured *m = NULL;
    ASSERT_OK(halo_measured_load(&m, dir, &err));
    ASSERT_EQ(halo_measured_n_runs(m), 6);
    ASSERT_EQ(halo_measured_n_tokens(m), 15);
    halo_db *db = NULL;
    ASSERT_OK(halo_db_new(&db, path, HALO_DB_CREATE, &err));
    halo_measured_counts k;
    ASSERT_OK(halo_measured_import(db, m, "gt-test", "pi-lab", dir, &k, &err));
    ASSERT(k.n_runs == 6 && k.n_imported == 6 && k.n_present == 0);
    ASSERT(k.n_tokens_new == 15 && k.n_tokens_present == 0);
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM measured_token"), 15);
    /* the stored run: the CSV's values, percentiles from its samples, NULL for unknowns */
    static const char one[] = "SELECT %s FROM measured_run WHERE cell = ?1 AND run = 1";

    static const struct {
        const char *col, *cell;
        double want; /* NAN: NULL */
    } want[] = {
        {"mean_ms", "halo-strict/S/4/0", 10},     {"p50_ms", "halo-strict/S/4/0", 11},
        {"p90_ms", "halo-strict/S/4/0", 12},      {"max_ms", "halo-strict/S/4/0", 12},
        {"tokens", "halo-strict/S/4/0", 4},       {"nodes", "halo-strict/S/4/0", 4},
        {"loss", "halo-strict/S/4/0.01", 0.01},   {"drop_rate", "halo-strict/S/4/0.01", 0.01},
        {"missing_pct", "halo-strict/S/4/0", 0},  {"missing_pct", "halo-strict/S/4/0.01", NAN},
        {"self_ms", "halo-strict/S/4/0.01", NAN}, {"self_ms", "dllama/S/4/0.01", 49.5},
        {"wall_s", "halo-strict/S/4/0.01", 3},    {"p90_ms", "halo-strict/S/4/0.01", 35},
        {"p50_ms", "halo-strict/S/4/0.01", 25},   {"frames", "dllama/S/4/0.01", 100},
    };

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char sql[256];
        (void)snprintf(sql, sizeof sql, one, want[i].col);
        double got = query_value(db, sql, want[i].cell);
        if (isnan(want[i].want) ? !isnan(got) : !(fabs(got - want[i].want) < 1e-12))
            TEST_FAIL_AT("%s of %s run 1: %g, expected %g", want[i].col, want[i].cell, got,
                         want[i].want);
    }
    /* the run that timed out without tokens: no mean, no percentiles, no drop rate */
    ASSERT(isnan(query_value(db,
                             "SELECT coalesce(mean_ms, p50_ms, p90_ms, max_ms, drop_rate) FROM "
                             "measured_run WHERE cell = ?1 AND run = 3",
                             "halo-strict/S/4/0.01")));
    ASSERT_EQ(query_value(db,
                          "SELECT count(*) FROM measured_run WHERE harness = 'gt-test' AND "
                          "host = 'pi-lab' AND source = ?1 AND imported_at LIKE '20%Z'",
                          dir),
              6);
    /* again: nothing added; the same directory with a trailing slash is the same source */
    ASSERT_OK(halo_measured_import(db, m, "gt-test", "pi-lab", dir, &k, &err));
    ASSERT(k.n_imported == 0 && k.n_present == 6 && k.n_tokens_present == 15);
    char slash[4200];
    (void)snprintf(slash, sizeof slash, "%s//", dir);
    ASSERT_OK(halo_measured_import(db, m, "gt-test", "pi-lab", slash, &k, &err));
    ASSERT(k.n_imported == 0 && k.n_present == 6);
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM measured_run"), 6);
    /* another harness name is another measurement */
    ASSERT_OK(halo_measured_import(db, m, "other", NULL, dir, &k, &err));
    ASSERT(k.n_imported == 6 && k.n_present == 0);
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM measured_token"), 30);
    halo_measured_free(m);
    /* a new measurement written into the same directory is refused, nothing written */
    char changed[sizeof fixture_runs];
    memcpy(changed, fixture_runs, sizeof changed);
    char *at = strstr(changed, "10.0000,1000");
    ASSERT(at != NULL);
    memcpy(at, "10.0001", 7);
    (void)write_dir("gt", changed, fixture_samples);
    ASSERT_OK(halo_measured_load(&m, dir, &err));
    err = (halo_err){0};
    ASSERT_EQ(halo_measured_import(db, m, "gt-test", "pi-lab", dir, &k, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "runs.csv:2: halo-strict/S/4/0 run 1 is already in");
    ASSERT_STR_CONTAINS(err.msg, "other values");
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM measured_run"), 12);
    /* a bad harness name; a read-only database */
    ASSERT_EQ(halo_measured_import(db, m, "a b", NULL, dir, &k, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "harness name 'a b'");
    halo_db_free(db);
    ASSERT_OK(halo_db_new(&db, path, HALO_DB_READ, &err));
    ASSERT_EQ(halo_measured_import(db, m, "new", NULL, dir, &k, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "read-only");
    halo_db_free(db);
    halo_measured_free(m);
}

static void measured_bad_inputs_are_named_with_file_line(void) {
    /* runs.csv line 3 is the case's line (after the header and a good line) */
    static const char good[] = "halo-strict,S,0,4,1,1,10.0000,10,0,,,1,ok\n";
    static const char good_sample[] = "halo-strict,S,0,4,1,1,10.0000\n";

    static const struct {
        const char *runs_line;   /* runs.csv line 3, or NULL: none */
        const char *sample_line; /* samples.csv line 3, or NULL: none */
        const char *needle;
    } cases[] = {
        {"halo-strict,S,0,4,2,1,10.0000,10,0,,,1\n", NULL, "runs.csv:3: 12 columns, expected 13"},
        {"halo-strict,S,0,4,2,1,10.0000,10,0,,,1,ok,x\n", NULL,
         "runs.csv:3: 14 columns, expected 13"},
        {"halo-strict,S,0,4,2,1,abc,10,0,,,1,ok\n", NULL,
         "runs.csv:3: column 7 (ms_mean): expected a number, got 'abc'"},
        {"halo-strict,S,0,4,2,1,10.0000,-3,0,,,1,ok\n", NULL,
         "runs.csv:3: column 8 (frames): -3 is negative"},
        {"halo-strict,S,0,4,2,1,10.0000,10,11,,,1,ok\n", NULL,
         "runs.csv:3: column 9 (dropped): 11 dropped of 10 frames"},
        {"halo-strict,S,0,4,2,1,-1,10,0,,,1,ok\n", NULL,
         "runs.csv:3: column 7 (ms_mean): -1 is negative"},
        {"halo-strict,S,0,4,2,1.5,10.0000,10,0,,,1,ok\n", NULL,
         "runs.csv:3: column 6 (tokens): expected an integer, got '1.5'"},
        {"halo-strict,S,0,0,2,1,10.0000,10,0,,,1,ok\n", NULL,
         "runs.csv:3: column 4 (nodes): 0 is not in [1,"},
        {"halo-strict,S,1.5,4,2,1,10.0000,10,0,,,1,ok\n", NULL,
         "runs.csv:3: column 3 (loss): 1.5 is not in [0, 1]"},
        {"halo-strict,S,0,4,2,1,10.0000,10,0,101,,1,ok\n", NULL,
         "runs.csv:3: column 10 (missing_pct): 101 is not in [0, 100]"},
        {"halo-strict,S,0,4,2,1,10.0000,10,0,,x,1,ok\n", NULL,
         "runs.csv:3: column 11 (self_ms): expected a number, got 'x'"},
        {"halo-strict,S,0,4,2,1,10.0000,10,0,,,,ok\n", NULL,
         "runs.csv:3: column 12 (wall_s): expected a number, got ''"},
        {"halo-strict,S,0,4,2,1,10.0000,10,0,,,1,fail\n", NULL,
         "runs.csv:3: column 13 (status): 'fail' is not one of ok, failed, timeout"},
        {"halo strict,S,0,4,2,1,10.0000,10,0,,,1,ok\n", NULL,
         "runs.csv:3: column 1 (system): expected a name"},
        {"halo-strict,,0,4,2,1,10.0000,10,0,,,1,ok\n", NULL,
         "runs.csv:3: column 2 (model): expected a name"},
        {"\"halo-strict\",S,0,4,2,1,10.0000,10,0,,,1,ok\n", NULL, "runs.csv:3: a quote"},
        {"\nhalo-strict,S,0,4,2,1,10.0000,10,0,,,1,ok\n", NULL, "runs.csv:3: empty line"},
        {"halo-strict,S,0,4,1,1,10.0000,10,0,,,1,ok\n", NULL,
         "runs.csv:3: halo-strict/S/4/0 run 1 is listed twice (also line 2)"},
        {"halo-strict,S,0,4,2,1,10.0000,10,0,,,1,ok\n", NULL,
         "runs.csv:3: halo-strict/S/4/0 run 2: tokens 1, but"},
        {NULL, "halo-strict,S,0,4,9,1,10.0000\n",
         "samples.csv:3: no run halo-strict/S/4/0 run 9 in"},
        {NULL, "halo-strict,S,0.0,4,1,2,10.0000\n",
         "samples.csv:3: no run halo-strict/S/4/0.0 run 1"},
        {NULL, "halo-strict,S,0,4,1,1,10.0000\n",
         "samples.csv:3: idx 1 of halo-strict/S/4/0 run 1 is listed twice (also line 2)"},
        {NULL, "halo-strict,S,0,4,1,2,-0.5\n", "samples.csv:3: column 7 (ms): -0.5 is negative"},
        {NULL, "halo-strict,S,0,4,1,x,1\n", "samples.csv:3: column 6 (idx): expected an integer"},
        {NULL, "halo-strict,S,0,4,1,2\n", "samples.csv:3: 6 columns, expected 7"},
        {NULL, "halo-strict,S,0,4,1,2,10.0000\n",
         "runs.csv:2: halo-strict/S/4/0 run 1: tokens 1, but"},
    };

    halo_err err = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char runs[512], samples[512];
        (void)snprintf(runs, sizeof runs, "%s%s%s", runs_header, good,
                       cases[i].runs_line ? cases[i].runs_line : "");
        (void)snprintf(samples, sizeof samples, "%s%s%s", samples_header, good_sample,
                       cases[i].sample_line ? cases[i].sample_line : "");
        const char *dir = write_dir("bad", runs, samples);
        halo_measured *m = (halo_measured *)&err; /* set to NULL on failure */
        err = (halo_err){0};
        int rc = halo_measured_load(&m, dir, &err);
        if (rc != HALO_ERR_FORMAT || m != NULL || !strstr(err.msg, cases[i].needle))
            TEST_FAIL_AT("case %zu: status %d, message '%s', expected '%s'", i, rc, err.msg,
                         cases[i].needle);
        ASSERT_STR_CONTAINS(err.msg, dir); /* the file is named with its directory */
    }

    /* headers: a wrong column, a wrong count, an empty file; missing files */
    static const struct {
        const char *runs, *samples, *needle;
    } files[] = {
        {"system,model,loss,nodes,run,tokens,ms_mean,frames,dropped,missing_pct,self_ms,status,"
         "wall_s\n",
         samples_header, "runs.csv:1: column 12 is 'status', expected 'wall_s'"},
        {"system,model,loss,nodes,run,tokens,ms_mean,frames,dropped,missing_pct,self_ms,status\n",
         samples_header, "runs.csv:1: the header has 12 columns, expected 13"},
        {"", samples_header, "runs.csv: empty; expected the header"},
        {runs_header, "system,model,loss,nodes,run,i,ms\n",
         "samples.csv:1: column 6 is 'i', expected 'idx'"},
        {"\xef\xbb\xbfsystem,model\n", samples_header, "runs.csv:1: the header has 2 columns"},
    };

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *dir = write_dir("hdr", files[i].runs, files[i].samples);
        halo_measured *m = NULL;
        err = (halo_err){0};
        int rc = halo_measured_load(&m, dir, &err);
        if (rc != HALO_ERR_FORMAT || !strstr(err.msg, files[i].needle))
            TEST_FAIL_AT("header case %zu: status %d, message '%s', expected '%s'", i, rc, err.msg,
                         files[i].needle);
    }
    const char *dir = tu_tmp_path("none");
    halo_measured *m = NULL;
    ASSERT_EQ(halo_measured_load(&m, dir, &err), HALO_ERR_IO);
    ASSERT_STR_CONTAINS(err.msg, "none/runs.csv");
    /* a header alone is a valid, empty measurement; CRLF line ends are read as LF */
    dir = write_dir("empty", runs_header, samples_header);
    ASSERT_OK(halo_measured_load(&m, dir, &err));
    ASSERT_EQ(halo_measured_n_runs(m), 0);
    halo_measured_free(m);
    dir = write_dir("crlf", HALO_MEASURED_RUNS_HEADER "\r\nhalo,S,0,1,1,1,0.5000,0,0,,,0,ok\r\n",
                    HALO_MEASURED_SAMPLES_HEADER "\r\nhalo,S,0,1,1,1,0.5000\r\n\r\n");
    ASSERT_OK(halo_measured_load(&m, dir, &err));
    ASSERT_EQ(halo_measured_n_tokens(m), 1);
    halo_measured_free(m);
    /* the mean written and the samples' mean disagree: files of two measurements */
    dir = write_dir("mixed", HALO_MEASURED_RUNS_HEADER "\nhalo,S,0,1,1,2,0.5000,0,0,,,0,ok\n",
                    HALO_MEASURED_SAMPLES_HEADER "\nhalo,S,0,1,1,1,0.5000\nhalo,S,0,1,1,2,0.7\n");
    ASSERT_EQ(halo_measured_load(&m, dir, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "runs.csv:2: halo/S/1/0 run 1: ms_mean 0.5000, but its 2 samples");
}

/* Stores tiny-loss point `point` (one run) as the scenario named `name`. */
static void store_mirror(halo_db *db, long point, const char *name, double *mean_ms,
                         double *p90_ms) {
    halo_err err = {0};
    halo_scenario *sc = NULL;
    halo_sim_result r;
    ASSERT_OK_ERR(halo_scenario_load(&sc, tu_src_path("scenarios/tiny-loss.yaml"), point, &err),
                  err);
    ASSERT_OK_ERR(halo_simrun(sc, 0, &r, &err), err);
    free(sc->name);
    sc->name = strdup(name);
    ASSERT(sc->name != NULL);
    /* a distinct text per name, as the mirroring script writes one file per cell */
    char hash[65], *text = malloc(strlen(sc->text) + strlen(name) + 2);
    ASSERT(text != NULL);
    (void)sprintf(text, "%s\n%s", name, sc->text);
    halo_sha256_str(text, hash);
    free(text);
    halo_db_run_info info = {.scenario_hash = hash,
                             .started_at = "2024-01-01T00:00:00.000Z",
                             .finished_at = "2024-01-01T00:00:01.000Z"};
    int inserted = 0;
    ASSERT_OK(halo_db_put_scenario(db, sc, hash, &err));
    ASSERT_OK(halo_db_insert_run(db, sc, 0, &info, &r, NULL, NULL, &inserted, &err));
    ASSERT_EQ(inserted, 1);
    *mean_ms = r.mean_ms;
    *p90_ms = r.p90_ms;
    halo_sim_result_free(&r);
    halo_scenario_free(sc);
}

/* Column `col` of the view `view` for `cell`; NAN for NULL. */
static double view_value(halo_db *db, const char *view, const char *col, const char *cell) {
    char sql[256];
    (void)snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE cell = ?1", col, view);
    return query_value(db, sql, cell);
}

/*
 * Writes the harness directory `name` with `runs` and `samples` (write_dir), imports it into
 * a new database at the scratch file `db_name` (whose path goes to path[cap]), checks that
 * `n_imported` runs were imported, and returns that database open; the caller frees it.
 */
static halo_db *import_new_db(const char *name, const char *runs, const char *samples,
                              const char *db_name, int n_imported, char *path, size_t cap) {
    char dir[4096];
    (void)snprintf(dir, sizeof dir, "%s", write_dir(name, runs, samples));
    (void)snprintf(path, cap, "%s", tu_tmp_path(db_name));
    halo_err err = {0};
    halo_measured_counts k;
    ASSERT_OK(halo_measured_import_dir(path, dir, NULL, NULL, &k, &err));
    ASSERT_EQ(k.n_imported, n_imported);
    halo_db *db = NULL;
    ASSERT_OK(halo_db_new(&db, path, HALO_DB_CREATE, &err));
    return db;
}

/*
 * Writes the fidelity report of the database at `db_path` (every harness) to the scratch
 * file `md_name` (whose path goes to out_path[cap]), its counts to *c, and returns its text,
 * NUL-terminated, with its length in *n; the caller frees it.
 */
static char *fidelity_report_text(const char *db_path, const char *md_name, char *out_path,
                                  size_t cap, halo_report_fidelity_counts *c, size_t *n) {
    (void)snprintf(out_path, cap, "%s", tu_tmp_path(md_name));
    FILE *out = fopen(out_path, "w");
    ASSERT(out != NULL);
    halo_err err = {0};
    ASSERT_OK(halo_report_fidelity(out, db_path, NULL, c, &err));
    ASSERT_EQ(fclose(out), 0);
    return (char *)tu_read_file(out_path, n);
}

static void fidelity_view_compares_measured_and_simulated(void) {
    char path[4096];
    halo_db *db = import_new_db("gt2", fixture_runs, fixture_samples, "f.db", 6, path, sizeof path);
    halo_err err = {0};
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM measured_run WHERE harness = "
                               "'" HALO_MEASURED_DEFAULT_HARNESS "'"),
              6);
    /* measured cells, from the stored runs: the run that timed out without tokens is not
       counted, the one that failed after two tokens is */
    static const char loss0[] = "halo-strict/S/4/0", loss1[] = "halo-strict/S/4/0.01";
    ASSERT_NEAR(view_value(db, "measured_cell", "measured_mean_ms", loss0), 11, 1e-12);
    ASSERT_NEAR(view_value(db, "measured_cell", "measured_p90_ms", loss0), 13, 1e-12);
    ASSERT(isnan(view_value(db, "measured_cell", "measured_cost_ms", loss0)));
    ASSERT_NEAR(view_value(db, "measured_cell", "runs", loss1), 3, 0);
    ASSERT_NEAR(view_value(db, "measured_cell", "failed_runs", loss1), 2, 0);
    ASSERT_NEAR(view_value(db, "measured_cell", "measured_runs", loss1), 2, 0);
    ASSERT_NEAR(view_value(db, "measured_cell", "measured_tokens", loss1), 6, 0);
    ASSERT_NEAR(view_value(db, "measured_cell", "measured_mean_ms", loss1), 25, 1e-12);
    ASSERT_NEAR(view_value(db, "measured_cell", "measured_run_min_ms", loss1), 20, 0);
    ASSERT_NEAR(view_value(db, "measured_cell", "measured_run_max_ms", loss1), 30, 0);
    ASSERT_NEAR(view_value(db, "measured_cell", "measured_p90_ms", loss1), 37.5, 1e-12);
    ASSERT_NEAR(view_value(db, "measured_cell", "measured_cost_ms", loss1), 14, 1e-12);
    ASSERT(isnan(view_value(db, "measured_cell", "measured_cost_ms", "dllama/S/4/0.01")));
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM fidelity"), 0); /* no mirrors yet */
    /* the mirrors: tiny-loss at loss 0 and 1% */
    double s0, q0, s1, q1;
    store_mirror(db, 0, "mirror/halo-strict/S/4/0", &s0, &q0);
    store_mirror(db, 1, "mirror/halo-strict/S/4/0.01", &s1, &q1);
    ASSERT(s1 > s0 && s0 > 0);
    ASSERT_EQ(query_number(db, "SELECT count(*) FROM fidelity"), 2); /* dllama has none */
    ASSERT_NEAR(view_value(db, "fidelity", "simulated_runs", loss1), 1, 0);
    ASSERT_NEAR(view_value(db, "fidelity", "simulated_mean_ms", loss1), s1, 1e-9);
    ASSERT_NEAR(view_value(db, "fidelity", "simulated_p90_ms", loss1), q1, 1e-9);
    ASSERT_NEAR(view_value(db, "fidelity", "error_pct", loss0), (s0 - 11) / 11 * 100, 1e-9);
    ASSERT_NEAR(view_value(db, "fidelity", "error_pct", loss1), (s1 - 25) / 25 * 100, 1e-9);
    ASSERT_NEAR(view_value(db, "fidelity", "p90_error_pct", loss1), (q1 - 37.5) / 37.5 * 100, 1e-9);
    ASSERT_NEAR(view_value(db, "fidelity", "measured_cost_ms", loss1), 14, 1e-12);
    ASSERT_NEAR(view_value(db, "fidelity", "simulated_cost_ms", loss1), s1 - s0, 1e-9);
    ASSERT_NEAR(view_value(db, "fidelity", "cost_error_pct", loss1), ((s1 - s0) - 14) / 14 * 100,
                1e-9);
    ASSERT(isnan(view_value(db, "fidelity", "cost_error_pct", loss0)));
    ASSERT(isnan(view_value(db, "fidelity", "simulated_cost_ms", loss0)));
    halo_db_info info;
    ASSERT_OK(halo_db_get_info(db, &info, &err));
    ASSERT_EQ(info.n_measured_runs, 6);
    ASSERT_EQ(info.n_measured, 1);
    ASSERT_EQ(info.measured[0].n_cells, 3);
    ASSERT_EQ(info.measured[0].n_tokens, 15);
    ASSERT_EQ(info.measured[0].n_mirrored, 2);
    ASSERT_STR_CONTAINS(info.measured[0].source, "gt2");
    halo_db_info_free(&info);
    halo_db_free(db);
    /* the report: one row per measured cell, the dllama cell without a mirror */
    char out_path[4096];
    halo_report_fidelity_counts counts;
    size_t n;
    char *md = fidelity_report_text(path, "fidelity.md", out_path, sizeof out_path, &counts, &n);
    ASSERT_EQ(counts.n_cells, 2);
    ASSERT_EQ(counts.n_unmirrored, 1);
    /* two runs each (the failed one counted): intervals wider than +-25%, both undecided */
    ASSERT_EQ(counts.n_undecided, 2);
    ASSERT_STR_CONTAINS(md, "| S | dllama | 4 | 1% | 50.00 (50.00-50.00) | - | - | - |");
    ASSERT_STR_CONTAINS(md, "| S | halo-strict | 4 | 1% | 25.00 (20.00-30.00; 2 of 3 runs failed)");
    char last[256];
    (void)snprintf(last, sizeof last,
                   "Within 25%% (mean and cost of loss): %d of 2 cells with a simulated mirror; 1 "
                   "measured cells without one. With the measured intervals: 0 within, 0 "
                   "outside, 2 undecided.\n",
                   counts.n_within);
    ASSERT(n >= strlen(last) && strcmp(md + n - strlen(last), last) == 0);
    free(md);
    /* no runs of a harness */
    FILE *out = fopen(out_path, "w");
    ASSERT(out != NULL);
    ASSERT_EQ(halo_report_fidelity(out, path, "nope", NULL, &err), HALO_ERR_FORMAT);
    ASSERT_EQ(fclose(out), 0);
    ASSERT_STR_CONTAINS(err.msg, "no measured runs of harness 'nope' (there: ground-truth)");
}

/* Runs of known means, one token each (its interval is the run's mean). */
static const char spread_runs[] =
    HALO_MEASURED_RUNS_HEADER "\n"
                              "halo-strict,S,0,2,1,1,100.0000,1000,0,,,1,ok\n"
                              "halo-strict,S,0,2,2,1,100.0000,1000,0,,,1,ok\n"
                              "halo-strict,S,0,2,3,1,100.0000,1000,0,,,1,ok\n"
                              "halo-strict,S,0.01,2,1,1,150.0000,1000,10,,,1,ok\n"
                              "halo-strict,S,0.01,2,2,1,160.0000,1000,10,,,1,ok\n"
                              "halo-strict,S,0.01,2,3,1,170.0000,1000,10,,,1,ok\n"
                              "halo-strict,S,0.02,2,1,1,290.0000,1000,20,,,1,ok\n"
                              "halo-strict,S,0.02,2,2,1,300.0000,1000,20,,,1,ok\n"
                              "halo-strict,S,0.02,2,3,1,310.0000,1000,20,,,1,ok\n"
                              "halo-strict,S,0.05,2,1,1,590.0000,1000,50,,,1,ok\n"
                              "halo-strict,S,0.05,2,2,1,600.0000,1000,50,,,1,ok\n"
                              "halo-strict,S,0.05,2,3,1,610.0000,1000,50,,,1,ok\n"
                              "halo-udp,S,0,2,1,1,98.0000,1000,0,0.00,,1,ok\n"
                              "halo-udp,S,0,2,2,1,100.0000,1000,0,0.00,,1,ok\n"
                              "halo-udp,S,0,2,3,1,102.0000,1000,0,0.00,,1,ok\n"
                              "halo-udp,S,0.01,2,1,1,150.0000,1000,10,1.00,,1,ok\n"
                              "halo-udp,S,0.01,2,2,1,160.0000,1000,10,1.00,,1,ok\n"
                              "halo-udp,S,0.01,2,3,1,170.0000,1000,10,1.00,,1,ok\n"
                              "dllama,S,0,2,1,1,50.0000,1000,0,,,1,ok\n"
                              "dllama,S,0.01,2,1,1,60.0000,1000,10,,,1,ok\n";

static const char spread_samples[] =
    HALO_MEASURED_SAMPLES_HEADER "\n"
                                 "halo-strict,S,0,2,1,1,100.0000\n"
                                 "halo-strict,S,0,2,2,1,100.0000\n"
                                 "halo-strict,S,0,2,3,1,100.0000\n"
                                 "halo-strict,S,0.01,2,1,1,150.0000\n"
                                 "halo-strict,S,0.01,2,2,1,160.0000\n"
                                 "halo-strict,S,0.01,2,3,1,170.0000\n"
                                 "halo-strict,S,0.02,2,1,1,290.0000\n"
                                 "halo-strict,S,0.02,2,2,1,300.0000\n"
                                 "halo-strict,S,0.02,2,3,1,310.0000\n"
                                 "halo-strict,S,0.05,2,1,1,590.0000\n"
                                 "halo-strict,S,0.05,2,2,1,600.0000\n"
                                 "halo-strict,S,0.05,2,3,1,610.0000\n"
                                 "halo-udp,S,0,2,1,1,98.0000\n"
                                 "halo-udp,S,0,2,2,1,100.0000\n"
                                 "halo-udp,S,0,2,3,1,102.0000\n"
                                 "halo-udp,S,0.01,2,1,1,150.0000\n"
                                 "halo-udp,S,0.01,2,2,1,160.0000\n"
                                 "halo-udp,S,0.01,2,3,1,170.0000\n"
                                 "dllama,S,0,2,1,1,50.0000\n"
                                 "dllama,S,0.01,2,1,1,60.0000\n";

/* Stores a mirror of `cell` whose one run has mean and p90 `ms`. */
static void store_mirror_at(halo_db *db, const char *cell, double ms) {
    char name[128], sql[320];
    double mean, p90;
    (void)snprintf(name, sizeof name, "mirror/%s", cell);
    store_mirror(db, 0, name, &mean, &p90);
    (void)snprintf(sql, sizeof sql,
                   "UPDATE run SET mean_ms = %.17g, p90_ms = %.17g WHERE scenario_name = '%s'", ms,
                   ms, name);
    ASSERT_EQ(sqlite3_exec(halo__db_handle(db), sql, NULL, NULL, NULL), SQLITE_OK);
}

/*
 * The measured intervals and the verdicts, computed by hand (t quantiles of 97.5%: 2 degrees
 * of freedom 4.302653, 3: 3.182446, 4: 2.776445):
 * - halo-strict 2 nodes, loss 0: runs 100, 100, 100: mean 100, half-width 0; simulated 100:
 *   within.
 * - loss 1%: runs 150, 160, 170: mean 160, sd 10, standard error 10 / sqrt(3) = 5.773503,
 *   half-width 4.302653 * 5.773503 = 24.84 (15.5% of 160: decided); the cost of loss 60 has
 *   the same standard error (the loss-free cell's is 0) and 2 degrees of freedom: +-24.84,
 *   41.4% of 60: undecided. Simulated 180 (+12.5%), cost 80 (+33.3%): undecided. Runs that
 *   would decide it: t(n - 1) * 10 / sqrt(n) <= 15 (25% of 60): 4 runs 3.182446 * 5 = 15.91,
 *   5 runs 2.776445 * 4.472136 = 12.42: 5 runs.
 * - loss 2%: runs 290, 300, 310: cost 200 +-24.84 (12.4%: decided), mean 300 +-24.84 (8.3%);
 *   simulated 360 (+20%), cost 260 (+30%): outside.
 * - loss 5%: runs 590, 600, 610: cost 500 +-24.84 (5.0%), mean 600 +-24.84 (4.1%); simulated
 *   560 (-6.7%), cost 460 (-8.0%): within.
 * - halo-udp 2 nodes: loss 0 runs 98, 100, 102 (sd 2), loss 1% runs 150, 160, 170 (sd 10):
 *   cost 60, squared standard error 100 / 3 + 4 / 3 = 34.667 (5.8878), Welch-Satterthwaite
 *   degrees of freedom 34.667^2 / ((100 / 3)^2 / 2 + (4 / 3)^2 / 2) = 2.1597, t 4.0117:
 *   +-23.62 (39.4% of 60); no mirror.
 * - dllama 2 nodes, loss 0: one run of 50, simulated 50: undecided, one run (no spread);
 *   loss 1%: one run, no mirror.
 * Point errors within 25%: halo-strict 0 and 5%, dllama 0: 3 of 5 cells with a mirror, 3 without.
 */
static void fidelity_report_gives_intervals_and_verdicts(void) {
    char path[4096], out_path[4096];
    halo_db *db =
        import_new_db("spread", spread_runs, spread_samples, "spread.db", 20, path, sizeof path);
    store_mirror_at(db, "halo-strict/S/2/0", 100);
    store_mirror_at(db, "halo-strict/S/2/0.01", 180);
    store_mirror_at(db, "halo-strict/S/2/0.02", 360);
    store_mirror_at(db, "halo-strict/S/2/0.05", 560);
    store_mirror_at(db, "dllama/S/2/0", 50);
    ASSERT_NEAR(view_value(db, "fidelity", "cost_error_pct", "halo-strict/S/2/0.02"), 30, 1e-9);
    halo_db_free(db);
    halo_report_fidelity_counts c;
    size_t n;
    char *md = fidelity_report_text(path, "spread.md", out_path, sizeof out_path, &c, &n);
    ASSERT(c.n_cells == 5 && c.n_within == 3 && c.n_unmirrored == 3);
    ASSERT(c.n_verdict_within == 2 && c.n_outside == 1 && c.n_undecided == 2);
    ASSERT_STR_CONTAINS(md, "| p90 error | measured mean ±95% | measured cost ±95% | verdict |\n");
    ASSERT_STR_CONTAINS(md, "| S | halo-strict | 2 | 0% | 100.0 (100.0-100.0) | 100.0 | +0.0% | - "
                            "| - | - | 100.0 | 100.0 | +0.0% | ±0.0000 (0.0%) | - | within |\n");
    ASSERT_STR_CONTAINS(md, "| S | halo-strict | 2 | 1% | 160.0 (150.0-170.0) | 180.0 | +12.5% | "
                            "60.00 | 80.00 | **+33.3%** | 160.0 | 180.0 | +12.5% | ±24.84 (15.5%) "
                            "| ±24.84 (41.4%) | undecided: 5 runs |\n");
    ASSERT_STR_CONTAINS(md, "| S | halo-strict | 2 | 2% | 300.0 (290.0-310.0) | 360.0 | +20.0% | "
                            "200.0 | 260.0 | **+30.0%** | 300.0 | 360.0 | +20.0% | ±24.84 (8.3%) "
                            "| ±24.84 (12.4%) | **outside** |\n");
    ASSERT_STR_CONTAINS(md, "| S | halo-strict | 2 | 5% | 600.0 (590.0-610.0) | 560.0 | -6.7% | "
                            "500.0 | 460.0 | -8.0% | 600.0 | 560.0 | -6.7% | ±24.84 (4.1%) | "
                            "±24.84 (5.0%) | within |\n");
    /* Welch-Satterthwaite: t(2.1597) * 5.8878 */
    char udp[160];
    (void)snprintf(udp, sizeof udp, "| ±%.2f (%.1f%%) | - |\n",
                   gsl_cdf_tdist_Pinv(0.975, 2.1597) * 5.8878,
                   100 * gsl_cdf_tdist_Pinv(0.975, 2.1597) * 5.8878 / 60);
    ASSERT_STR_CONTAINS(md, "| S | halo-udp | 2 | 1% | 160.0 (150.0-170.0) | - | - | 60.00 | - |");
    ASSERT_STR_CONTAINS(md, udp);
    ASSERT_STR_CONTAINS(md, "| S | dllama | 2 | 0% | 50.00 (50.00-50.00) | 50.00 | +0.0% | - | - "
                            "| - | 50.00 | 50.00 | +0.0% | - | - | undecided: one run |\n");
    ASSERT_STR_CONTAINS(md, "| S | dllama | 2 | 1% | 60.00 (60.00-60.00) | - | - | 10.00 | - | - "
                            "| 60.00 | - | - | - | - | - |\n");
    ASSERT_STR_CONTAINS(md, "Within 25% (mean and cost of loss): 3 of 5 cells with a simulated "
                            "mirror; 3 measured cells without one. With the measured intervals: "
                            "2 within, 1 outside, 2 undecided.\n");
    free(md);
}

TEST_MAIN(TEST(created_db_stores_a_simulated_run_once), TEST(read_only_open_writes_nothing),
          TEST(merge_copies_only_missing_runs), TEST(bad_paths_and_files_give_clear_errors),
          TEST(version_1_database_is_refused_then_migrated), TEST(measured_runs_are_imported_once),
          TEST(measured_bad_inputs_are_named_with_file_line),
          TEST(fidelity_view_compares_measured_and_simulated),
          TEST(fidelity_report_gives_intervals_and_verdicts))
