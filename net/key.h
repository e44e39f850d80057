/*
 * Cluster key files: the 32-byte key every node of a socket cluster shares, stored as 64
 * hexadecimal digits (docs/net.md, "Key file"). Loading refuses a file others can read (like
 * ssh), checks the text and names the file in every error; generating draws the key from
 * libsodium's randombytes_buf and writes it with mode 0600, never over an existing file.
 *
 * This module only reads and writes key files. What the key authenticates (frames) is
 * net/frame.h; which file a cluster uses is the cluster file's business (net/clusterfile.h).
 * There is no key rotation and no derivation: the file holds the key itself.
 */
#ifndef HALO_NET_KEY_H
#define HALO_NET_KEY_H

#include "core/status.h"

#include <stdint.h>

#define HALO_NET_KEY_BYTES 32

/*
 * Reads the key file at `path`: 64 hexadecimal digits (32 bytes), surrounding whitespace
 * allowed, at most 4 KiB in all. The file must be private, as ssh requires of a private
 * key: no permission bits for group or others, and owned by this user (or root); otherwise
 * it is refused before it is read ("permissions 0644 are too open ... (chmod 600 PATH)").
 * *key receives the bytes (untouched on failure). Errors: HALO_ERR_IO (cannot read, not a
 * regular file, not private; names the path), HALO_ERR_FORMAT (not 64 hex digits, or too
 * large).
 */
int halo_net_key_load(const char *path, uint8_t key[HALO_NET_KEY_BYTES], halo_err *err);

/*
 * Writes a fresh random key to `path` (mode 0600; the file must not exist). Errors:
 * HALO_ERR_IO (libsodium cannot start, the file exists, a write failed: the file is
 * removed again).
 */
int halo_net_key_generate(const char *path, halo_err *err);

#endif /* HALO_NET_KEY_H */
