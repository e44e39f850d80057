/*
 * The wrapped allocators behind tests/testalloc.h.
 */
#include "tests/testalloc.h"

#include <stdatomic.h>
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static atomic_long n_allocs;

long ta_allocs(void) {
    return atomic_load(&n_allocs);
}

void *__wrap_malloc(size_t n) {
    atomic_fetch_add(&n_allocs, 1);
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m) {
    atomic_fetch_add(&n_allocs, 1);
    return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n) {
    atomic_fetch_add(&n_allocs, 1);
    return __real_realloc(p, n);
}
