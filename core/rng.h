/*
 * Seeded pseudo-random streams (xoshiro256** seeded through splitmix64).
 *
 * Every random draw in halo comes from a stream derived from (seed, run, node, purpose), as
 * in ns-3's SetSeed/SetRun: changing `run` gives an independent replication and two streams
 * with different purposes never share state. The generator is a plain value type: copy it to
 * fork, embed it in the struct that owns the randomness. No global state.
 */
#ifndef HALO_RNG_H
#define HALO_RNG_H

#include <stdint.h>

typedef struct halo_rng {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
} halo_rng;

/* Seeds `rng` from one 64-bit value (any value, zero included). */
void halo_rng_init(halo_rng *rng, uint64_t seed);

/* Seeds `rng` as the stream identified by (seed, run, node_idx, purpose). */
void halo_rng_init_stream(halo_rng *rng, uint64_t seed, uint64_t run, uint64_t node_idx,
                          uint64_t purpose);

/* Next 64 uniformly distributed bits. */
uint64_t halo_rng_u64(halo_rng *rng);

/* Uniform float in [0, 1) with 24 random bits. */
float halo_rng_f32(halo_rng *rng);

/* Uniform double in [0, 1) with 53 random bits. */
double halo_rng_f64(halo_rng *rng);

#endif /* HALO_RNG_H */
