/*
 * A traced forward pass: the single-device forward (the same kernels in the same order as
 * forward.c, so its logits equal halo_forward's bit for bit on one thread) with hooks at
 * every block boundary, for offline work that needs each layer's internals: fitting and
 * measuring the importance predictor (`halo calibrate`, tests).
 *
 * It runs on one thread and is not meant for serving; halo_forward stays the fast path and
 * is not changed by this module. Like a run state, a trace allocates every buffer at
 * creation and nothing per token.
 */
#ifndef HALO_TRACE_H
#define HALO_TRACE_H

#include "core/model.h"
#include "core/status.h"
#include "core/wire.h"

typedef struct halo_trace halo_trace;

/*
 * Called around each block (`phase` is HALO_PHASE_ATTN or HALO_PHASE_FFN) of each layer:
 *  - before: right before the block computes; xb (dim floats) is its normalised input;
 *  - after: right after it computed and added its output to the residual stream; `out` is
 *    the attention heads' outputs before Wo (dim floats) for attention, the SwiGLU
 *    activations h (hidden_dim floats) for the FFN.
 * The pointers are the trace's buffers, valid during the call only. Either may be NULL.
 */
typedef struct halo_trace_hooks {
    void *ctx;
    void (*before)(void *ctx, int layer, int phase, const float *xb);
    void (*after)(void *ctx, int layer, int phase, const float *out);
} halo_trace_hooks;

/*
 * Creates a trace for `model` (which must have weights; a reference is kept until
 * halo_trace_free). Errors: HALO_ERR_ARG (shape-only model), HALO_ERR_NOMEM.
 */
int halo_trace_new(halo_trace **out, const halo_model *model, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_trace_free(halo_trace *t);

/*
 * Runs `token` at `pos` (as halo_forward: positions 0..pos-1 ran before on this trace),
 * calling `hooks` (may be NULL), and returns the logits (vocab_size floats, owned by the
 * trace, valid until the next call).
 */
float *halo_trace_forward(halo_trace *t, int token, int pos, const halo_trace_hooks *hooks);

#endif /* HALO_TRACE_H */
