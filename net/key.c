/*
 * Cluster key files (net/key.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "net/key.h"

#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX_BYTES 4096 /* 64 digits and generous whitespace */

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_space(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Decodes buf[0..n) (the file's content) into key; the path is for messages. */
static int parse_key(const char *path, const char *buf, size_t n, uint8_t key[HALO_NET_KEY_BYTES],
                     halo_err *err) {
    size_t a = 0, b = n;
    while (a < b && is_space(buf[a]))
        a++;
    while (b > a && is_space(buf[b - 1]))
        b--;
    if (b - a != (size_t)2 * HALO_NET_KEY_BYTES)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "key file %s: expected %d hexadecimal digits (halo keygen makes one)",
                         path, 2 * HALO_NET_KEY_BYTES);
    uint8_t k[HALO_NET_KEY_BYTES];
    for (int i = 0; i < HALO_NET_KEY_BYTES; i++) {
        int hi = hexval(buf[a + 2 * (size_t)i]), lo = hexval(buf[a + 2 * (size_t)i + 1]);
        if (hi < 0 || lo < 0) {
            sodium_memzero(k, sizeof k);
            return HALO_FAIL(err, HALO_ERR_FORMAT, "key file %s: not hexadecimal at digit %d", path,
                             2 * i + (hi < 0 ? 1 : 2));
        }
        k[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(key, k, sizeof k);
    sodium_memzero(k, sizeof k);
    return HALO_OK;
}

/* Refuses a key file that others can read or write, or that another user owns (ssh's rule
   for private keys; issue 18: a 0644 key file was accepted silently). */
static int check_private(const char *path, const struct stat *st, halo_err *err) {
    if ((st->st_mode & 077) != 0)
        return HALO_FAIL(err, HALO_ERR_IO,
                         "key file %s: permissions %04o are too open; a cluster key must be "
                         "readable by its owner only (chmod 600 %s)",
                         path, (unsigned)(st->st_mode & 07777), path);
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return HALO_FAIL(err, HALO_ERR_IO,
                         "key file %s: owned by uid %u, not by us (uid %u) or root; refusing it",
                         path, (unsigned)st->st_uid, (unsigned)geteuid());
    return HALO_OK;
}

int halo_net_key_load(const char *path, uint8_t key[HALO_NET_KEY_BYTES], halo_err *err) {
    int fd = -1;
    uint64_t size = 0;
    int rc = halo_file_open_regular(path, &fd, &size, err);
    if (rc != HALO_OK) {
        (void)halo_err_prefix(err, "key file ");
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        rc = HALO_FAIL(err, HALO_ERR_IO, "key file %s: %s", path, strerror(errno));
    if (rc == HALO_OK)
        rc = check_private(path, &st, err);
    if (rc == HALO_OK && size > KEY_FILE_MAX_BYTES)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "key file %s: %llu bytes, more than the %d allowed",
                       path, (unsigned long long)size, KEY_FILE_MAX_BYTES);
    char buf[KEY_FILE_MAX_BYTES + 1];
    size_t n = 0;
    if (rc == HALO_OK) {
        rc = halo_file_read_fd(fd, path, buf, sizeof buf, &n, err);
        if (rc != HALO_OK)
            (void)halo_err_prefix(err, "key file ");
    }
    (void)close(fd);
    if (rc == HALO_OK && n > KEY_FILE_MAX_BYTES)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "key file %s: more than the %d bytes allowed", path,
                       KEY_FILE_MAX_BYTES);
    if (rc == HALO_OK)
        rc = parse_key(path, buf, n, key, err);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

int halo_net_key_generate(const char *path, halo_err *err) {
    if (sodium_init() < 0)
        return HALO_FAIL(err, HALO_ERR_IO, "libsodium failed to initialise");
    uint8_t key[HALO_NET_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        sodium_memzero(key, sizeof key);
        return HALO_FAIL(err, HALO_ERR_IO, "key file %s: %s", path, strerror(errno));
    }
    char hex[2 * HALO_NET_KEY_BYTES + 2];
    (void)sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    hex[(size_t)2 * HALO_NET_KEY_BYTES] = '\n';
    sodium_memzero(key, sizeof key);
    ssize_t w = write(fd, hex, 2 * HALO_NET_KEY_BYTES + 1);
    sodium_memzero(hex, sizeof hex);
    int rc = close(fd);
    if (w != 2 * HALO_NET_KEY_BYTES + 1 || rc != 0) {
        (void)unlink(path);
        return HALO_FAIL(err, HALO_ERR_IO, "key file %s: write failed", path);
    }
    return HALO_OK;
}
