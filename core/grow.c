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
