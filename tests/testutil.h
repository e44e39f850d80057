/*
 * Helpers for tests: paths of the bundled files and scratch files in a per-test temporary
 * directory that is removed at exit, and the fixtures several tests share (models, greedy
 * decoding, a simulated star network, a stop condition for a transport's run). A helper
 * that cannot do its job fails the test (it aborts, naming the error); nothing returns an
 * error code.
 */
#ifndef HALO_TESTUTIL_H
#define HALO_TESTUTIL_H

#include "core/cluster.h"
#include "core/forward.h"
#include "sim/sim.h"

#include <stddef.h>
#include <stdint.h>

/* Path of a file in the project (relative to the source root), e.g. "models/tok512.bin". */
const char *tu_src_path(const char *rel);

/* A fresh path inside this process's scratch directory (created on first use). */
const char *tu_tmp_path(const char *name);

/*
 * `wanted` threads, or fewer when HALO_TEST_MAX_THREADS is set (to bound a test run on a
 * small or emulated machine). 0 means "one per core", as for halo_pool_new.
 */
int tu_max_threads(int wanted);

/* Nonzero when the test runs under an emulator (a cross build's tests under qemu-user:
   tests/CMakeLists.txt sets HALO_TEST_EMULATED), where a long computation takes ~70x. */
int tu_emulated(void);

/* Writes `n` bytes to `path`; aborts on failure. */
void tu_write_file(const char *path, const void *data, size_t n);

/* Writes the string `text` to the scratch file `name`; returns its path (a tu_tmp_path
   result). Aborts on failure. */
const char *tu_write_tmp(const char *name, const char *text);

/* Reads a whole regular file of up to 1 GiB (halo_file_read) with a NUL byte after its
   content; *n receives its size; the caller frees. Fails the test on an error. */
unsigned char *tu_read_file(const char *path, size_t *n);

/* ==== Models ==== */

/*
 * The model shapes tests share, by name (as sim/scenario.h names real models' shapes):
 *  - "gqa": grouped-query attention (6 heads over 2 KV heads, kv_mul 3) and a separate
 *    classifier; dim 96, hidden 200, 3 layers, 50 tokens, 16 positions;
 *  - "big-groups": groups that take a while to read (FFN groups of 32 neurons are 48 kB);
 *    dim 128, hidden 512, 4 layers, 4 heads over 2 KV heads, separate classifier;
 *  - "tiny": dim 16, hidden 32, 4 layers, 2 heads (head size 8, no grouping), 8 tokens,
 *    8 positions, shared classifier;
 *  - "k-blocks": widths that are whole quantisation K blocks (dim 256, hidden 512), so every
 *    GGUF type applies, and matrices large enough for the FFN and classifier products to be
 *    split across threads; 2 layers, 4 heads over 2 KV heads, 512 tokens, 64 positions,
 *    separate classifier;
 *  - "mesh": 5 FFN groups of 32 neurons (hidden 160) and 2 attention groups: dim 64,
 *    3 layers, 4 heads over 2 KV heads, 512 tokens, 32 positions, separate classifier;
 *  - "small-vocab": the 35-token vocabulary of a model without byte pieces: dim 8,
 *    hidden 16, 1 layer, 2 heads, 32 positions, shared classifier.
 * An unknown name fails the test.
 */
halo_model_config tu_model_shape(const char *name);

/* Loads the model at `path`; the caller frees it. */
halo_model *tu_load_model(const char *path);

/* A shape-only model (no weights) of the named shape (core's halo_model_shape_named:
   "llama2-7b", "tinyllama-1.1b", ...) with weights of weight_type; fails the test when the
   name is unknown. Free with halo_model_free. */
halo_model *tu_shape_model(const char *name, int weight_type);

/* The bundled stories260K model (models/stories260K.bin); the caller frees it. */
halo_model *tu_bundled_model(void);

/*
 * Writes a random checkpoint of shape `cfg` (halo_model_write_random with `seed`) to the
 * scratch file `name` and loads it; the caller frees it. *path_out, when not NULL, receives
 * the file's path (a tu_tmp_path result).
 */
halo_model *tu_random_model(const char *name, const halo_model_config *cfg, uint64_t seed,
                            const char **path_out);

/*
 * Greedy decoding on one run state: runs `token` at position 0, then each position's argmax,
 * for `steps` positions. ids[pos] receives the argmax at pos and logits[pos * vocab_size..]
 * the logits (either may be NULL). Allocates nothing. Returns the last argmax.
 */
int tu_greedy(halo_state *s, int vocab_size, int token, int steps, int *ids, float *logits);

/* ==== Clusters ==== */

/* halo_cluster_new with `cc`; an error fails the test, naming it. The caller frees. */
halo_cluster *tu_cluster_new(const halo_cluster_config *cc);

/*
 * Greedy decoding on a cluster (tu_greedy's counterpart): runs `token` at position from_pos,
 * then each position's argmax of the first vocab_size logits, up to position to_pos - 1.
 * Returns the last argmax (`token` when from_pos >= to_pos). An error fails the test, naming
 * it. Allocates nothing.
 */
int tu_cluster_greedy(halo_cluster *c, int vocab_size, int token, int from_pos, int to_pos);

/* ==== Transports ==== */

enum {
    TU_STAR_MAX = 8 /* nodes of a tu_star */
};

/*
 * A simulated star (sim/sim.h) of up to TU_STAR_MAX nodes: every device `dev`, every link
 * `link` both ways, TCP as Linux's (halo_tcp_config_linux). cfg points into the struct, so
 * a test may change any device or link after tu_star_init (and must not copy the struct).
 * Other node counts are passed on as they are, for halo_sim_new to refuse.
 */
typedef struct tu_star {
    halo_device_profile dev[TU_STAR_MAX];
    halo_link_spec up[TU_STAR_MAX], down[TU_STAR_MAX];
    halo_sim_config cfg;
} tu_star;

void tu_star_init(tu_star *w, int n_nodes, int delivery, halo_device_profile dev,
                  halo_link_spec link, uint64_t seed);

/* halo_sim_new with `cfg`; an error fails the test, naming it. Free with
   halo_transport_free. */
halo_transport *tu_sim_new(const halo_sim_config *cfg);

/* A stop condition for t->ops->run: true once *count reaches n. */
typedef struct tu_count_goal {
    const int *count;
    int n;
} tu_count_goal;

int tu_count_reached(void *goal);

#endif /* HALO_TESTUTIL_H */
