/*
 * halo_dllama_files: the input files of the distributed-llama comparison
 * (tools/ground-truth.sh): distributed-llama's model (.m) and tokenizer (.t) files written
 * from llama2.c checkpoints and tokenizers, and the synthetic checkpoint and tokenizer of a
 * real shape (TinyLlama-1.1B) for halo itself. It writes files only; it runs nothing and
 * holds none of distributed-llama's code (the formats are described below and in
 * docs/ground-truth.md).
 *
 *   halo_dllama_files model IN.bin OUT.m [--type f32|q40] [--nodes N]
 *   halo_dllama_files tokenizer IN.bin OUT.t
 *   halo_dllama_files random-checkpoint OUT.bin --shape tinyllama|D,H,L,NH,NKV,V,S [--seed S]
 *   halo_dllama_files random-tokenizer VOCAB OUT.bin
 *
 * distributed-llama's model file (v0.16.x): int32 magic 0x0A00ABCD, int32 header bytes
 * (8 + 8 * number of pairs), (int32 key, int32 value) pairs, then the tensors: token
 * embedding (always f32, vocab x dim); per layer wq, wk, wv, wo, w1, w2, w3 (the weight
 * type, row-major [out, in] as in llama2.c), attention norm, FFN norm (f32); final norm
 * (f32); classifier (the weight type, vocab x dim, written even when it is the embedding).
 * Q40 blocks cover 32 consecutive values: an fp16 delta, then 16 bytes whose byte j holds
 * value j in its low nibble and value j + 16 in its high one; value = (q - 8) * delta.
 *
 * Two changes keep the function the same while meeting distributed-llama's limits:
 *   - the hidden dimension is padded with zeros (rows of w1 and w3, columns of w2) to a
 *     multiple of 8 * N (f32: its AVX2 matmul needs every node's slice of w2's input to be
 *     a multiple of 8) or 32 * N (q40: whole blocks per node), N = --nodes (default 4);
 *     zero rows give silu(0) * 0 = 0, so the output is unchanged;
 *   - the vocabulary is reordered: distributed-llama takes the ids below BOS as the regular
 *     vocabulary, so BOS and EOS must be the last ids. llama2.c's order (0 <unk>, 1 BOS,
 *     2 EOS, then the rest) becomes 0 <unk>, the rest (old id - 2), BOS = V - 2,
 *     EOS = V - 1; the embedding and classifier rows are permuted the same way, so `model`
 *     and `tokenizer` must both be converted by this program.
 * The tokenizer file: int32 magic 0x567124, int32 header bytes, pairs (version 1,
 * vocab_size, max_token_length, bos_id, n_eos_tokens, add_bos), the EOS ids (int32), then
 * per token float score, uint32 length, bytes. distributed-llama has no byte fallback: the
 * byte pieces <0xNN> are renamed to the byte itself wherever no other token already is that
 * string (so decoding gives the same bytes as llama2.c's), and <0x00> stays.
 *
 * Exit status: 0 done, 1 error (message on stderr naming the file), 2 usage.
 */
#define _POSIX_C_SOURCE   200809L
#define _FILE_OFFSET_BITS 64

#include "core/bytes.h"
#include "core/file.h"
#include "core/model.h"
#include "core/quant.h"
#include "core/wire.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    DL_MODEL_MAGIC = 0x0A00ABCD,
    DL_TOKENIZER_MAGIC = 0x567124,
    DL_ARCH_LLAMA = 0xABCD00,
    DL_TYPE_F32 = 0,
    DL_TYPE_Q40 = 2,
    DL_BLOCK = 32, /* values per Q40 block */
};

/* Model header keys (distributed-llama's numbering). */
enum {
    K_VERSION = 0,
    K_ARCH = 1,
    K_DIM = 2,
    K_HIDDEN = 3,
    K_LAYERS = 4,
    K_HEADS = 5,
    K_KV_HEADS = 6,
    K_EXPERTS = 7,
    K_ACTIVE_EXPERTS = 8,
    K_VOCAB = 9,
    K_SEQ = 10,
    K_ACT = 11,
    K_ROPE_THETA = 12,
    K_WEIGHT_TYPE = 13,
    K_NORM_EPS = 20,
};

/* Tokenizer header keys. */
enum {
    T_VERSION = 0,
    T_VOCAB = 1,
    T_MAX_LEN = 2,
    T_BOS = 3,
    T_N_EOS = 9,
    T_ADD_BOS = 10,
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    (void)fprintf(stderr, "halo_dllama_files: ");
    (void)vfprintf(stderr, fmt, ap);
    (void)fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ==== Output: a temporary file renamed into place when complete ==== */

typedef struct out_file {
    FILE *f;
    const char *path;
    char tmp[4096];
    uint64_t bytes;
} out_file;

static void out_open(out_file *o, const char *path) {
    o->path = path;
    o->bytes = 0;
    if (snprintf(o->tmp, sizeof o->tmp, "%s.tmp", path) >= (int)sizeof o->tmp)
        die("%s: path too long", path);
    o->f = fopen(o->tmp, "wb");
    if (!o->f)
        die("%s: cannot create: %s", o->tmp, strerror(errno));
}

static void out_write(out_file *o, const void *p, size_t n) {
    if (n > 0 && fwrite(p, 1, n, o->f) != n)
        die("%s: write failed: %s", o->tmp, strerror(errno));
    o->bytes += n;
}

static void out_i32(out_file *o, int32_t v) {
    unsigned char b[4];
    halo_put_i32(b, v);
    out_write(o, b, 4);
}

/* A distributed-llama file header: the magic, the header's size, then n_kv (key, value)
   pairs. */
static void out_header(out_file *o, int32_t magic, const int32_t (*kv)[2], int n_kv) {
    out_i32(o, magic);
    out_i32(o, 8 + 8 * n_kv);
    for (int i = 0; i < n_kv; i++) {
        out_i32(o, kv[i][0]);
        out_i32(o, kv[i][1]);
    }
}

static void out_f32s(out_file *o, const float *v, size_t n) {
    unsigned char buf[4096];
    while (n > 0) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++)
            halo_put_f32(buf + 4 * i, v[i]);
        out_write(o, buf, 4 * k);
        v += k;
        n -= k;
    }
}

static void out_close(out_file *o) {
    if (fclose(o->f) != 0)
        die("%s: write failed: %s", o->tmp, strerror(errno));
    if (rename(o->tmp, o->path) != 0)
        die("%s: cannot rename into place: %s", o->path, strerror(errno));
}

/* ==== Model ==== */

/* One row of n values in the weight type: f32 as is, q40 in blocks (n % 32 == 0). */
static void out_row(out_file *o, int type, const float *x, size_t n) {
    if (type == DL_TYPE_F32) {
        out_f32s(o, x, n);
        return;
    }
    for (size_t b = 0; b < n; b += DL_BLOCK) {
        const float *v = x + b;
        float lo = v[0], hi = v[0];
        for (int i = 1; i < DL_BLOCK; i++) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
        /* The value of largest magnitude maps to q = 0 (delta = it / -8), so the block's
           range is used in full on that side. */
        float delta = (-lo > hi ? lo : hi) / -8.0f;
        float inv = delta != 0.0f ? 1.0f / delta : 0.0f;
        unsigned char blk[2 + DL_BLOCK / 2];
        halo_put_u16(blk, halo_f32_to_fp16(delta));
        for (int j = 0; j < DL_BLOCK / 2; j++) {
            int q[2];
            for (int h = 0; h < 2; h++) {
                float t = floorf(v[j + h * DL_BLOCK / 2] * inv + 8.5f);
                q[h] = t < 0.0f ? 0 : t > 15.0f ? 15 : (int)t;
            }
            blk[2 + j] = (unsigned char)(q[0] | q[1] << 4);
        }
        out_write(o, blk, sizeof blk);
    }
}

/* Zero rows: `rows` rows of n values in the weight type. */
static void out_zero_rows(out_file *o, int type, size_t rows, size_t n) {
    static const float zero[DL_BLOCK * 64];
    for (size_t r = 0; r < rows; r++)
        for (size_t done = 0; done < n;) {
            size_t k = n - done < DL_BLOCK * 64 ? n - done : DL_BLOCK * 64;
            out_row(o, type, zero, k);
            done += k;
        }
}

/* New id of llama2.c token `old` (see the file comment). */
static int new_id(int old, int vocab) {
    if (old == 0)
        return 0;
    if (old == 1)
        return vocab - 2;
    if (old == 2)
        return vocab - 1;
    return old - 2;
}

static int old_id(int new, int vocab) {
    if (new == 0)
        return 0;
    if (new == vocab - 2)
        return 1;
    if (new == vocab - 1)
        return 2;
    return new + 2;
}

/* Writes a (vocab, dim) table with its rows in the new token order. */
static void out_vocab_rows(out_file *o, int type, const float *t, int vocab, int dim) {
    for (int r = 0; r < vocab; r++)
        out_row(o, type, t + (size_t)old_id(r, vocab) * (size_t)dim, (size_t)dim);
}

static int cmd_model(const char *in, const char *out, int type, int nodes) {
    halo_err err = {0};
    halo_model *m = NULL;
    if (halo_model_load(&m, in, &err) != HALO_OK)
        die("%s", err.msg);
    if (halo_model_format(m) != HALO_MODEL_LLAMA2C)
        die("%s: not a llama2.c checkpoint (this tool reads float32 checkpoints only)", in);
    const halo_model_config *c = halo_model_get_config(m);
    const halo_weights *w = halo_model_get_weights(m);
    size_t dim = (size_t)c->dim, hidden = (size_t)c->hidden_dim;
    size_t kv_dim = (size_t)halo_model_kv_dim(c);
    size_t mult = (size_t)(type == DL_TYPE_Q40 ? DL_BLOCK : 8) * (size_t)nodes;
    size_t hpad = (hidden + mult - 1) / mult * mult;
    if (c->vocab_size < 4)
        die("%s: a vocabulary of %d tokens is too small to reorder", in, c->vocab_size);
    if (type == DL_TYPE_Q40 && (dim % ((size_t)DL_BLOCK * (size_t)nodes) != 0))
        die("%s: q40 needs dim to be a multiple of 32 per node", in);
    if (dim % (8 * (size_t)nodes) != 0)
        die("%s: dim must be a multiple of 8 per node", in);

    out_file o;
    out_open(&o, out);
    const int32_t kv[][2] = {
        {K_VERSION, 0},
        {K_ARCH, DL_ARCH_LLAMA},
        {K_DIM, c->dim},
        {K_HIDDEN, (int32_t)hpad},
        {K_LAYERS, c->n_layers},
        {K_HEADS, c->n_heads},
        {K_KV_HEADS, c->n_kv_heads},
        {K_EXPERTS, 0},
        {K_ACTIVE_EXPERTS, 0},
        {K_VOCAB, c->vocab_size},
        {K_SEQ, c->seq_len},
        {K_ACT, 1},            /* SiLU */
        {K_ROPE_THETA, 10000}, /* llama2.c's */
        {K_WEIGHT_TYPE, type}, /* 0 f32, 2 q40 */
        {K_NORM_EPS, 5},       /* 1e-5, llama2.c's */
    };
    out_header(&o, DL_MODEL_MAGIC, kv, (int)(sizeof kv / sizeof kv[0]));
    out_vocab_rows(&o, DL_TYPE_F32, w->token_embedding, c->vocab_size, c->dim);
    for (size_t l = 0; l < (size_t)c->n_layers; l++) {
        const float *wq = w->wq + l * dim * dim, *wo = w->wo + l * dim * dim;
        const float *wk = w->wk + l * kv_dim * dim, *wv = w->wv + l * kv_dim * dim;
        const float *w1 = w->w1 + l * hidden * dim, *w3 = w->w3 + l * hidden * dim;
        const float *w2 = w->w2 + l * dim * hidden;
        for (size_t r = 0; r < dim; r++)
            out_row(&o, type, wq + r * dim, dim);
        for (size_t r = 0; r < kv_dim; r++)
            out_row(&o, type, wk + r * dim, dim);
        for (size_t r = 0; r < kv_dim; r++)
            out_row(&o, type, wv + r * dim, dim);
        for (size_t r = 0; r < dim; r++)
            out_row(&o, type, wo + r * dim, dim);
        for (size_t r = 0; r < hidden; r++)
            out_row(&o, type, w1 + r * dim, dim);
        out_zero_rows(&o, type, hpad - hidden, dim);
        /* w2: (dim, hidden) rows widened to hpad columns with zeros. */
        float *row = calloc(hpad, sizeof *row);
        if (!row)
            die("%s: out of memory", out);
        for (size_t r = 0; r < dim; r++) {
            memcpy(row, w2 + r * hidden, hidden * sizeof *row);
            out_row(&o, type, row, hpad);
        }
        free(row);
        for (size_t r = 0; r < hidden; r++)
            out_row(&o, type, w3 + r * dim, dim);
        out_zero_rows(&o, type, hpad - hidden, dim);
        out_f32s(&o, w->rms_att + l * dim, dim);
        out_f32s(&o, w->rms_ffn + l * dim, dim);
    }
    out_f32s(&o, w->rms_final, dim);
    out_vocab_rows(&o, type, w->wcls, c->vocab_size, c->dim);
    out_close(&o);
    (void)fprintf(stderr,
                  "halo_dllama_files: %s: %s, dim %d, hidden %zu (from %zu), %d layers, vocab %d, "
                  "%llu bytes\n",
                  out, type == DL_TYPE_Q40 ? "q40" : "f32", c->dim, hpad, hidden, c->n_layers,
                  c->vocab_size, (unsigned long long)o.bytes);
    halo_model_free(m);
    return 0;
}

/* ==== Tokenizer ==== */

typedef struct piece {
    float score;
    uint32_t len;
    const unsigned char *bytes; /* into the input buffer, or `byte` */
    unsigned char byte;
} piece;

static int cmp_piece(const void *a, const void *b) {
    const piece *x = *(piece *const *)a, *y = *(piece *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->bytes, y->bytes, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* Reads a llama2.c tokenizer; *n receives the number of tokens. The pieces point into *buf. */
static piece *read_llama2c_tokenizer(const char *in, char **buf, int *n) {
    halo_err err = {0};
    size_t len = 0;
    if (halo_file_read(in, (size_t)64 << 20, buf, &len, &err) != HALO_OK)
        die("%s", err.msg);
    const unsigned char *p = (const unsigned char *)*buf, *end = p + len;
    if (len < 4)
        die("%s: too short for a llama2.c tokenizer", in);
    p += 4; /* max_token_length: recomputed */
    size_t cap = 1024;
    piece *t = malloc(cap * sizeof *t);
    int count = 0;
    while (t && p < end) {
        if (end - p < 8)
            die("%s: truncated token entry", in);
        if ((size_t)count == cap) {
            piece *nt = realloc(t, 2 * cap * sizeof *t);
            if (!nt)
                break;
            t = nt;
            cap *= 2;
        }
        piece *e = &t[count++];
        e->score = halo_get_f32(p);
        e->len = halo_get_u32(p + 4);
        p += 8;
        if (e->len == 0 || e->len > (uint32_t)(end - p))
            die("%s: token with a bad length", in);
        e->bytes = p;
        p += e->len;
    }
    if (!t)
        die("%s: out of memory", in);
    *n = count;
    return t;
}

static int cmd_tokenizer(const char *in, const char *out) {
    char *buf = NULL;
    int vocab = 0;
    piece *t = read_llama2c_tokenizer(in, &buf, &vocab);
    if (vocab < 4)
        die("%s: vocabulary too small to reorder", in);
    /* Rename <0xNN> to the byte where no token is already that string. */
    piece **sorted = malloc((size_t)vocab * sizeof *sorted);
    if (!sorted)
        die("%s: out of memory", in);
    for (int i = 0; i < vocab; i++)
        sorted[i] = &t[i];
    qsort(sorted, (size_t)vocab, sizeof *sorted, cmp_piece);
    int renamed = 0;
    for (int i = 0; i < vocab; i++) {
        piece *e = &t[i];
        unsigned int v;
        char tail;
        char s[8] = {0};
        if (e->len != 6)
            continue;
        memcpy(s, e->bytes, 6);
        if (sscanf(s, "<0x%2x>%c", &v, &tail) != 1 || v == 0 || v > 255 || s[5] != '>')
            continue;
        piece key = {.len = 1, .byte = (unsigned char)v};
        key.bytes = &key.byte;
        const piece *kp = &key;
        if (bsearch(&kp, sorted, (size_t)vocab, sizeof *sorted, cmp_piece))
            continue;
        e->byte = (unsigned char)v;
        e->bytes = &e->byte;
        e->len = 1;
        renamed++;
    }
    free(sorted);
    uint32_t max_len = 0;
    for (int i = 0; i < vocab; i++)
        max_len = t[i].len > max_len ? t[i].len : max_len;

    out_file o;
    out_open(&o, out);
    const int32_t kv[][2] = {
        {T_VERSION, 1},     {T_VOCAB, vocab}, {T_MAX_LEN, (int32_t)max_len},
        {T_BOS, vocab - 2}, {T_N_EOS, 1},     {T_ADD_BOS, 1},
    };
    out_header(&o, DL_TOKENIZER_MAGIC, kv, (int)(sizeof kv / sizeof kv[0]));
    out_i32(&o, vocab - 1); /* the EOS id */
    for (int r = 0; r < vocab; r++) {
        const piece *e = &t[old_id(r, vocab)];
        unsigned char h[8];
        halo_put_f32(h, e->score);
        halo_put_u32(h + 4, e->len);
        out_write(&o, h, 8);
        out_write(&o, e->bytes, e->len);
    }
    out_close(&o);
    (void)fprintf(stderr,
                  "halo_dllama_files: %s: %d tokens (BOS %d, EOS %d), %d byte pieces renamed\n",
                  out, vocab, new_id(1, vocab), new_id(2, vocab), renamed);
    free(t);
    free(buf);
    return 0;
}

/* ==== Synthetic files for halo ==== */

static int cmd_random_checkpoint(const char *out, const char *shape, unsigned long long seed) {
    halo_model_config c = {0};
    if (strcmp(shape, "tinyllama") == 0) {
        /* TinyLlama-1.1B: separate classifier (lm_head), context 2048. */
        c = (halo_model_config){2048, 5632, 22, 32, 4, 32000, 2048, 0};
    } else if (sscanf(shape, "%d,%d,%d,%d,%d,%d,%d", &c.dim, &c.hidden_dim, &c.n_layers, &c.n_heads,
                      &c.n_kv_heads, &c.vocab_size, &c.seq_len) != 7) {
        die("bad shape '%s': tinyllama or DIM,HIDDEN,LAYERS,HEADS,KV_HEADS,VOCAB,SEQ", shape);
    }
    halo_err err = {0};
    if (halo_model_write_random(out, &c, seed, &err) != HALO_OK)
        die("%s", err.msg);
    (void)fprintf(stderr, "halo_dllama_files: %s: random checkpoint %s, seed %llu\n", out, shape,
                  seed);
    return 0;
}

/*
 * A llama2.c tokenizer of `vocab` tokens: <unk>, BOS, EOS, the 256 byte pieces, then
 * " w259", " w260", ... with decreasing scores. Only decoding uses it (prompts are empty).
 */
static int cmd_random_tokenizer(int vocab, const char *out) {
    if (vocab < 260)
        die("random-tokenizer: a vocabulary of %d cannot hold the 259 fixed tokens and one more",
            vocab);
    out_file o;
    out_open(&o, out);
    out_i32(&o, 16); /* max_token_length: the longest piece below is 6 + digits */
    for (int i = 0; i < vocab; i++) {
        char s[32];
        if (i == 0)
            (void)snprintf(s, sizeof s, "<unk>");
        else if (i == 1)
            (void)snprintf(s, sizeof s, "\n<s>\n");
        else if (i == 2)
            (void)snprintf(s, sizeof s, "\n</s>\n");
        else if (i < 259)
            (void)snprintf(s, sizeof s, "<0x%02X>", i - 3);
        else
            (void)snprintf(s, sizeof s, " w%d", i);
        unsigned char h[8];
        halo_put_f32(h, i < 259 ? 0.0f : -(float)(i - 259));
        halo_put_u32(h + 4, (uint32_t)strlen(s));
        out_write(&o, h, 8);
        out_write(&o, s, strlen(s));
    }
    out_close(&o);
    (void)fprintf(stderr, "halo_dllama_files: %s: synthetic tokenizer of %d tokens\n", out, vocab);
    return 0;
}

static int usage(void) {
    (void)fprintf(stderr,
                  "usage: halo_dllama_files model IN.bin OUT.m [--type f32|q40] [--nodes N]\n"
                  "       halo_dllama_files tokenizer IN.bin OUT.t\n"
                  "       halo_dllama_files random-checkpoint OUT.bin --shape "
                  "tinyllama|D,H,L,NH,NKV,V,S [--seed S]\n"
                  "       halo_dllama_files random-tokenizer VOCAB OUT.bin\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "model") == 0 && argc >= 4) {
        int type = DL_TYPE_F32, nodes = 4;
        for (int i = 4; i < argc; i++) {
            if (strcmp(argv[i], "--type") == 0 && i + 1 < argc) {
                const char *v = argv[++i];
                if (strcmp(v, "f32") == 0)
                    type = DL_TYPE_F32;
                else if (strcmp(v, "q40") == 0)
                    type = DL_TYPE_Q40;
                else
                    return usage();
            } else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc) {
                nodes = atoi(argv[++i]);
                if (nodes < 1 || nodes > 64)
                    return usage();
            } else {
                return usage();
            }
        }
        return cmd_model(argv[2], argv[3], type, nodes);
    }
    if (strcmp(cmd, "tokenizer") == 0 && argc == 4)
        return cmd_tokenizer(argv[2], argv[3]);
    if (strcmp(cmd, "random-checkpoint") == 0 && argc >= 5) {
        const char *shape = NULL;
        unsigned long long seed = 1234;
        for (int i = 3; i < argc; i++) {
            if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc)
                shape = argv[++i];
            else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
                seed = strtoull(argv[++i], NULL, 10);
            else
                return usage();
        }
        if (!shape)
            return usage();
        return cmd_random_checkpoint(argv[2], shape, seed);
    }
    if (strcmp(cmd, "random-tokenizer") == 0 && argc == 4) {
        char *e = NULL;
        long v = strtol(argv[2], &e, 10);
        if (!e || *e || v < 1 || v > 1000000)
            return usage();
        return cmd_random_tokenizer((int)v, argv[3]);
    }
    return usage();
}
