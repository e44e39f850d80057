/*
 * Arrays that grow by doubling, for lists read from files, scenarios and queries (runs,
 * samples, report points, YAML anchors, scenario documents, sweep axes, tokens), and byte
 * arrays that files are assembled in (a GGUF writer's keys, test and seed files). Not a
 * container: the caller keeps the pointer, the count and the capacity in its own struct, and
 * frees the array with free(). Moved here from results/ (issue 12) so that core, sim and
 * results share one copy of the doubling.
 */
#ifndef HALO_CORE_GROW_H
#define HALO_CORE_GROW_H

#include <stddef.h>

/*
 * Room for element n of the array v (capacity *cap elements of `size` bytes): v itself while
 * n < *cap, else v reallocated to twice *cap (`first` elements when *cap is 0) with *cap
 * updated. Returns NULL when out of memory; v and *cap are then unchanged and v stays the
 * caller's to free.
 */
void *halo__grow(void *v, long n, long *cap, size_t size, long first);

/*
 * Appends one element of `size` bytes, all zero, to the array whose pointer is at `arrayp`
 * (a `T **`, T of `size` bytes), holding *n elements in a capacity of *cap, growing it as
 * halo__grow does. Returns the new element (then *n has grown by one), or NULL when out of
 * memory (then nothing has changed).
 */
void *halo__push(void *arrayp, long *n, long *cap, size_t size, long first);

/* A byte array that grows by doubling (files and frames being assembled): zero-initialise
   it, append with halo__append, free(p) at the end. */
typedef struct halo_byte_array {
    unsigned char *p; /* (cap) bytes, the first n written */
    size_t n, cap;
} halo_byte_array;

/*
 * Appends n bytes at p to *a, doubling its capacity (from `first` bytes when it has none)
 * until they fit. Returns 0, or -1 when out of memory (then *a is unchanged and a->p stays
 * the caller's to free).
 */
int halo__append(halo_byte_array *a, const void *p, size_t n, size_t first);

#endif /* HALO_CORE_GROW_H */
