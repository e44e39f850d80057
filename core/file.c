/*
 * Whole-file reads of regular files, and outputs written whole or not at all (core/file.h).
 */
#define _XOPEN_SOURCE 700 /* realpath */

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

/* What opening any file shares, after open(2) with O_NONBLOCK gave `f`: the open must have
   succeeded (a negative `f` fails with errno's text, "cannot <verb>"), the file must be a
   regular one (*st its status), and blocking again. On failure `f` is closed and err names
   path. */
static int settle_regular(const char *path, int f, const char *verb, struct stat *st,
                          halo_err *err) {
    if (f < 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot %s: %s", path, verb, strerror(errno));
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
    struct stat st;
    int rc = settle_regular(path, f, "open", &st, err);
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
    struct stat st;
    int rc = settle_regular(path, f, "create", &st, err);
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

int halo_file_same(const char *a, const char *b) {
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ==== Outputs written whole or not at all ==== */

static void out_close(halo_file_out *o) {
    free(o->path);
    free(o->tmp_path);
    o->f = NULL;
    o->path = o->tmp_path = NULL;
}

/* Where the symbolic link `path` points (a new string), also when the target does not exist
   yet; NULL when it cannot be read. */
static char *link_target(const char *path) {
    char *real = realpath(path, NULL);
    if (real)
        return real;
    char to[4096];
    ssize_t n = readlink(path, to, sizeof to - 1);
    if (n <= 0)
        return NULL;
    to[n] = '\0';
    const char *slash = strrchr(path, '/');
    int dir_len = to[0] == '/' || !slash ? 0 : (int)(slash - path + 1);
    size_t cap = (size_t)dir_len + (size_t)n + 1;
    char *out = malloc(cap);
    if (out)
        (void)snprintf(out, cap, "%.*s%s", dir_len, path, to);
    return out;
}

int halo_file_out_open(halo_file_out *o, const char *path, unsigned mode, halo_err *err) {
    *o = (halo_file_out){0};
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return HALO_FAIL(err, HALO_ERR_IO, "%s: not a regular file (%s)", path,
                         kind_of(st.st_mode));
    /* A symbolic link is written through: the temporary file goes beside its target. */
    char *real = NULL;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        real = link_target(path);
    o->path = real ? real : strdup(path);
    size_t len = o->path ? strlen(o->path) : 0;
    if (!o->path || !(o->tmp_path = malloc(len + 48))) {
        out_close(o);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    }
    const char *slash = strrchr(o->path, '/');
    int dir_len = slash ? (int)(slash - o->path + 1) : 0;
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        (void)snprintf(o->tmp_path, len + 48, "%.*s.%s.%ld.%d.tmp", dir_len, o->path,
                       o->path + dir_len, (long)getpid(), attempt);
        fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
        int e = errno;
        if (fd >= 0) {
            (void)close(fd);
            (void)unlink(o->tmp_path);
        }
        (void)HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create %s: %s", path, o->tmp_path,
                        strerror(e));
        out_close(o);
        return HALO_ERR_IO;
    }
    return HALO_OK;
}

/* Why an earlier buffered write to fd failed (stdio keeps no errno): one more byte at the
   end says (ENOSPC, EDQUOT, EFBIG); the temporary file is removed afterwards anyway. */
static int write_errno(int fd) {
    char c = 0;
    if (lseek(fd, 0, SEEK_END) >= 0 && write(fd, &c, 1) < 0)
        return errno;
    return 0;
}

int halo_file_out_commit(halo_file_out *o, halo_err *err) {
    if (!o->f)
        return HALO_FAIL(err, HALO_ERR_ARG, "output not open");
    int bad = ferror(o->f);
    int e = 0;
    if (fflush(o->f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    /* Synced before the rename: a crash then leaves the old file or the whole new one. */
    if (!bad && fsync(fileno(o->f)) != 0 && errno != EINVAL) {
        bad = 1;
        e = errno;
    }
    if (bad && e == 0)
        e = write_errno(fileno(o->f));
    if (fclose(o->f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    o->f = NULL;
    int rc = HALO_OK;
    if (bad)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: write failed: %s (nothing written under that name)",
                       o->path, e ? strerror(e) : "write error");
    else if (rename(o->tmp_path, o->path) != 0)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: cannot rename %s to it: %s", o->path, o->tmp_path,
                       strerror(errno));
    if (rc != HALO_OK)
        (void)unlink(o->tmp_path);
    out_close(o);
    return rc;
}

void halo_file_out_abort(halo_file_out *o) {
    if (!o->f && !o->path)
        return;
    if (o->f)
        (void)fclose(o->f);
    if (o->tmp_path)
        (void)unlink(o->tmp_path);
    out_close(o);
}
