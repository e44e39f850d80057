/*
 * Fuzz target: the regression baseline CSV (results/regress.c), checked against an empty
 * results database made once in a scratch directory.
 *
 * The input is one baseline file. halo_regress_check must either refuse it (a message
 * naming the file) or count its rows, writing its table to /dev/null.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz/fuzz.h"
#include "results/db.h"
#include "results/regress.h"

#include <string.h>
#include <unistd.h>

static char dir_path[48], db_path[64];
static FILE *devnull;

/* The scratch database and its directory go when libFuzzer exits. */
static void cleanup(void) {
    char side[80];
    static const char *const ext[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        (void)snprintf(side, sizeof side, "%s%s", db_path, ext[i]);
        (void)remove(side);
    }
    (void)rmdir(dir_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    (void)snprintf(dir_path, sizeof dir_path, "/tmp/halo-fuzz-regress-XXXXXX");
    FZ_CHECK(mkdtemp(dir_path) != NULL);
    (void)snprintf(db_path, sizeof db_path, "%s/r.db", dir_path);
    FZ_CHECK(atexit(cleanup) == 0);
    halo_db *db = NULL;
    halo_err err = {0};
    if (halo_db_new(&db, db_path, HALO_DB_CREATE, &err) != HALO_OK) {
        (void)fprintf(stderr, "fuzz_regress: %s\n", err.msg);
        abort();
    }
    halo_db_free(db);
    devnull = fopen("/dev/null", "w");
    FZ_CHECK(devnull != NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_file(0, data, size);
    int n_checked = 0, n_failed = 0;
    halo_err err = {0};
    int rc = halo_regress_check(devnull, db_path, path, &n_checked, &n_failed, &err);
    if (rc != HALO_OK)
        FZ_CHECK(strstr(err.msg, path) != NULL || strstr(err.msg, db_path) != NULL);
    else
        FZ_CHECK(n_checked > 0 && n_failed <= n_checked);
    return 0;
}
