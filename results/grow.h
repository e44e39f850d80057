/*
 * Arrays that grow by doubling, for the results library's lists read from files and
 * queries (runs, samples, report points, database info). Not a container: the caller keeps
 * the pointer, the count and the capacity in its own struct, and frees the array with free().
 */
#ifndef HALO_RESULTS_GROW_H
#define HALO_RESULTS_GROW_H

#include <stddef.h>

/*
 * Room for element n of the array v (capacity *cap elements of `size` bytes): v itself while
 * n < *cap, else v reallocated to twice *cap (`first` elements when *cap is 0) with *cap
 * updated. Returns NULL when out of memory; v and *cap are then unchanged and v stays the
 * caller's to free.
 */
void *halo__grow(void *v, long n, long *cap, size_t size, long first);

#endif /* HALO_RESULTS_GROW_H */
