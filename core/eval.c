/*
 * Story splitting and teacher-forced scoring.
 */
#include "core/eval.h"

#include "core/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char SEPARATOR[] = "<|endoftext|>";

enum {
    SEP_LEN = sizeof SEPARATOR - 1
};

static int is_blank(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Is [line, line+len) a separator line? */
static int is_separator(const char *line, size_t len) {
    if (len == SEP_LEN + 1 && line[SEP_LEN] == '\r')
        len = SEP_LEN;
    return len == SEP_LEN && memcmp(line, SEPARATOR, SEP_LEN) == 0;
}

int halo_eval_next_story(const char **cursor, const char **story, size_t *len) {
    const char *start = *cursor; /* first byte of the current story; NULL: the text is done */
    for (const char *line = start; line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        int sep = is_separator(line, n);
        if (sep || !nl) {
            const char *end = sep ? line : line + n;
            while (start < end && is_blank(*start))
                start++;
            while (end > start && is_blank(end[-1]))
                end--;
            *cursor = nl ? nl + 1 : NULL;
            if (end > start) {
                *story = start;
                *len = (size_t)(end - start);
                return 1;
            }
            start = *cursor;
        }
        line = nl ? nl + 1 : NULL;
    }
    *cursor = NULL;
    return 0;
}

static int score_story(const halo_eval_config *cfg, const char *story, int *tokens, int cap,
                       halo_eval_result *r, halo_err *err) {
    int n = 0;
    int rc = halo_tokenizer_encode(cfg->tok, story, 1, 0, tokens, cap, &n, err);
    if (rc != HALO_OK)
        return rc;
    if (n > cfg->seq_len) {
        r->truncated++;
        n = cfg->seq_len;
    }
    for (int pos = 0; pos + 1 < n; pos++) {
        const float *logits;
        rc = cfg->forward(cfg->forward_ctx, tokens[pos], pos, &logits, err);
        if (rc != HALO_OK)
            return rc;
        double nll = halo_nll(logits, cfg->vocab_size, tokens[pos + 1]);
        /* A NaN or infinite score would make every total meaningless (and printed as a JSON
           number, invalid JSON: issue 18): an error naming where it happened. */
        if (!isfinite(nll))
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "eval: story %ld, position %d: the log-likelihood is %s (the "
                             "model gives non-finite logits)",
                             r->stories + 1, pos, isnan(nll) ? "NaN" : "infinite");
        r->nll_sum += nll;
        r->tokens++;
    }
    r->stories++;
    return HALO_OK;
}

int halo_eval_text(const halo_eval_config *cfg, const char *text, halo_eval_result *out,
                   halo_err *err) {
    memset(out, 0, sizeof *out);
    if (!cfg->tok || !cfg->forward || cfg->seq_len < 1 || cfg->vocab_size < 1)
        return HALO_FAIL(err, HALO_ERR_ARG, "eval: incomplete configuration");
    size_t text_len = strlen(text);
    if (text_len > (size_t)1 << 28)
        return HALO_FAIL(err, HALO_ERR_ARG, "eval: text of %zu bytes is too large", text_len);
    char *story = malloc(text_len + 1);
    size_t cap = halo_tokenizer_max_tokens(text);
    int *tokens = malloc(cap * sizeof *tokens);
    if (!story || !tokens) {
        free(story);
        free(tokens);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "eval: out of memory");
    }
    int rc = HALO_OK;
    const char *at = text, *s;
    size_t n;
    while (rc == HALO_OK && halo_eval_next_story(&at, &s, &n)) {
        if (cfg->max_stories >= 0 && out->stories >= cfg->max_stories)
            break;
        memcpy(story, s, n);
        story[n] = '\0';
        rc = score_story(cfg, story, tokens, (int)cap, out, err);
        if (rc == HALO_OK && cfg->progress)
            cfg->progress(cfg->progress_ctx, out->stories, out->tokens);
    }
    free(story);
    free(tokens);
    return rc;
}

double halo_eval_mean_nll(const halo_eval_result *r) {
    return r->tokens > 0 ? r->nll_sum / (double)r->tokens : (double)NAN;
}
