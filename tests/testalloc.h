/*
 * Allocation counter for tests that check a path allocates nothing: malloc, calloc and
 * realloc are wrapped at link time (halo_alloc_counted_test in tests/CMakeLists.txt adds
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc and this library). Frees are not counted.
 */
#ifndef HALO_TESTALLOC_H
#define HALO_TESTALLOC_H

/* Allocations so far in this process (any thread). */
long ta_allocs(void);

#endif /* HALO_TESTALLOC_H */
