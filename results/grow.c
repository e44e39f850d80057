/*
 * Arrays that grow by doubling (results/grow.h).
 */
#include "results/grow.h"

#include <stdlib.h>

void *halo__grow(void *v, long n, long *cap, size_t size, long first) {
    if (n < *cap)
        return v;
    long c = *cap ? 2 * *cap : first;
    void *w = realloc(v, (size_t)c * size);
    if (w)
        *cap = c;
    return w;
}
