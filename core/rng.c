/*
 * xoshiro256** (Blackman and Vigna, 2018) with splitmix64 seeding. Written from the
 * published algorithm description; constants are the published ones.
 */
#include "core/rng.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void halo_rng_init(halo_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
    /* splitmix64 is a bijection of a counter, so four consecutive outputs are never all 0. */
}

void halo_rng_init_stream(halo_rng *rng, uint64_t seed, uint64_t run, uint64_t node_idx,
                          uint64_t purpose) {
    /* Fold the four coordinates through splitmix64 so that nearby tuples land far apart. */
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ run;
    h = splitmix64(&x);
    x = h ^ node_idx;
    h = splitmix64(&x);
    x = h ^ purpose;
    h = splitmix64(&x);
    halo_rng_init(rng, h);
}

uint64_t halo_rng_u64(halo_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float halo_rng_f32(halo_rng *rng) {
    return (float)(halo_rng_u64(rng) >> 40) * (1.0f / 16777216.0f);
}

double halo_rng_f64(halo_rng *rng) {
    return (double)(halo_rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
}
