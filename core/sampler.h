/*
 * Next-token sampling from logits: greedy (temperature 0), plain temperature sampling, or
 * nucleus (top-p) sampling, from a seeded stream. Owns its scratch space, so sampling never
 * allocates. One sampler per generation; not thread-safe.
 */
#ifndef HALO_SAMPLER_H
#define HALO_SAMPLER_H

#include "core/rng.h"
#include "core/status.h"

#include <stdint.h>

typedef struct halo_sampler halo_sampler;

/*
 * Creates a sampler over `vocab_size` tokens. `temperature` >= 0 (0 = greedy, argmax with the
 * lowest id on ties); `top_p` in (0, 1] (1 = no nucleus cut); `seed` seeds the stream.
 * Errors: HALO_ERR_ARG (a value out of range, NaN), HALO_ERR_NOMEM.
 */
int halo_sampler_new(halo_sampler **out, int vocab_size, float temperature, float top_p,
                     uint64_t seed, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_sampler_free(halo_sampler *s);

/*
 * Picks the next token from `logits` (vocab_size floats) into *out. The logits are overwritten
 * (scaled and turned into probabilities) unless the sampler is greedy. A temperature so small
 * that logit / temperature overflows samples as the limit does (the largest logit, i.e.
 * greedy, unless several share it).
 * Errors: HALO_ERR_FORMAT (a NaN or infinite logit; *out is -1 and the message names the
 * token: the caller puts the position in front).
 */
int halo_sampler_sample(halo_sampler *s, float *logits, int *out, halo_err *err);

/* Index of the largest value (the first on ties). n >= 1. */
int halo_argmax(const float *x, int n);

#endif /* HALO_SAMPLER_H */
