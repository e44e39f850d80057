/*
 * Whole-file reads of regular files (core/file.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_of(mode_t m) {
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "a device";
    if (S_ISSOCK(m))
        return "a socket";
    return "another kind of file";
}

/* What opening any file shares, after open(2) with O_NONBLOCK gave `f`: it must be a regular
   file (*st its status), and blocking again. On failure `f` is closed and err names path. */
static int settle_regular(const char *path, int f, struct stat *st, halo_err *err) {
    if (fstat(f, st) != 0) {
        int e = errno;
        (void)close(f);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        (void)close(f);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: not a regular file (%s)", path,
                         kind_of(st->st_mode));
    }
    int flags = fcntl(f, F_GETFL);
    if (flags < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        (void)close(f);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: %s", path, strerror(e));
    }
    return HALO_OK;
}

int halo_file_open_regular(const char *path, int *fd, uint64_t *size_bytes, halo_err *err) {
    *fd = -1;
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = settle_regular(path, f, &st, err);
    if (rc != HALO_OK)
        return rc;
    *fd = f;
    if (size_bytes)
        *size_bytes = (uint64_t)st.st_size;
    return HALO_OK;
}

int halo_file_create(const char *path, unsigned mode, int *fd, halo_err *err) {
    *fd = -1;
    /* O_TRUNC only after the check: a device or FIFO is left as it was. */
    int f = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC, (mode_t)mode);
    if (f < 0 && errno == ENXIO)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: not a regular file (a FIFO)", path);
    if (f < 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    struct stat st;
    int rc = settle_regular(path, f, &st, err);
    if (rc != HALO_OK)
        return rc;
    if (ftruncate(f, 0) != 0) {
        int e = errno;
        (void)close(f);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: %s", path, strerror(e));
    }
    *fd = f;
    return HALO_OK;
}

int halo_file_read_fd(int fd, const char *path, void *buf, size_t cap, size_t *len_bytes,
                      halo_err *err) {
    unsigned char *p = buf;
    size_t n = 0;
    int rc = HALO_OK;
    while (n < cap) {
        ssize_t got = read(fd, p + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            rc = HALO_FAIL(err, HALO_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    *len_bytes = n;
    return rc;
}

int halo_file_read(const char *path, size_t max_bytes, char **out, size_t *len_bytes,
                   halo_err *err) {
    *out = NULL;
    *len_bytes = 0;
    int fd;
    uint64_t size;
    int rc = halo_file_open_regular(path, &fd, &size, err);
    if (rc != HALO_OK)
        return rc;
    if (size > max_bytes) {
        (void)close(fd);
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %llu bytes, larger than the limit of %zu", path,
                         (unsigned long long)size, max_bytes);
    }
    /* The size may change while reading (a file being written): read until end of file, but
       never past the limit. */
    size_t cap = (size_t)size + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        (void)close(fd);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, cap);
    }
    for (;;) {
        size_t got;
        rc = halo_file_read_fd(fd, path, buf + n, cap - n, &got, err);
        n += got;
        if (rc != HALO_OK || n < cap) /* an error, or the end of the file */
            break;
        if (cap > max_bytes) {
            rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: larger than the limit of %zu bytes", path,
                           max_bytes);
            break;
        }
        size_t nc = cap * 2 < max_bytes + 1 ? cap * 2 : max_bytes + 1;
        char *b = realloc(buf, nc + 1);
        if (!b) {
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        buf = b;
        cap = nc;
    }
    (void)close(fd);
    if (rc == HALO_OK && n > max_bytes)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: larger than the limit of %zu bytes", path,
                       max_bytes);
    if (rc != HALO_OK) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len_bytes = n;
    return HALO_OK;
}

int halo_file_read_text(const char *path, size_t max_bytes, char **out, size_t *len_bytes,
                        halo_err *err) {
    int rc = halo_file_read(path, max_bytes, out, len_bytes, err);
    if (rc == HALO_OK && memchr(*out, '\0', *len_bytes)) {
        free(*out);
        *out = NULL;
        *len_bytes = 0;
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: contains a NUL byte; not a text file", path);
    }
    return rc;
}
