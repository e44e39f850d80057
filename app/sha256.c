/*
 * SHA-256 through libsodium (crypto_hash_sha256), with the file and hex conveniences the
 * results database needs.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/sha256.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
    FILE *f = fopen(path, "rb");
    if (!f)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: %s", path, strerror(errno));
    halo_sha256 s;
    halo_sha256_init(&s);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        halo_sha256_update(&s, buf, n);
    int bad = ferror(f);
    (void)fclose(f);
    if (bad)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: read error", path);
    halo_sha256_hex(&s, hex);
    return HALO_OK;
}
