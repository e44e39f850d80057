/*
 * Scratch files and source paths for the fuzz targets (fuzz/fuzz.h).
 */
#define _GNU_SOURCE

#include "fuzz/fuzz.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fds[4] = {-1, -1, -1, -1};
static char paths[4][64];

const char *fz_file(int slot, const void *data, size_t n) {
    FZ_CHECK(slot >= 0 && slot < 4);
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("halo-fuzz", MFD_CLOEXEC);
        FZ_CHECK(fds[slot] >= 0);
        (void)snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    FZ_CHECK(ftruncate(fds[slot], 0) == 0);
    const char *p = data;
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(fds[slot], p + done, n - done, (off_t)done);
        FZ_CHECK(w > 0);
        done += (size_t)w;
    }
    return paths[slot];
}

const char *fz_src_path(const char *rel) {
    static char ring[4][4096];
    static int next;
    char *p = ring[next++ % 4];
    int n = snprintf(p, sizeof ring[0], "%s/%s", HALO_SOURCE_DIR, rel);
    FZ_CHECK(n > 0 && (size_t)n < sizeof ring[0]);
    return p;
}
