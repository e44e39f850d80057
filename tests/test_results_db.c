/*
 * The results database through results/db.h: a simulated run of a tiny scenario
 * (scenarios/tiny-loss.yaml, point 0, run 0) is stored and read back; a run is stored once;
 * a read-only open writes nothing (the file's bytes are unchanged, and every write is
 * refused); merging copies only what is missing; bad paths and files give errors that name
 * them.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/db.h"
#include "results/db_internal.h"
#include "results/sha256.h"
#include "sim/scenario.h"
#include "sim/simrun.h"
#include "tests/test.h"
#include "tests/testutil.h"

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
    if (halo_scenario_load(&f->sc, tu_src_path("scenarios/tiny-loss.yaml"), 0, &err) != HALO_OK)
        TEST_FAIL_AT("%s", err.msg);
    if (halo_simrun(f->sc, 0, &f->r, &err) != HALO_OK)
        TEST_FAIL_AT("%s", err.msg);
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
    if (halo_db_count_runs(db, &n, &err) != HALO_OK)
        TEST_FAIL_AT("%s", err.msg);
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
    ASSERT_EQ(halo_db_merge(db, path, &copied, &skipped, &err), HALO_ERR_ARG);
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
    ASSERT_OK(halo_db_merge(b, src, &copied, &skipped, &err));
    ASSERT(copied == 1 && skipped == 0);
    ASSERT_EQ(count_runs(b), 1);
    ASSERT_EQ(query_number(b, "SELECT count(*) FROM token"), f.r.n_tokens);
    ASSERT_OK(halo_db_merge(b, src, &copied, &skipped, &err));
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

TEST_MAIN(TEST(created_db_stores_a_simulated_run_once), TEST(read_only_open_writes_nothing),
          TEST(merge_copies_only_missing_runs), TEST(bad_paths_and_files_give_clear_errors))
