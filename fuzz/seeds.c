/*
 * Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/): small valid inputs of
 * each format, so the fuzzers start past the magic numbers and checksums. Run by hand after
 * a format changes (docs/fuzzing.md): fuzz_seeds OUTDIR. Deterministic; the files are
 * committed.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/bytes.h"
#include "core/grow.h"
#include "core/model.h"
#include "core/predictor.h"
#include "core/tokenizer.h"
#include "core/wire.h"
#include "fuzz/fuzz.h"
#include "net/frame.h"
#include "net/key.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *out_dir;

static void die(const char *what, const halo_err *err) {
    (void)fprintf(stderr, "fuzz_seeds: %s: %s\n", what, err ? err->msg : strerror(errno));
    exit(1);
}

static const char *path_of(const char *target, const char *name) {
    static char buf[4096];
    (void)snprintf(buf, sizeof buf, "%s/%s", out_dir, target);
    (void)mkdir(buf, 0755);
    (void)snprintf(buf, sizeof buf, "%s/%s/%s", out_dir, target, name);
    return buf;
}

typedef halo_byte_array buf;

static void put(buf *b, const void *p, size_t n) {
    if (halo__append(b, p, n, 64) != 0)
        die("out of memory", NULL);
}

static void put_u32(buf *b, uint32_t v) {
    unsigned char x[4];
    halo_put_u32(x, v);
    put(b, x, 4);
}

static void put_file(buf *b, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, NULL);
    unsigned char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        put(b, chunk, n);
    (void)fclose(f);
}

static void save(const char *target, const char *name, const buf *b) {
    const char *p = path_of(target, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0)
        die(p, NULL);
}

/* A llama2.c tokenizer of `vocab` tokens: <unk>, <s>, </s>, then (with bytes) the 256
   byte pieces, then letters, " ", and pairs of letters up to the size. */
static void tokenizer(buf *b, int vocab, int with_bytes) {
    put_u32(b, 8);
    int n = 0;
    char piece[16];
    float score = 0.0f;
    unsigned char sc[4];
    for (int i = 0; i < vocab; i++) {
        if (i < 3)
            (void)snprintf(piece, sizeof piece, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (with_bytes && i < 259)
            (void)snprintf(piece, sizeof piece, "<0x%02X>", (unsigned)(i - 3));
        else if (n < 26)
            (void)snprintf(piece, sizeof piece, "%c", 'a' + n++);
        else if (n++ == 26)
            (void)snprintf(piece, sizeof piece, " ");
        else
            (void)snprintf(piece, sizeof piece, "%c%c", 'a' + (n * 7) % 26, 'a' + n % 26);
        score = -(float)i;
        halo_put_f32(sc, score);
        put(b, sc, 4);
        put_u32(b, (uint32_t)strlen(piece));
        put(b, piece, strlen(piece));
    }
}

static void tokenizer_seeds(void) {
    static const struct {
        int vocab, bytes;
        const char *text, *name;
    } s[] = {{32, 0, "hello world", "v32"},
             {40, 0, "zz \xc3\xa9", "v40"},
             {300, 1, "Once upon a time", "v300-bytes"},
             {259, 1, "abc\x01", "v259-bytes"}};

    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        buf b = {0};
        unsigned v = (unsigned)(s[i].vocab - 3);
        unsigned char h[3] = {(unsigned char)v, (unsigned char)(v >> 8),
                              (unsigned char)strlen(s[i].text)};
        put(&b, h, 3);
        put(&b, s[i].text, strlen(s[i].text));
        tokenizer(&b, s[i].vocab, s[i].bytes);
        save("tokenizer", s[i].name, &b);
        free(b.p);
    }
    /* The bundled 512-token vocabulary. */
    buf b = {0};
    unsigned char h[3] = {(512 - 3) & 0xff, (512 - 3) >> 8, 4};
    put(&b, h, 3);
    put(&b, "Once", 4);
    put_file(&b, fz_src_path("models/tok512.bin"));
    save("tokenizer", "tok512", &b);
    free(b.p);
}

static halo_model_config tiny(int vocab) {
    return (halo_model_config){.dim = 8,
                               .hidden_dim = 16,
                               .n_layers = 1,
                               .n_heads = 2,
                               .n_kv_heads = 1,
                               .vocab_size = vocab,
                               .seq_len = 8,
                               .shared_classifier = 1};
}

static void model_seeds(const char *tmp) {
    static const struct {
        int vocab, bytes, shared;
        const char *name;
    } s[] = {{32, 0, 1, "v32"}, {300, 1, 0, "v300"}};

    halo_err err = {0};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        halo_model_config c = tiny(s[i].vocab);
        c.shared_classifier = s[i].shared;
        if (halo_model_write_random(tmp, &c, 7 + i, &err) != HALO_OK)
            die("model", &err);
        buf m = {0}, b = {0};
        put_file(&m, tmp);
        put_u32(&b, (uint32_t)m.n);
        put(&b, m.p, m.n);
        tokenizer(&b, s[i].vocab, s[i].bytes);
        save("model", s[i].name, &b);
        free(m.p);
        free(b.p);
    }
}

static void gguf_seeds(const char *tmp, const char *tok_tmp) {
    static const struct {
        int vocab, dim, ftype;
        const char *name;
    } s[] = {{32, 8, HALO_FTYPE_F32, "v32-f32"}, {300, 32, HALO_FTYPE_Q8_0, "v300-q8_0"}};

    halo_err err = {0};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        halo_model_config c = tiny(s[i].vocab);
        c.dim = s[i].dim;
        c.hidden_dim = 2 * s[i].dim;
        buf t = {0};
        tokenizer(&t, s[i].vocab, s[i].vocab >= 259);
        FILE *f = fopen(tok_tmp, "wb");
        if (!f || fwrite(t.p, 1, t.n, f) != t.n || fclose(f) != 0)
            die(tok_tmp, NULL);
        free(t.p);
        halo_tokenizer *tok = NULL;
        if (halo_tokenizer_load(&tok, tok_tmp, s[i].vocab, &err) != HALO_OK)
            die("tokenizer", &err);
        if (halo_model_write_gguf_random(tmp, &c, tok, s[i].ftype, 3, 0.0f, "fuzz", &err) !=
            HALO_OK)
            die("gguf", &err);
        halo_tokenizer_free(tok);
        buf b = {0};
        put_file(&b, tmp);
        save("gguf", s[i].name, &b);
        free(b.p);
    }
}

static void predictor_seeds(const char *tmp) {
    halo_model *m = NULL;
    halo_err err = {0};
    if (halo_model_load(&m, fz_src_path("models/stories260K.bin"), &err) != HALO_OK)
        die("model", &err);
    const halo_model_config *c = halo_model_get_config(m);
    int kv_dim = c->dim / c->n_heads * c->n_kv_heads;
    size_t n_ffn = (size_t)c->n_layers * 2 * ((size_t)c->dim + (size_t)c->hidden_dim);
    size_t n_attn = (size_t)c->n_layers * ((size_t)c->dim + (size_t)kv_dim);
    float *ffn = calloc(n_ffn, sizeof *ffn), *attn = calloc(n_attn, sizeof *attn);
    float *prior = calloc((size_t)c->n_layers * (size_t)c->n_kv_heads, sizeof *prior);
    if (!ffn || !attn || !prior)
        die("out of memory", NULL);
    for (size_t i = 0; i < n_ffn; i++)
        ffn[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
    for (size_t i = 0; i < n_attn; i++)
        attn[i] = (float)((i * 11) % 13) / 13.0f - 0.5f;
    for (int flags = 0; flags <= HALO_PREDICTOR_ATTN_PRIOR; flags++) {
        halo_predictor_factors f = {.rank = 1,
                                    .flags = flags,
                                    .ffn = ffn,
                                    .attn = flags == HALO_PREDICTOR_ATTN ? attn : NULL,
                                    .attn_prior =
                                        flags == HALO_PREDICTOR_ATTN_PRIOR ? prior : NULL};
        if (halo_predictor_write(tmp, m, &f, &err) != HALO_OK)
            die("predictor", &err);
        buf b = {0};
        unsigned char stamp = 1; /* the harness stamps the CRC */
        put(&b, &stamp, 1);
        put_file(&b, tmp);
        char name[32];
        (void)snprintf(name, sizeof name, "rank1-flags%d", flags);
        save("predictor", name, &b);
        free(b.p);
    }
    free(ffn);
    free(attn);
    free(prior);
    halo_model_free(m);
}

static void wire_seeds(void) {
    static const struct {
        int encoding, n_groups, n_values;
        const char *name;
    } s[] = {{HALO_ENCODING_F32, 2, 8, "f32"},
             {HALO_ENCODING_Q8, 1, 40, "q8"},
             {HALO_ENCODING_F32 | HALO_WIRE_ELIDED, 3, 64, "elided"}};

    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        halo_msg m = {.kind = HALO_MSG_PARTIAL,
                      .phase = HALO_PHASE_FFN,
                      .encoding = (uint8_t)s[i].encoding,
                      .src = 1,
                      .dst = 0,
                      .step = 5,
                      .pos = 3,
                      .layer = 2,
                      .n_groups = (uint16_t)s[i].n_groups,
                      .n_values = (uint32_t)s[i].n_values};
        uint16_t groups[4] = {0, 3, 7, 9};
        float values[64];
        for (int k = 0; k < 64; k++)
            values[k] = (float)k * 0.25f - 4.0f;
        unsigned char out[1024];
        size_t len = 0;
        halo_err err = {0};
        if (halo_wire_encode(&m, groups, values, out + 1, sizeof out - 1, &len, &err) != HALO_OK)
            die("wire", &err);
        out[0] = 1; /* the harness stamps the CRC */
        buf b = {0};
        put(&b, out, len + 1);
        save("wire", s[i].name, &b);
        out[0] = 0; /* and as sent */
        b.n = 0;
        put(&b, out, len + 1);
        char name[32];
        (void)snprintf(name, sizeof name, "%s-raw", s[i].name);
        save("wire", name, &b);
        free(b.p);
    }
}

/* A fragment of fuzz_frame's script: the fields of its record, then its payload. */
typedef struct frag_rec {
    int type, src, dst, seq_step, idx, count, msg_bytes, offset;
    const char *payload;
} frag_rec;

/* Appends fragment `f` to `b` as fuzz_frame's 12-byte record and the payload. */
static void frag(buf *b, const frag_rec *f) {
    size_t len = strlen(f->payload);
    unsigned char r[12] = {(unsigned char)(f->type - 1),
                           (unsigned char)f->src,
                           (unsigned char)f->dst,
                           (unsigned char)f->seq_step,
                           0,
                           (unsigned char)f->idx,
                           (unsigned char)f->count,
                           (unsigned char)f->msg_bytes,
                           (unsigned char)(f->msg_bytes >> 8),
                           (unsigned char)f->offset,
                           (unsigned char)(f->offset >> 8),
                           (unsigned char)len};
    put(b, r, sizeof r);
    put(b, f->payload, len);
}

static void frame_seeds(void) {
    uint8_t key[HALO_NET_KEY_BYTES];
    for (int i = 0; i < HALO_NET_KEY_BYTES; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    unsigned char f[256];
    size_t n = halo_net_seal_frame(key, HALO_NET_FRAME_DATA, 1, 0, 9, "payload", 7, f, sizeof f);
    if (n == 0)
        die("frame", NULL);
    buf b = {0};
    put(&b, f, n);
    save("frame", "sealed", &b);

    /* Scripts of three fragments each (type, src, dst, sequence step, index, count, message
       bytes, offset, payload). */
    static const struct {
        const char *name;
        frag_rec f[3];
    } scripts[] = {
        {"two-fragments",
         {{1, 1, 0, 1, 0, 2, 10, 0, "hello"},
          {1, 1, 0, 1, 1, 2, 10, 5, "world"},
          {2, 2, 0, 1, 0, 1, 3, 0, "one"}}},
        {"empty-fragments",
         {{1, 3, 0, 1, 0, 3, 0, 0, ""},
          {1, 3, 0, 1, 1, 3, 0, 0, ""},
          {1, 3, 0, 1, 2, 3, 0, 0, ""}}},
        /* issue 15: a single-datagram message's parity is a copy of it (type 5: DATA with the
           parity flag, fragment 1 of 1), after its original, then in place of a lost one */
        {"single-fragment-copy",
         {{1, 1, 0, 1, 0, 1, 3, 0, "one"},
          {5, 1, 0, 1, 1, 1, 3, 0, "one"},
          {5, 1, 0, 2, 1, 1, 3, 0, "two"}}},
        /* a message of three fragments, two of them lost, with P and Q (fragments 3 and 4) */
        {"two-lost-with-p-and-q",
         {{1, 1, 0, 1, 1, 3, 20, 8, "BBBBBBBB"},
          {5, 1, 0, 2, 3, 3, 20, 0, "PPPPPPPP"},
          {5, 1, 0, 1, 4, 3, 20, 0, "QQQQQQQQ"}}},
    };

    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        b.n = 0;
        for (int j = 0; j < 3; j++)
            frag(&b, &scripts[i].f[j]);
        save("frame", scripts[i].name, &b);
    }
    free(b.p);
}

static void copy_seeds(const char *target, const char *const *files) {
    for (int i = 0; files[i]; i++) {
        buf b = {0};
        put_file(&b, fz_src_path(files[i]));
        const char *slash = strrchr(files[i], '/');
        save(target, slash ? slash + 1 : files[i], &b);
        free(b.p);
    }
}

static void text_seed(const char *target, const char *name, const char *text) {
    buf b = {0};
    put(&b, text, strlen(text));
    save(target, name, &b);
    free(b.p);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        (void)fprintf(stderr, "usage: fuzz_seeds OUTDIR (fuzz/corpus)\n");
        return 2;
    }
    out_dir = argv[1];
    (void)mkdir(out_dir, 0755);
    char tmp[64], tok_tmp[64];
    (void)snprintf(tmp, sizeof tmp, "/tmp/halo-fuzz-seed-%ld.bin", (long)getpid());
    (void)snprintf(tok_tmp, sizeof tok_tmp, "/tmp/halo-fuzz-seed-%ld.tok", (long)getpid());
    tokenizer_seeds();
    model_seeds(tmp);
    gguf_seeds(tmp, tok_tmp);
    predictor_seeds(tmp);
    wire_seeds();
    frame_seeds();
    static const char *const scenarios[] = {"scenarios/tiny-loss.yaml", "scenarios/hetero.yaml",
                                            "scenarios/sweep-loss.yaml", "scenarios/loading.yaml",
                                            NULL};
    copy_seeds("scenario", scenarios);
    text_seed("scenario", "anchors.yaml",
              "model: &m {shape: llama2-7b}\ncluster: {devices: 2}\nbase: *m\n");
    text_seed("clusterfile", "full.yaml",
              "key: cluster.key\nworkers: [10.0.0.2:7001, 10.0.0.3:7001, '[::1]:7003']\n"
              "bind: 0.0.0.0:0\nheartbeat_ms: 100\ndead_after_ms: 1000\nrejoin_ms: 500\n"
              "stall_ms: 5000\njoin_timeout_ms: 3000\ninject: {loss: 0.02, delay_ms: 0, seed: "
              "1}\nengine:\n  baseline: halo\n  delivery: datagram\n  deadline_ms: 10\n"
              "  importance: predictor\n  tau: 0.9\n  predictor: m.pred\n"
              "  placement: weights:1,1,1,1\n");
    text_seed("clusterfile", "small.yaml",
              "key: k.key\nworkers:\n  - 127.0.0.1:7001\nengine: {baseline: dllama}\n");
    text_seed("regress", "baseline.csv",
              "# halo regress baseline: scenario,point label,metric,value,relative "
              "tolerance,absolute tolerance\n"
              "regress,devices=2,mean_ms,12.5,0.1,0.01\n"
              "regress,devices=2,missing_pct,0,0.25,0.5\n"
              "regress-quality,tau=0.9,perplexity,7.25,0.02,0\n");
    (void)remove(tmp);
    (void)remove(tok_tmp);
    return 0;
}
