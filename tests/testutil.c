#define _XOPEN_SOURCE 700

#include "tests/testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[2048];
static char path_buf[8][4096];
static int path_next;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void cleanup(void) {
    if (tmp_dir[0])
        (void)nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *next_buf(void) {
    char *b = path_buf[path_next];
    path_next = (path_next + 1) % 8;
    return b;
}

const char *tu_src_path(const char *rel) {
    char *b = next_buf();
    (void)snprintf(b, 4096, "%s/%s", HALO_SOURCE_DIR, rel);
    return b;
}

const char *tu_tmp_path(const char *name) {
    if (!tmp_dir[0]) {
        const char *t = getenv("TMPDIR");
        (void)snprintf(tmp_dir, sizeof tmp_dir, "%s/halo-test-XXXXXX", t && t[0] ? t : "/tmp");
        if (!mkdtemp(tmp_dir)) {
            perror("mkdtemp");
            abort();
        }
        (void)atexit(cleanup);
    }
    char *b = next_buf();
    (void)snprintf(b, 4096, "%s/%s", tmp_dir, name);
    return b;
}

int tu_max_threads(int wanted) {
    const char *s = getenv("HALO_TEST_MAX_THREADS");
    int cap = s ? atoi(s) : 0;
    if (cap < 1)
        return wanted;
    return wanted == 0 || wanted > cap ? cap : wanted;
}

void tu_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

unsigned char *tu_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        abort();
    }
    if (fseek(f, 0, SEEK_END) != 0)
        abort();
    long len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0)
        abort();
    unsigned char *buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
        abort();
    (void)fclose(f);
    buf[len] = 0;
    *n = (size_t)len;
    return buf;
}
