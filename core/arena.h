/*
 * Arenas: every buffer of one object carved from one block that is sized once, at
 * construction, and freed with one call (conventions.md, "no allocation in the per-token
 * path": llama2.c's malloc_run_state, ggml's context).
 *
 * A module describes its buffers once, in a carve function, and the arena runs it twice:
 * first on a measuring arena that only adds up the sizes, then on the allocated block, which
 * hands out the pieces. Measuring and carving therefore cannot disagree, and the module's
 * destructor frees one block instead of a chain of buffers. An opaque object can live in the
 * same block as its buffers (halo_arena_new: one free()); an embedded one keeps a halo_arena
 * for its buffers (halo_arena_init, halo_arena_free).
 *
 * It is not a general allocator: nothing is freed piece by piece and nothing grows. An
 * object whose buffers grow after construction (a heap, a parse tree) does not use one.
 */
#ifndef HALO_ARENA_H
#define HALO_ARENA_H

#include "core/status.h"

#include <stddef.h>

typedef struct halo_arena {
    unsigned char *base; /* the block; NULL while measuring */
    size_t used_bytes;   /* carved so far, alignment padding included */
    size_t cap_bytes;    /* size of the block; 0 while measuring */
    int overflow;        /* while measuring: a size did not fit in size_t */
} halo_arena;

/*
 * Describes an object's buffers: calls halo_arena_take for each, in a fixed order, and
 * stores the results in `obj`. While measuring, every take returns NULL; the function must
 * not use what it stores, nor let the sizes depend on it.
 */
typedef void (*halo_arena_carve_fn)(void *obj, halo_arena *a);

/*
 * Measures `carve`, allocates one zeroed block of that size and carves it into `obj`.
 * On failure *a is all zero (halo_arena_free on it is a no-op), the pointers `carve`
 * stored in `obj` are NULL, and the error names `what` (e.g. "run state").
 * Errors: HALO_ERR_NOMEM (also when the sizes overflow).
 */
int halo_arena_init(halo_arena *a, halo_arena_carve_fn carve, void *obj, const char *what,
                    halo_err *err);

/*
 * Creates an object of `obj_bytes` that lives in one block with its buffers: the block
 * starts with a copy of *proto (the fields `carve` reads: model, sizes), followed by the
 * pieces `carve` takes, which it stores in the copy. `carve` measures on `proto` first, so
 * proto's pointer fields are overwritten (with NULL). *block_bytes (may be NULL) receives the
 * block's size. Returns the object, which the caller frees with free(); NULL on failure, with
 * HALO_ERR_NOMEM in *err naming `what`.
 */
void *halo_arena_new(size_t obj_bytes, void *proto, halo_arena_carve_fn carve, const char *what,
                     size_t *block_bytes, halo_err *err);

/*
 * The next `n` elements of `size` bytes, aligned for any type and zeroed (a pointer into
 * the block, valid until halo_arena_free; n == 0 gives a valid pointer to no elements).
 * Returns NULL while measuring. Asserts that the piece fits the block.
 */
void *halo_arena_take(halo_arena *a, size_t n, size_t size);

/* Frees the block and zeroes *a; NULL, or an arena that holds no block, is a no-op. */
void halo_arena_free(halo_arena *a);

#endif /* HALO_ARENA_H */
