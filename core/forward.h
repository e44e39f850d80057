/*
 * The single-device forward pass (llama2.c semantics: RMSNorm, RoPE, grouped-query
 * attention with a KV cache, SwiGLU FFN, shared or separate classifier), on weights of any
 * supported type (core/mat.h; activations float32, the KV cache float32).
 *
 * A run state holds the activations and the KV cache of one sequence; every buffer is
 * carved from one arena in halo_state_new, so decoding allocates nothing. Several states may
 * share one model (and one pool, used by one state at a time).
 *
 * Offline work that needs each layer's internals (fitting and measuring the importance
 * predictor: core/predictor_fit.h, tests) runs the same pass with hooks at every block
 * boundary, halo_forward_hooked; there is no second copy of the forward pass to keep in step.
 */
#ifndef HALO_FORWARD_H
#define HALO_FORWARD_H

#include "core/model.h"
#include "core/pool.h"
#include "core/status.h"
#include "core/wire.h"

#include <stddef.h>

typedef struct halo_state halo_state;

/*
 * Creates a run state for `model`. Keeps references to `model` and `pool` (which may be
 * NULL: single-threaded) until halo_state_free; both must outlive the state.
 * Errors: HALO_ERR_ARG (a shape-only model: it has no weights to run), HALO_ERR_NOMEM.
 */
int halo_state_new(halo_state **out, const halo_model *model, halo_pool *pool, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_state_free(halo_state *s);

/* Bytes the state allocated (activations and KV cache, in one block). */
size_t halo_state_bytes(const halo_state *s);

/*
 * Runs `token` at position `pos` (0 <= pos < seq_len, 0 <= token < vocab_size; positions
 * 0..pos-1 must have been run before on this state) and returns the logits (vocab_size
 * floats), owned by the state and valid until the next call.
 */
float *halo_forward(halo_state *s, int token, int pos);

/*
 * Called around each block (`phase` is HALO_PHASE_ATTN or HALO_PHASE_FFN) of each layer:
 *  - before: right before the block computes; xb (dim floats) is its normalised input;
 *  - after: right after it computed and added its output to the residual stream; `out` is
 *    the attention heads' outputs before Wo (dim floats) for attention, the SwiGLU
 *    activations h (hidden_dim floats) for the FFN.
 * The pointers are the state's buffers, valid during the call only. Either may be NULL.
 * A hook must not run the state it observes.
 */
typedef struct halo_forward_hooks {
    void *ctx;
    void (*before)(void *ctx, int layer, int phase, const float *xb);
    void (*after)(void *ctx, int layer, int phase, const float *out);
} halo_forward_hooks;

/*
 * halo_forward, calling `hooks` (may be NULL: then it is halo_forward) around every block.
 * The hooks observe and do not change the computation: the logits are those of
 * halo_forward, bit for bit.
 */
float *halo_forward_hooked(halo_state *s, int token, int pos, const halo_forward_hooks *hooks);

#endif /* HALO_FORWARD_H */
