/*
 * Teacher-forced evaluation: the quality metric of every experiment.
 *
 * Input is text holding stories separated by lines that hold only "<|endoftext|>" (a
 * trailing '\r' is tolerated). Each story is trimmed of surrounding whitespace, encoded as
 * BOS plus its tokens (llama2.c's encoder, dummy-prefix space included), and every token
 * after BOS is scored by its negative log-likelihood under the logits the forward function
 * returns for the preceding position. A story longer than the context is scored on its first
 * seq_len positions and counted as truncated. Empty stories are skipped.
 *
 * The forward pass is a callback, so the same metric runs on one device, on an in-process
 * cluster or inside a simulation. This module reads no files and prints nothing.
 */
#ifndef HALO_EVAL_H
#define HALO_EVAL_H

#include "core/status.h"
#include "core/tokenizer.h"

/*
 * Runs `token` at `pos` (pos 0 starts each story's sequence) and points *logits at
 * vocab_size logits. Returns HALO_OK or an error that stops the evaluation.
 */
typedef int (*halo_eval_forward_fn)(void *ctx, int token, int pos, const float **logits,
                                    halo_err *err);

/* Called after each story with the running totals; may be NULL. */
typedef void (*halo_eval_progress_fn)(void *ctx, long stories, long tokens);

typedef struct halo_eval_result {
    long stories;   /* stories scored */
    long tokens;    /* tokens scored (BOS excluded) */
    long truncated; /* stories cut at the context length */
    double nll_sum; /* sum of negative log-likelihoods, nats */
} halo_eval_result;

typedef struct halo_eval_config {
    const halo_tokenizer *tok;
    int seq_len;                  /* positions per story at most */
    int vocab_size;               /* logits per position */
    long max_stories;             /* < 0: all */
    halo_eval_forward_fn forward; /* required */
    void *forward_ctx;
    halo_eval_progress_fn progress; /* optional */
    void *progress_ctx;
} halo_eval_config;

/*
 * The next story of a text, split as above: *cursor starts at the text (NUL-terminated) and
 * is advanced past the story (NULL after the last line); returns 1 with the trimmed story at
 * [*story, *story + *len) (never empty; a pointer into the text), or 0 when the text holds no
 * further story.
 */
int halo_eval_next_story(const char **cursor, const char **story, size_t *len);

/*
 * Scores every story of `text` (NUL-terminated; not modified). *out is overwritten.
 * Errors: HALO_ERR_NOMEM, HALO_ERR_ARG (bad config), HALO_ERR_FORMAT (a NaN or infinite
 * log-likelihood: the model's logits are not finite; the message names story and position),
 * or the forward function's error. A text with no story is not an error: the result then
 * holds zero tokens.
 */
int halo_eval_text(const halo_eval_config *cfg, const char *text, halo_eval_result *out,
                   halo_err *err);

/* Mean NLL per token (nats) of a result; NAN when no token was scored. */
double halo_eval_mean_nll(const halo_eval_result *r);

#endif /* HALO_EVAL_H */
