/*
 * SHA-256 (FIPS 180-4, computed by libsodium) for the identity and provenance of runs in the
 * results database: scenario texts, model checkpoints and evaluation texts. Not a general
 * crypto API: the socket transports authenticate their frames with libsodium directly
 * (net/).
 */
#ifndef HALO_RESULTS_SHA256_H
#define HALO_RESULTS_SHA256_H

#include "core/status.h"

#include <sodium.h>
#include <stddef.h>

typedef struct halo_sha256 {
    crypto_hash_sha256_state st;
} halo_sha256;

/* Starts a hash. */
void halo_sha256_init(halo_sha256 *s);

/* Adds `n` bytes at `p`. */
void halo_sha256_update(halo_sha256 *s, const void *p, size_t n);

/* Finishes and writes the digest as 64 lowercase hex digits and a NUL into hex[65]. */
void halo_sha256_hex(halo_sha256 *s, char hex[65]);

/* Hashes a whole string (convenience). */
void halo_sha256_str(const char *text, char hex[65]);

/* Hashes the bytes of the regular file at `path` (read in blocks, any size).
   Errors: HALO_ERR_IO naming the file (cannot open or read, not a regular file). */
int halo_sha256_file(const char *path, char hex[65], halo_err *err);

#endif /* HALO_RESULTS_SHA256_H */
