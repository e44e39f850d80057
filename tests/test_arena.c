/*
 * Arenas (core/arena.h): one measured block carved into aligned, zeroed pieces in the order
 * of the carve function, with or without the object itself in the block; sizes that overflow
 * fail cleanly; freeing is one call and idempotent.
 */
#include "core/arena.h"
#include "tests/test.h"

#include <stdint.h>

typedef struct thing {
    size_t n_floats, n_bytes;
    float *f;
    unsigned char *b;
    double *d;
    int *none;
} thing;

static void carve_thing(void *obj, halo_arena *a) {
    thing *t = obj;
    t->f = halo_arena_take(a, t->n_floats, sizeof *t->f);
    t->b = halo_arena_take(a, t->n_bytes, 1);
    t->d = halo_arena_take(a, 3, sizeof *t->d);
    t->none = halo_arena_take(a, 0, sizeof *t->none);
}

static void pieces_are_aligned_zeroed_and_disjoint(void) {
    thing t = {.n_floats = 5, .n_bytes = 3};
    halo_arena a;
    ASSERT_OK(halo_arena_init(&a, carve_thing, &t, "thing", NULL));
    ASSERT(t.f && t.b && t.d && t.none);
    ASSERT_EQ((uintptr_t)t.f % _Alignof(max_align_t), 0);
    ASSERT_EQ((uintptr_t)t.b % _Alignof(max_align_t), 0);
    ASSERT_EQ((uintptr_t)t.d % _Alignof(max_align_t), 0);
    ASSERT((unsigned char *)t.b >= (unsigned char *)(t.f + t.n_floats));
    ASSERT((unsigned char *)t.d >= t.b + t.n_bytes);
    ASSERT((unsigned char *)(t.d + 3) <= a.base + a.cap_bytes);
    ASSERT_EQ(a.used_bytes, a.cap_bytes);
    for (size_t i = 0; i < t.n_floats; i++)
        ASSERT(t.f[i] == 0.0f);
    for (size_t i = 0; i < 3; i++)
        ASSERT(t.d[i] == 0.0);
    t.d[2] = 1.5; /* the last piece is writable to its end */
    halo_arena_free(&a);
    ASSERT(a.base == NULL);
    halo_arena_free(&a); /* twice: a no-op */
    halo_arena_free(NULL);
}

static void empty_carve_gives_a_block(void) {
    thing t = {0};
    halo_arena a;
    ASSERT_OK(halo_arena_init(&a, carve_thing, &t, "thing", NULL));
    ASSERT(t.f != NULL && t.none != NULL);
    halo_arena_free(&a);
}

static void overflowing_sizes_fail_and_store_nulls(void) {
    thing t = {.n_floats = SIZE_MAX / 2, .n_bytes = 1};
    halo_arena a = {.used_bytes = 7}; /* overwritten */
    halo_err err = {0};
    ASSERT_EQ(halo_arena_init(&a, carve_thing, &t, "big thing", &err), HALO_ERR_NOMEM);
    ASSERT_STR_CONTAINS(err.msg, "big thing: out of memory");
    ASSERT(a.base == NULL && a.used_bytes == 0 && a.cap_bytes == 0);
    ASSERT(t.f == NULL && t.b == NULL && t.d == NULL && t.none == NULL);
    halo_arena_free(&a);
}

static void object_and_its_buffers_share_one_block(void) {
    thing proto = {.n_floats = 7, .n_bytes = 5};
    size_t bytes = 0;
    thing *t = halo_arena_new(sizeof proto, &proto, carve_thing, "thing", &bytes, NULL);
    ASSERT(t != NULL);
    ASSERT(proto.f == NULL && proto.b == NULL); /* measured on the prototype */
    ASSERT_EQ(t->n_floats, 7);                  /* the copy keeps its fields */
    ASSERT_EQ(t->n_bytes, 5);
    unsigned char *block = (unsigned char *)t;
    ASSERT((unsigned char *)t->f >= block + sizeof *t);
    ASSERT((unsigned char *)(t->d + 3) <= block + bytes);
    ASSERT_EQ((uintptr_t)t->d % _Alignof(max_align_t), 0);
    for (size_t i = 0; i < t->n_floats; i++)
        ASSERT(t->f[i] == 0.0f);
    free(t); /* one free for all */
    halo_err err = {0};
    proto = (thing){.n_floats = SIZE_MAX / 2};
    ASSERT(halo_arena_new(sizeof proto, &proto, carve_thing, "huge thing", NULL, &err) == NULL);
    ASSERT_EQ(err.code, HALO_ERR_NOMEM);
    ASSERT_STR_CONTAINS(err.msg, "huge thing: out of memory");
}

TEST_MAIN(TEST(object_and_its_buffers_share_one_block),
          TEST(pieces_are_aligned_zeroed_and_disjoint), TEST(empty_carve_gives_a_block),
          TEST(overflowing_sizes_fail_and_store_nulls))
