/*
 * Reading whole input files: the one place that opens a text or small binary input
 * (scenario, profile, link and cluster files, predictor files, key files, evaluation text,
 * regression baselines). Only regular files are read, and that is checked before anything
 * can block: a FIFO or a device named as an input is refused at once instead of hanging
 * the command. Every read has a size limit, named in the error.
 *
 * Large model checkpoints are mapped by core/model.c, which uses halo_file_open_regular.
 * Outputs written in place (llama2.c checkpoints) are created by halo_file_create, which
 * refuses a FIFO or device named as an output at once, as the readers do for inputs. Outputs
 * that must never be left half-written under their name (GGUF files, CSV exports, figures'
 * captions, traces) go through halo_file_out: a temporary file beside the final one, renamed
 * over it once every byte is written (issue 18: a full disk leaves the old file or none).
 */
#ifndef HALO_FILE_H
#define HALO_FILE_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Opens `path` read-only for a regular file, without blocking on a FIFO (O_NONBLOCK is set
 * for the open and cleared after the check). *fd receives the descriptor (close it) and
 * *size_bytes, when not NULL, the file's size. Errors: HALO_ERR_IO (cannot open, not a
 * regular file: the message names the path and what it is).
 */
int halo_file_open_regular(const char *path, int *fd, uint64_t *size_bytes, halo_err *err);

/*
 * Reads from the open descriptor fd (of the file at `path`, named in messages) into buf until
 * end of file or until cap bytes are in (then more may follow), retrying on EINTR; *len_bytes
 * receives how many were read. For readers with a buffer of their own (a key file kept off the
 * heap). Errors: HALO_ERR_IO ("cannot read").
 */
int halo_file_read_fd(int fd, const char *path, void *buf, size_t cap, size_t *len_bytes,
                      halo_err *err);

/*
 * Reads the whole regular file at `path` into a new buffer with a NUL byte after the
 * content (so text can be used as a C string), at most `max_bytes` of content. *out receives
 * the buffer (the caller frees it) and *len_bytes the content's length. On failure *out is
 * NULL. Errors: HALO_ERR_IO (cannot open or read, not a regular file), HALO_ERR_FORMAT
 * (larger than max_bytes: the message names the size and the limit), HALO_ERR_NOMEM.
 */
int halo_file_read(const char *path, size_t max_bytes, char **out, size_t *len_bytes,
                   halo_err *err);

/*
 * Creates (or truncates) `path` for writing a regular file, without blocking on a FIFO: the
 * open is non-blocking (a FIFO without a reader fails at once) and whatever opened is checked
 * to be a regular file before the descriptor is made blocking. *fd receives the descriptor
 * (close it). `mode` is the permission bits of a new file (0644, 0600). Errors: HALO_ERR_IO
 * (cannot create, not a regular file: the message names the path and what it is).
 */
int halo_file_create(const char *path, unsigned mode, int *fd, halo_err *err);

/*
 * halo_file_read for text: additionally refuses content with a NUL byte (HALO_ERR_FORMAT,
 * "contains a NUL byte; not a text file"), so the buffer is one C string of len_bytes.
 */
int halo_file_read_text(const char *path, size_t max_bytes, char **out, size_t *len_bytes,
                        halo_err *err);

/*
 * 1 when `a` and `b` name the same existing file, whatever the spelling ("x.db" and
 * "./x.db", a symbolic link and its target, a hard link): both stat(2) (following links)
 * with equal st_dev and st_ino. 0 otherwise, also when either does not exist (an output not
 * yet created cannot be an input). Commands call it to refuse an output that is one of their
 * own inputs before they read or truncate anything.
 */
int halo_file_same(const char *a, const char *b);

/* ==== Outputs written whole or not at all ==== */

/* An output being written under a temporary name (caller-allocated; fields read-only). */
typedef struct halo_file_out {
    FILE *f;        /* write the content here; NULL when not open */
    char *path;     /* the final name (owned); a symbolic link's target when path is one */
    char *tmp_path; /* the temporary name in the same directory (owned) */
} halo_file_out;

/*
 * Opens an output whose content appears under `path` only once complete: o->f is a new file
 * named ".<name>.<pid>.tmp" beside it (permission bits `mode`, less the umask). An existing
 * `path` must be a regular file (a FIFO, device or directory is refused at once, as
 * halo_file_create refuses them); a symbolic link is followed, so its target is replaced.
 * Errors: HALO_ERR_IO (not a regular file, cannot create in the directory: the message names
 * the path and the reason), HALO_ERR_NOMEM. On failure *o is closed (halo_file_out_abort is a
 * no-op on it).
 */
int halo_file_out_open(halo_file_out *o, const char *path, unsigned mode, halo_err *err);

/*
 * Finishes the output: flushes and syncs o->f, closes it and renames the temporary file over
 * the final name. On any failure (a write that failed earlier included: a full disk, a quota,
 * the file-size limit) the temporary file is removed and whatever `path` held before is left
 * as it was. *o is closed either way. Errors: HALO_ERR_IO ("PATH: write failed: No space left
 * on device"; "cannot rename ...").
 */
int halo_file_out_commit(halo_file_out *o, halo_err *err);

/* Closes o->f and removes the temporary file; the final name is untouched. Closed or zeroed
 *o: a no-op. */
void halo_file_out_abort(halo_file_out *o);

#endif /* HALO_FILE_H */
