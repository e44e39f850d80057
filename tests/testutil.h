/*
 * Helpers for tests: paths of the bundled files and scratch files in a per-test temporary
 * directory that is removed at exit.
 */
#ifndef HALO_TESTUTIL_H
#define HALO_TESTUTIL_H

#include <stddef.h>

/* Path of a file in the project (relative to the source root), e.g. "models/tok512.bin". */
const char *tu_src_path(const char *rel);

/* A fresh path inside this process's scratch directory (created on first use). */
const char *tu_tmp_path(const char *name);

/*
 * `wanted` threads, or fewer when HALO_TEST_MAX_THREADS is set (to bound a test run on a
 * small or emulated machine). 0 means "one per core", as for halo_pool_new.
 */
int tu_max_threads(int wanted);

/* Writes `n` bytes to `path`; aborts on failure. */
void tu_write_file(const char *path, const void *data, size_t n);

/* Reads a whole file; *n receives its size; the caller frees. Aborts on failure. */
unsigned char *tu_read_file(const char *path, size_t *n);

#endif /* HALO_TESTUTIL_H */
