/*
 * SHA-256 through libsodium (crypto_hash_sha256), with the file and hex conveniences the
 * results database needs.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/sha256.h"

#include "core/file.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void halo_sha256_init(halo_sha256 *s) {
    /* sodium_init is idempotent and thread-safe; SHA-256 needs no more of it, but the
       library asks for it before any other call */
    int rc = sodium_init(); /* 0 the first time, 1 after; -1 only if the library is broken */
    HALO_ASSERT(rc >= 0);
    (void)crypto_hash_sha256_init(&s->st);
}

void halo_sha256_update(halo_sha256 *s, const void *p, size_t n) {
    (void)crypto_hash_sha256_update(&s->st, p, n);
}

void halo_sha256_hex(halo_sha256 *s, char hex[65]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    (void)crypto_hash_sha256_final(&s->st, digest);
    (void)sodium_bin2hex(hex, 65, digest, sizeof digest);
}

void halo_sha256_str(const char *text, char hex[65]) {
    halo_sha256 s;
    halo_sha256_init(&s);
    halo_sha256_update(&s, text, strlen(text));
    halo_sha256_hex(&s, hex);
}

int halo_sha256_file(const char *path, char hex[65], halo_err *err) {
    int fd = -1;
    int rc = halo_file_open_regular(path, &fd, NULL, err);
    if (rc != HALO_OK)
        return rc;
    halo_sha256 s;
    halo_sha256_init(&s);
    unsigned char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = HALO_FAIL(err, HALO_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        halo_sha256_update(&s, buf, (size_t)n);
    }
    (void)close(fd);
    if (rc == HALO_OK)
        halo_sha256_hex(&s, hex);
    return rc;
}
