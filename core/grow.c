/*
 * Arrays that grow by doubling (core/grow.h).
 */
#include "core/grow.h"

#include <stdlib.h>
#include <string.h>

void *halo__grow(void *v, long n, long *cap, size_t size, long first) {
    if (n < *cap)
        return v;
    long c = *cap ? 2 * *cap : first;
    void *w = realloc(v, (size_t)c * size);
    if (w)
        *cap = c;
    return w;
}

int halo__append(halo_byte_array *a, const void *p, size_t n, size_t first) {
    if (a->n + n > a->cap) {
        size_t cap = a->cap ? a->cap : first;
        while (cap < a->n + n)
            cap *= 2;
        unsigned char *b = realloc(a->p, cap);
        if (!b)
            return -1;
        a->p = b;
        a->cap = cap;
    }
    if (n)
        memcpy(a->p + a->n, p, n);
    a->n += n;
    return 0;
}

void *halo__push(void *arrayp, long *n, long *cap, size_t size, long first) {
    void *v;
    memcpy(&v, arrayp, sizeof v); /* the caller's T *, read without naming T */
    v = halo__grow(v, *n, cap, size, first);
    if (!v)
        return NULL;
    memcpy(arrayp, &v, sizeof v);
    unsigned char *e = (unsigned char *)v + (size_t)*n * size;
    memset(e, 0, size);
    ++*n;
    return e;
}
