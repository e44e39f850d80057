/*
 * Arenas (core/arena.h): a measuring pass, one calloc, a carving pass.
 */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* Bytes the measuring pass of `carve` on `obj` asks for; *overflow when they do not fit. */
static size_t measure(halo_arena_carve_fn carve, void *obj, int *overflow) {
    halo_arena a = {0};
    carve(obj, &a);
    *overflow = a.overflow;
    return a.used_bytes;
}

static int fail(const char *what, int overflow, size_t bytes, halo_err *err) {
    if (overflow)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory (size overflows)", what);
    return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, bytes);
}

void *halo_arena_new(size_t obj_bytes, void *proto, halo_arena_carve_fn carve, const char *what,
                     size_t *block_bytes, halo_err *err) {
    int overflow;
    size_t head = (obj_bytes + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
    size_t body = measure(carve, proto, &overflow);
    overflow = overflow || head < obj_bytes || body > SIZE_MAX - head;
    unsigned char *block = overflow ? NULL : calloc(head + body, 1);
    if (!block) {
        (void)fail(what, overflow, head + body, err);
        return NULL;
    }
    memcpy(block, proto, obj_bytes);
    halo_arena a = {.base = block + head, .cap_bytes = body};
    carve(block, &a);
    HALO_ASSERT(a.used_bytes == body);
    if (block_bytes)
        *block_bytes = head + body;
    return block;
}

int halo_arena_init(halo_arena *a, halo_arena_carve_fn carve, void *obj, const char *what,
                    halo_err *err) {
    *a = (halo_arena){0};
    int overflow;
    size_t bytes = measure(carve, obj, &overflow); /* stores NULLs */
    unsigned char *base = overflow ? NULL : calloc(bytes ? bytes : 1, 1);
    if (!base)
        return fail(what, overflow, bytes, err);
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
