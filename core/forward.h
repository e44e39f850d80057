/*
 * The single-device forward pass (float32, llama2.c semantics: RMSNorm, RoPE, grouped-query
 * attention with a KV cache, SwiGLU FFN, shared or separate classifier).
 *
 * A run state holds the activations and the KV cache of one sequence; every buffer is
 * allocated once in halo_state_new, so decoding allocates nothing. Several states may share
 * one model (and one pool, used by one state at a time).
 */
#ifndef HALO_FORWARD_H
#define HALO_FORWARD_H

#include "core/model.h"
#include "core/pool.h"
#include "core/status.h"

#include <stddef.h>

typedef struct halo_state halo_state;

/*
 * Creates a run state for `model`. Keeps references to `model` and `pool` (which may be
 * NULL: single-threaded) until halo_state_free; both must outlive the state.
 * Errors: HALO_ERR_NOMEM.
 */
int halo_state_new(halo_state **out, const halo_model *model, halo_pool *pool, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_state_free(halo_state *s);

/* Bytes the state allocated (activations and KV cache). */
size_t halo_state_bytes(const halo_state *s);

/*
 * Runs `token` at position `pos` (0 <= pos < seq_len, 0 <= token < vocab_size; positions
 * 0..pos-1 must have been run before on this state) and returns the logits (vocab_size
 * floats), owned by the state and valid until the next call.
 */
float *halo_forward(halo_state *s, int token, int pos);

#endif /* HALO_FORWARD_H */
