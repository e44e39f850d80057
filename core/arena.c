/*
 * Arenas (core/arena.h): a measuring pass, one calloc, a carving pass.
 */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>

enum {
    ALIGN = _Alignof(max_align_t)
};

void *halo_arena_take(halo_arena *a, size_t n, size_t size) {
    size_t start = (a->used_bytes + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
    if (start < a->used_bytes || (size != 0 && n > (SIZE_MAX - start) / size)) {
        HALO_ASSERT(!a->base); /* the carving pass repeats sizes the measuring pass took */
        a->overflow = 1;
        return NULL;
    }
    a->used_bytes = start + n * size;
    if (!a->base)
        return NULL;
    HALO_ASSERT(a->used_bytes <= a->cap_bytes);
    return a->base + start;
}

int halo_arena_init(halo_arena *a, halo_arena_carve_fn carve, void *obj, const char *what,
                    halo_err *err) {
    *a = (halo_arena){0};
    carve(obj, a);
    size_t bytes = a->used_bytes;
    int overflow = a->overflow;
    *a = (halo_arena){0};
    unsigned char *base = overflow ? NULL : calloc(bytes ? bytes : 1, 1);
    if (!base) {
        carve(obj, a); /* stores NULLs */
        *a = (halo_arena){0};
        if (overflow)
            return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory (size overflows)", what);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, bytes);
    }
    a->base = base;
    a->cap_bytes = bytes;
    carve(obj, a);
    HALO_ASSERT(a->used_bytes == bytes);
    return HALO_OK;
}

void halo_arena_free(halo_arena *a) {
    if (!a)
        return;
    free(a->base);
    *a = (halo_arena){0};
}
