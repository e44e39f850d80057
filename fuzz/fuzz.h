/*
 * Shared helpers of the libFuzzer targets in fuzz/ (docs/fuzzing.md): scratch files for the
 * parsers that read a path, and the bundled files some targets load once.
 *
 * Each target is one fuzz_<parser>.c defining LLVMFuzzerTestOneInput; what it asserts beyond
 * "no crash, no sanitizer report, no leak" is stated in its header comment. These files are
 * test harnesses, not part of any halo library.
 */
#ifndef HALO_FUZZ_H
#define HALO_FUZZ_H

#include "core/model.h"
#include "core/tokenizer.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Replaces the content of scratch file `slot` (0..3) with data[0..n) and returns a path that
 * opens it (a memfd under /proc/self/fd: a regular file, no disk traffic). The path is valid
 * until the process ends.
 */
const char *fz_file(int slot, const void *data, size_t n);

/* `rel` under the source tree (HALO_SOURCE_DIR, compiled in), in one of four static buffers
   used in turn (valid until the fourth call after). */
const char *fz_src_path(const char *rel);

/*
 * Whether the run state of `m` (KV cache, activations, logits) fits the harness's memory
 * budget of 64 MiB (a limit of the harness, not of halo): 1 if it does, else 0.
 */
int fz_model_fits(const halo_model *m);

/*
 * Runs what `halo generate` does with model `m` and tokenizer `t` (borrowed): encodes
 * `prompt` (at most 64 tokens, every id inside the vocabulary), feeds up to max_positions of
 * them through the forward pass and checks that each greedy next token is inside the
 * vocabulary and decodes. A run state that cannot be allocated ends it quietly.
 */
void fz_model_run(const halo_model *m, const halo_tokenizer *t, const char *prompt,
                  int max_positions);

/*
 * Splits an input whose first byte holds the target's flags: the rest
 * is copied into out (cap bytes), where the target may patch it (a checksum made valid, so
 * the fuzzer gets past it), its size into *size. Returns the flags (0..255), or -1 when the
 * input is empty or the rest does not fit.
 */
int fz_flagged(const uint8_t *raw, size_t raw_size, unsigned char *out, size_t cap, size_t *size);

/* A harness-level invariant failed: prints `what` and aborts (libFuzzer saves the input). */
#define FZ_CHECK(cond)                                                                      \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            (void)fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, \
                          #cond);                                                           \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

#endif /* HALO_FUZZ_H */
