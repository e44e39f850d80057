/*
 * Tokenizer: parsing of the llama2.c format, a sorted index for piece lookup, and the
 * score-ordered BPE merge (a linked list of symbols and a heap of candidate pairs). Pieces are byte
 * strings with explicit lengths; a piece may hold any byte, NUL included.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/tokenizer.h"

#include "core/arena.h"
#include "core/bytes.h"
#include "core/file.h"
#include "core/gguf.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct piece {
    const char *bytes; /* points into tok->blob */
    int len;
    int id;
} piece;

struct halo_tokenizer {
    int vocab_size;
    int max_token_length;
    size_t blob_bytes; /* file size + vocab_size: every entry takes at least 8 bytes */
    /* One block holds this struct and the tables below (llama2.c files); a tokenizer read
       from GGUF metadata allocates them one by one and sets own_tables. */
    int own_tables;
    float *scores; /* (vocab_size) */
    piece *pieces; /* (vocab_size), by id */
    piece *sorted; /* (vocab_size), by bytes, for lookup */
    char *blob;    /* (blob_bytes) all piece bytes, each NUL-terminated */
    char byte_pieces[256][2];
    int byte_ids[256]; /* the <0xXX> piece of each byte (llama2.c files: byte + 3) */
};

enum {
    MAX_TOKEN_LENGTH = 1 << 16
};

static int read_exact(FILE *f, void *buf, size_t n) {
    return fread(buf, 1, n, f) == n ? 0 : -1;
}

static int piece_cmp_bytes(const char *a, int alen, const char *b, int blen) {
    int n = alen < blen ? alen : blen;
    int c = memcmp(a, b, (size_t)n);
    if (c != 0)
        return c;
    return (alen > blen) - (alen < blen);
}

static int piece_cmp(const void *pa, const void *pb) {
    const piece *a = pa, *b = pb;
    int c = piece_cmp_bytes(a->bytes, a->len, b->bytes, b->len);
    return c != 0 ? c : (a->id > b->id) - (a->id < b->id);
}

/* Returns the id of the piece equal to bytes[0..len), or -1. Duplicates: the lowest id. */
static int lookup(const halo_tokenizer *t, const char *bytes, int len) {
    int lo = 0, hi = t->vocab_size;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const piece *p = &t->sorted[mid];
        if (piece_cmp_bytes(p->bytes, p->len, bytes, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->vocab_size &&
        piece_cmp_bytes(t->sorted[lo].bytes, t->sorted[lo].len, bytes, len) == 0)
        return t->sorted[lo].id;
    return -1;
}

static void carve(void *obj, halo_arena *a) {
    halo_tokenizer *t = obj;
    size_t n = (size_t)t->vocab_size;
    t->scores = halo_arena_take(a, n, sizeof *t->scores);
    t->pieces = halo_arena_take(a, n, sizeof *t->pieces);
    t->sorted = halo_arena_take(a, n, sizeof *t->sorted);
    t->blob = halo_arena_take(a, t->blob_bytes, 1);
}

/* Reads every entry; fails on anything but exactly vocab_size well-formed entries. */
static int parse(halo_tokenizer *t, FILE *f, const char *path, halo_err *err) {
    unsigned char b[4];
    if (read_exact(f, b, 4) != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: truncated tokenizer header", path);
    t->max_token_length = halo_get_i32(b);
    if (t->max_token_length <= 0 || t->max_token_length > MAX_TOKEN_LENGTH)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: max_token_length %d, expected 1..%d", path,
                         t->max_token_length, MAX_TOKEN_LENGTH);
    size_t used = 0, blob_bytes = t->blob_bytes;
    for (int i = 0; i < t->vocab_size; i++) {
        unsigned char hdr[8];
        if (read_exact(f, hdr, 8) != 0)
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s: holds %d tokens, the model has %d (vocabulary mismatch or "
                             "truncated file)",
                             path, i, t->vocab_size);
        float score = halo_get_f32(hdr);
        int32_t len = halo_get_i32(hdr + 4);
        if (!isfinite(score))
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: token %d has a non-finite score", path, i);
        if (len < 0 || len > t->max_token_length)
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: token %d has length %d, expected 0..%d",
                             path, i, (int)len, t->max_token_length);
        if (used + (size_t)len + 1 > blob_bytes)
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: token %d runs past the end of the file",
                             path, i);
        if (len > 0 && read_exact(f, t->blob + used, (size_t)len) != 0)
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: token %d is truncated", path, i);
        t->blob[used + (size_t)len] = '\0';
        t->scores[i] = score;
        t->pieces[i] = (piece){.bytes = t->blob + used, .len = len, .id = i};
        used += (size_t)len + 1;
    }
    if (fgetc(f) != EOF) {
        /* Count what is left to make the mismatch message useful. */
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: has data after %d tokens: vocabulary larger than the model's, "
                         "or not a tokenizer file",
                         path, t->vocab_size);
    }
    return HALO_OK;
}

/* The lookup index and the byte tables, once the pieces are in place. */
static void finish(halo_tokenizer *t) {
    memcpy(t->sorted, t->pieces, (size_t)t->vocab_size * sizeof *t->sorted);
    qsort(t->sorted, (size_t)t->vocab_size, sizeof *t->sorted, piece_cmp);
    for (int i = 0; i < 256; i++) {
        t->byte_pieces[i][0] = (char)i;
        t->byte_pieces[i][1] = '\0';
        char name[7];
        (void)snprintf(name, sizeof name, "<0x%02X>", (unsigned)i);
        int id = lookup(t, name, 6);
        /* Without its <0xXX> piece a byte falls back to llama2.c's id (byte + 3), and in a
           vocabulary too small for that (under 259 tokens) to token 0 (<unk>): never an id
           past the vocabulary. */
        t->byte_ids[i] = id >= 0 ? id : i + 3 < t->vocab_size ? i + 3 : 0;
    }
}

int halo_tokenizer_load(halo_tokenizer **out, const char *path, int vocab_size, halo_err *err) {
    *out = NULL;
    if (vocab_size < 3)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: vocabulary size %d too small", path, vocab_size);
    int fd;
    int rc = halo_file_open_regular(path, &fd, NULL, err);
    if (rc != HALO_OK)
        return rc;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        (void)close(fd);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot open tokenizer: %s", path, strerror(errno));
    }
    halo_tokenizer *t = NULL;
    long file_bytes = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        file_bytes = ftell(f);
    if (file_bytes < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
        goto fail;
    }
    if ((unsigned long)file_bytes < 4 + 8ul * (unsigned long)vocab_size) {
        rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                       "%s: %ld bytes cannot hold %d tokens (vocabulary mismatch or "
                       "truncated file)",
                       path, file_bytes, vocab_size);
        goto fail;
    }
    /* Every entry is at most 8 + MAX_TOKEN_LENGTH bytes: a larger file is not this
       vocabulary's, and its size must not decide the allocation below. */
    unsigned long max_bytes = 4 + (8ul + MAX_TOKEN_LENGTH) * (unsigned long)vocab_size;
    if ((unsigned long)file_bytes > max_bytes) {
        rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                       "%s: %ld bytes, more than %d tokens can take (at most %lu): vocabulary "
                       "mismatch or not a tokenizer file",
                       path, file_bytes, vocab_size, max_bytes);
        goto fail;
    }
    halo_tokenizer proto = {.vocab_size = vocab_size,
                            .blob_bytes = (size_t)file_bytes + (size_t)vocab_size};
    t = halo_arena_new(sizeof proto, &proto, carve, path, NULL, err);
    rc = t ? parse(t, f, path, err) : HALO_ERR_NOMEM;
    if (rc != HALO_OK)
        goto fail;
    finish(t);
    (void)fclose(f);
    *out = t;
    return HALO_OK;
fail:
    (void)fclose(f);
    halo_tokenizer_free(t);
    return rc;
}

/* Array key `key` of the vocabulary: present, of element type `et` and n elements. */
static int vocab_array(const halo_gguf *g, const char *key, int et, int n, int optional,
                       const halo_gguf_kv **out, halo_err *err) {
    const char *what = halo_gguf_what(g);
    *out = halo_gguf_find(g, key);
    if (!*out)
        return optional ? HALO_OK
                        : HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' is missing", what, key);
    if ((*out)->type != HALO_GGUF_ARRAY || (*out)->elem_type != et)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' is not an array of %s", what, key,
                         et == HALO_GGUF_STRING ? "strings"
                         : et == HALO_GGUF_F32  ? "f32"
                                                : "i32");
    if ((*out)->n != (uint64_t)n)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: key '%s' has %llu entries, the model's vocabulary %d", what, key,
                         (unsigned long long)(*out)->n, n);
    return HALO_OK;
}

int halo_tokenizer_load_gguf(halo_tokenizer **out, const halo_gguf *g, int vocab_size,
                             halo_err *err) {
    *out = NULL;
    const char *what = halo_gguf_what(g);
    if (vocab_size < 3)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: vocabulary size %d too small", what, vocab_size);
    const char *model;
    size_t model_len;
    if (!halo_gguf_find(g, "tokenizer.ggml.model"))
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: holds no vocabulary (key 'tokenizer.ggml.model'); give a "
                         "tokenizer file",
                         what);
    int rc = halo_gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len, err);
    if (rc != HALO_OK)
        return rc;
    if (model_len != 5 || memcmp(model, "llama", 5) != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: tokenizer model '%.*s' is not supported (halo reads 'llama' "
                         "SentencePiece vocabularies)",
                         what, (int)(model_len < 32 ? model_len : 32), model);
    const halo_gguf_kv *tokens, *scores, *types;
    if ((rc = vocab_array(g, "tokenizer.ggml.tokens", HALO_GGUF_STRING, vocab_size, 0, &tokens,
                          err)) ||
        (rc =
             vocab_array(g, "tokenizer.ggml.scores", HALO_GGUF_F32, vocab_size, 1, &scores, err)) ||
        (rc = vocab_array(g, "tokenizer.ggml.token_type", HALO_GGUF_I32, vocab_size, 1, &types,
                          err)))
        return rc;
    static const char *const ids[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"};
    for (int i = 0; i < 2; i++) {
        int64_t v = i + 1;
        rc = halo_gguf_get_int_opt(g, ids[i], 0, INT32_MAX, &v, err);
        if (rc != HALO_OK)
            return rc;
        if (v != i + 1)
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' is %lld; halo needs %d", what,
                             ids[i], (long long)v, i + 1);
    }
    halo_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    t->vocab_size = vocab_size;
    t->own_tables = 1;
    /* Pieces shrink (U+2581 is three bytes, a space one): the file's bytes bound the blob. */
    uint64_t pos = 0, total = 0;
    for (int i = 0; i < vocab_size; i++) {
        const char *s;
        size_t len;
        halo_gguf_array_str_next(tokens, &pos, &s, &len);
        if (len > MAX_TOKEN_LENGTH) {
            halo_tokenizer_free(t);
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: token %d is %zu bytes long, at most %d",
                             what, i, len, MAX_TOKEN_LENGTH);
        }
        total += len + 1;
    }
    t->scores = malloc((size_t)vocab_size * sizeof *t->scores);
    t->pieces = malloc((size_t)vocab_size * sizeof *t->pieces);
    t->sorted = malloc((size_t)vocab_size * sizeof *t->sorted);
    t->blob = malloc((size_t)total);
    if (!t->scores || !t->pieces || !t->sorted || !t->blob) {
        halo_tokenizer_free(t);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    }
    pos = 0;
    size_t used = 0;
    for (int i = 0; i < vocab_size; i++) {
        const char *s;
        size_t len;
        halo_gguf_array_str_next(tokens, &pos, &s, &len);
        char *dst = t->blob + used;
        size_t k = 0;
        for (size_t j = 0; j < len; j++) {
            if (j + 2 < len && memcmp(s + j, "\xe2\x96\x81", 3) == 0) {
                dst[k++] = ' ';
                j += 2;
            } else {
                dst[k++] = s[j];
            }
        }
        dst[k] = '\0';
        float score = scores ? (float)halo_gguf_array_num(scores, (uint64_t)i) : 0.0f;
        if (!isfinite(score)) {
            halo_tokenizer_free(t);
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: token %d has a non-finite score", what, i);
        }
        if (types) {
            double ty = halo_gguf_array_num(types, (uint64_t)i);
            if (ty < 1 || ty > 6) {
                halo_tokenizer_free(t);
                return HALO_FAIL(err, HALO_ERR_FORMAT,
                                 "%s: token %d has token type %g, expected 1..6", what, i, ty);
            }
        }
        t->scores[i] = score;
        t->pieces[i] = (piece){.bytes = dst, .len = (int)k, .id = i};
        if ((int)k > t->max_token_length)
            t->max_token_length = (int)k;
        used += k + 1;
    }
    if (t->max_token_length == 0)
        t->max_token_length = 1;
    finish(t);
    *out = t;
    return HALO_OK;
}

void halo_tokenizer_piece(const halo_tokenizer *tok, int id, const char **bytes, size_t *len,
                          float *score) {
    HALO_ASSERT(id >= 0 && id < tok->vocab_size);
    *bytes = tok->pieces[id].bytes;
    *len = (size_t)tok->pieces[id].len;
    if (score)
        *score = tok->scores[id];
}

void halo_tokenizer_free(halo_tokenizer *tok) {
    if (tok && tok->own_tables) {
        free(tok->scores);
        free(tok->pieces);
        free(tok->sorted);
        free(tok->blob);
    }
    free(tok); /* a llama2.c tokenizer and its tables are one block */
}

int halo_tokenizer_vocab_size(const halo_tokenizer *tok) {
    return tok->vocab_size;
}

size_t halo_tokenizer_max_tokens(const char *text) {
    return strlen(text) + 3; /* BOS, dummy prefix, EOS, one token per byte at most */
}

/*
 * The BPE merge. Semantics (llama2.c's): while some adjacent pair's concatenation is a piece,
 * replace the pair whose piece has the highest score by that piece, the leftmost pair on
 * equal scores. Rather than rescanning every pair after each merge (quadratic: a minute for a
 * 65 KB line), the symbols form a doubly linked list and the candidate pairs a binary heap
 * ordered by (score descending, left symbol's first position ascending): a symbol keeps the
 * position of its left end, so positions order symbols as the sequence does, and the heap's
 * top among live pairs is exactly the pair the rescan would pick. Entries are invalidated
 * lazily: one is live while its two symbols are still neighbours and still hold the tokens
 * they held when it was pushed (a symbol's token changes only by a merge; its left pair is
 * then pushed afresh with the new tokens). O(n log n) for n symbols.
 */
typedef struct merge_pair {
    float score;
    int left, right;         /* symbol positions */
    int left_tok, right_tok; /* their tokens when pushed */
    int id;                  /* the piece of the concatenation */
} merge_pair;

typedef struct merge_state {
    const halo_tokenizer *t;
    int *tok, *prev, *next; /* per symbol; a merged-away symbol has tok -1 */
    merge_pair *heap;
    int n_heap;
    char *buf; /* (2 * max_token_length) */
} merge_state;

/* Does a come out of the heap before b? */
static int pair_before(const merge_pair *a, const merge_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(merge_state *m, merge_pair p) {
    int i = m->n_heap++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!pair_before(&p, &m->heap[parent]))
            break;
        m->heap[i] = m->heap[parent];
        i = parent;
    }
    m->heap[i] = p;
}

static merge_pair heap_pop(merge_state *m) {
    merge_pair top = m->heap[0], last = m->heap[--m->n_heap];
    int i = 0, n = m->n_heap;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && pair_before(&m->heap[c + 1], &m->heap[c]))
            c++;
        if (!pair_before(&m->heap[c], &last))
            break;
        m->heap[i] = m->heap[c];
        i = c;
    }
    if (n > 0)
        m->heap[i] = last;
    return top;
}

/* Pushes the pair of symbol `left` and its right neighbour if their concatenation is a piece. */
static void push_pair(merge_state *m, int left) {
    int right = m->next[left];
    if (left < 0 || right < 0)
        return;
    const piece *a = &m->t->pieces[m->tok[left]], *b = &m->t->pieces[m->tok[right]];
    if (a->len + b->len > m->t->max_token_length)
        return; /* longer than any piece */
    memcpy(m->buf, a->bytes, (size_t)a->len);
    memcpy(m->buf + a->len, b->bytes, (size_t)b->len);
    int id = lookup(m->t, m->buf, a->len + b->len);
    if (id >= 0)
        heap_push(m, (merge_pair){m->t->scores[id], left, right, m->tok[left], m->tok[right], id});
}

/* Merges tokens[0..n) in place; *n_out receives the new count. */
static int merge(const halo_tokenizer *t, int *tokens, int n, int *n_out, halo_err *err) {
    *n_out = n;
    if (n < 2)
        return HALO_OK;
    merge_state m = {.t = t};
    /* a heap entry per initial pair, and at most two more per merge (n - 1 merges) */
    size_t cap_heap = 3 * (size_t)n;
    m.prev = malloc((size_t)n * sizeof *m.prev);
    m.next = malloc((size_t)n * sizeof *m.next);
    m.heap = malloc(cap_heap * sizeof *m.heap);
    m.buf = malloc((size_t)t->max_token_length * 2 + 1);
    if (!m.prev || !m.next || !m.heap || !m.buf) {
        free(m.prev);
        free(m.next);
        free(m.heap);
        free(m.buf);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory while encoding");
    }
    m.tok = tokens;
    for (int i = 0; i < n; i++) {
        m.prev[i] = i - 1;
        m.next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (int i = 0; i + 1 < n; i++)
        push_pair(&m, i);
    while (m.n_heap > 0) {
        merge_pair p = heap_pop(&m);
        if (m.tok[p.left] != p.left_tok || m.next[p.left] != p.right ||
            m.tok[p.right] != p.right_tok)
            continue; /* stale: a symbol was merged since */
        m.tok[p.left] = p.id;
        m.tok[p.right] = -1;
        int after = m.next[p.right];
        m.next[p.left] = after;
        if (after >= 0)
            m.prev[after] = p.left;
        if (m.prev[p.left] >= 0)
            push_pair(&m, m.prev[p.left]);
        push_pair(&m, p.left);
    }
    int k = 0;
    for (int i = 0; i >= 0; i = m.next[i])
        tokens[k++] = m.tok[i];
    *n_out = k;
    free(m.prev);
    free(m.next);
    free(m.heap);
    free(m.buf);
    return HALO_OK;
}

/* Pushes a token or fails when the caller's array is full. */
#define PUSH(tok_id)            \
    do {                        \
        if (n >= max_tokens)    \
            goto too_small;     \
        tokens[n++] = (tok_id); \
    } while (0)

int halo_tokenizer_encode(const halo_tokenizer *t, const char *text, int bos, int eos, int *tokens,
                          int max_tokens, int *n_tokens, halo_err *err) {
    int n = 0;
    *n_tokens = 0;
    if (bos)
        PUSH(HALO_TOKEN_BOS);
    if (text[0] != '\0') {
        /* The dummy prefix: the " " piece, else the space's byte-fallback id (in range for
           any vocabulary size: finish()). */
        int space = lookup(t, " ", 1);
        PUSH(space >= 0 ? space : t->byte_ids[' ']);
    }
    /* One token per UTF-8 code point, or byte tokens for code points not in the vocabulary. */
    for (const char *c = text; *c != '\0';) {
        int len = 1;
        while (len < 4 && (((unsigned char)c[len]) & 0xC0) == 0x80)
            len++;
        int id = lookup(t, c, len);
        if (id >= 0) {
            PUSH(id);
        } else {
            for (int i = 0; i < len; i++)
                PUSH(t->byte_ids[(unsigned char)c[i]]);
        }
        c += len;
    }
    /* Merge the best-scoring adjacent pair until no pair is in the vocabulary. */
    int first = bos ? 1 : 0;
    int rc = merge(t, tokens + first, n - first, &n, err);
    if (rc != HALO_OK)
        return rc;
    n += first;
    if (eos)
        PUSH(HALO_TOKEN_EOS);
    *n_tokens = n;
    return HALO_OK;
too_small:
    return HALO_FAIL(err, HALO_ERR_ARG, "token buffer of %d is too small for the text", max_tokens);
}

const char *halo_tokenizer_decode(const halo_tokenizer *t, int prev_token, int token,
                                  size_t *n_bytes) {
    HALO_ASSERT(token >= 0 && token < t->vocab_size);
    const piece *p = &t->pieces[token];
    const char *s = p->bytes;
    size_t len = (size_t)p->len;
    if (prev_token == HALO_TOKEN_BOS && len > 0 && s[0] == ' ') {
        s++;
        len--;
    }
    /* A byte-fallback piece is exactly "<0xHH>" with two hex digits. */
    if (len == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>') {
        unsigned v = 0;
        int ok = 1;
        for (int i = 3; i < 5; i++) {
            char ch = s[i];
            v <<= 4;
            if (ch >= '0' && ch <= '9')
                v |= (unsigned)(ch - '0');
            else if (ch >= 'A' && ch <= 'F')
                v |= (unsigned)(ch - 'A' + 10);
            else if (ch >= 'a' && ch <= 'f')
                v |= (unsigned)(ch - 'a' + 10);
            else
                ok = 0;
        }
        if (ok) {
            *n_bytes = 1;
            return t->byte_pieces[v];
        }
    }
    *n_bytes = len;
    return s;
}
