/*
 * Reading whole input files: the one place that opens a text or small binary input
 * (scenario, profile, link and cluster files, predictor files, key files, evaluation text,
 * regression baselines). Only regular files are read, and that is checked before anything
 * can block: a FIFO or a device named as an input is refused at once instead of hanging
 * the command. Every read has a size limit, named in the error.
 *
 * Large model checkpoints are mapped by core/model.c, which uses halo_file_open_regular.
 * Outputs written in place (GGUF and checkpoint files) are created by halo_file_create, which
 * refuses a FIFO or device named as an output at once, as the readers do for inputs.
 */
#ifndef HALO_FILE_H
#define HALO_FILE_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

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

#endif /* HALO_FILE_H */
