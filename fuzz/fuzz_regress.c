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

static char db_path[64];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/halo-fuzz-regress-XXXXXX";
    FZ_CHECK(mkdtemp(dir) != NULL);
    (void)snprintf(db_path, sizeof db_path, "%s/r.db", dir);
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
