/*
 * The llama2.c tokenizer format, SentencePiece-style `llama` vocabularies of GGUF files, and
 * their byte-pair encoder/decoder.
 *
 * File format: int32 max_token_length, then for every token: float32 score, int32 length,
 * `length` bytes (no terminator). The file holds exactly vocab_size entries. Token 1 is BOS,
 * token 2 is EOS, tokens 3..258 are the byte-fallback pieces <0x00>..<0xFF>.
 *
 * Encoding follows llama2.c: BOS, then a dummy-prefix " " when the text is not empty, then
 * one token per UTF-8 code point found in the vocabulary (its bytes as byte tokens
 * otherwise), then repeated merging of the adjacent pair whose concatenation is in the
 * vocabulary with the highest score (the leftmost on ties). The tokenizer is immutable after
 * loading and may be shared.
 *
 * A GGUF file's vocabulary (tokenizer.ggml.model "llama": tokens, scores, token types) is the
 * same thing with SentencePiece's U+2581 for spaces and <s>, </s> for BOS and EOS; it is read
 * into the same form. Byte fallback uses the file's <0xXX> pieces wherever they are. The
 * GPT-2-style BPE vocabularies of Llama 3 ("gpt2") are refused.
 */
#ifndef HALO_TOKENIZER_H
#define HALO_TOKENIZER_H

#include "core/status.h"

#include <stddef.h>

enum {
    HALO_TOKEN_BOS = 1,
    HALO_TOKEN_EOS = 2,
};

typedef struct halo_tokenizer halo_tokenizer;

/*
 * Loads the tokenizer at `path` and checks that it holds exactly `vocab_size` tokens (the
 * model's). Errors: HALO_ERR_IO, HALO_ERR_FORMAT (truncated, bad lengths, wrong vocabulary
 * size, trailing bytes), HALO_ERR_NOMEM. *out is NULL on failure.
 */
int halo_tokenizer_load(halo_tokenizer **out, const char *path, int vocab_size, halo_err *err);

/*
 * Reads the vocabulary of a GGUF file (core/gguf.h) and checks it holds exactly `vocab_size`
 * tokens. Errors: HALO_ERR_FORMAT (no vocabulary, a model other than "llama", arrays of the
 * wrong type or length, a token longer than 65536 bytes, non-finite scores, BOS/EOS ids
 * other than 1/2), HALO_ERR_NOMEM; messages name the file and the key. *out is NULL on
 * failure.
 */
struct halo_gguf;
int halo_tokenizer_load_gguf(halo_tokenizer **out, const struct halo_gguf *g, int vocab_size,
                             halo_err *err);

/* Frees; NULL is a no-op. */
void halo_tokenizer_free(halo_tokenizer *tok);

/* Token `id`'s stored piece (spaces as ' ') and score; no decoding rules applied. */
void halo_tokenizer_piece(const halo_tokenizer *tok, int id, const char **bytes, size_t *len,
                          float *score);

/* Number of tokens. */
int halo_tokenizer_vocab_size(const halo_tokenizer *tok);

/* Upper bound on the number of tokens halo_tokenizer_encode can produce for `text`. */
size_t halo_tokenizer_max_tokens(const char *text);

/*
 * Encodes the NUL-terminated `text` into `tokens` (capacity `max_tokens`), with BOS first if
 * `bos` and EOS last if `eos`. *n_tokens receives the count. Errors: HALO_ERR_ARG when
 * max_tokens is too small (nothing useful is left in `tokens`), HALO_ERR_NOMEM.
 */
int halo_tokenizer_encode(const halo_tokenizer *tok, const char *text, int bos, int eos,
                          int *tokens, int max_tokens, int *n_tokens, halo_err *err);

/*
 * The bytes `token` stands for when it follows `prev_token`: the leading space of a piece
 * right after BOS is dropped and a <0xXX> piece becomes its byte. The returned string is
 * owned by the tokenizer and valid as long as it; *n_bytes receives its length (a byte piece
 * may be "\0"). `token` must be in range.
 */
const char *halo_tokenizer_decode(const halo_tokenizer *tok, int prev_token, int token,
                                  size_t *n_bytes);

#endif /* HALO_TOKENIZER_H */
