/*
 * GGUF files (core/gguf.h) and the models and vocabularies in them (core/model.h,
 * core/tokenizer.h): writing and reading back, every class of malformed file refused with a
 * message naming the key or tensor (truncation at every length, wrong offsets, unknown
 * types, overflowing dimensions, duplicates, bad vocabularies), a seeded fuzz of whole model
 * files, and the numerics: the bundled model converted to f32 gives llama2.c's logits bit
 * for bit, f16 and q8_0 stay close, a one-device cluster equals the single-device pass on
 * quantised weights and larger clusters stay close.
 */
#include "core/bytes.h"
#include "core/cluster.h"
#include "core/forward.h"
#include "core/gguf.h"
#include "core/grow.h"
#include "core/rng.h"
#include "core/sampler.h"
#include "core/transport_loop.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdint.h>

/* ==== A byte builder for hand-made files ==== */

typedef halo_byte_array buf;

static void put(buf *b, const void *p, size_t n) {
    ASSERT_EQ(halo__append(b, p, n, 64), 0);
}

static void u32(buf *b, uint32_t v) {
    unsigned char x[4];
    halo_put_u32(x, v);
    put(b, x, 4);
}

static void u64(buf *b, uint64_t v) {
    u32(b, (uint32_t)v);
    u32(b, (uint32_t)(v >> 32));
}

static void str(buf *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}

static const unsigned char ZEROS[1024];

static void pad(buf *b, size_t align) {
    put(b, ZEROS, (align - b->n % align) % align);
}

/* A header of n_tensors tensors and n_kv keys. */
static void header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}

static void tensor_info(buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                        uint32_t type, uint64_t offset) {
    str(b, name);
    u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        u64(b, ne[i]);
    u32(b, type);
    u64(b, offset);
}

/* Parses b and expects HALO_ERR_FORMAT with `needle` in the message. */
static void expect_bad(const buf *b, const char *needle) {
    halo_gguf *g = NULL;
    halo_err err = {0};
    int rc = halo_gguf_parse(&g, b->p, b->n, "t.gguf", &err);
    if (rc != HALO_ERR_FORMAT)
        TEST_FAIL_AT("expected a format error with '%s', got %d (%s)", needle, rc, err.msg);
    ASSERT(g == NULL);
    ASSERT_STR_CONTAINS(err.msg, "t.gguf");
    ASSERT_STR_CONTAINS(err.msg, needle);
}

/* A valid file: two keys, two f32 tensors of 8 and 2x32 values. */
static buf small_file(void) {
    buf b = {0};
    header(&b, 3, 2, 2);
    str(&b, "general.architecture");
    u32(&b, 8);
    str(&b, "test");
    str(&b, "list");
    u32(&b, 9);
    u32(&b, 5);
    u64(&b, 3);
    u32(&b, 7), u32(&b, (uint32_t)-8), u32(&b, 9);
    uint64_t ne1[1] = {8}, ne2[2] = {32, 2};
    tensor_info(&b, "a", 1, ne1, 0, 0);
    tensor_info(&b, "b", 2, ne2, 0, 32);
    pad(&b, 32);
    float v[8 + 64];
    for (int i = 0; i < 72; i++)
        v[i] = (float)i;
    put(&b, v, 32);
    put(&b, v + 8, 256);
    return b;
}

static void small_file_parses(void) {
    buf b = small_file();
    halo_gguf *g = NULL;
    halo_err err = {0};
    ASSERT_OK(halo_gguf_parse(&g, b.p, b.n, "t.gguf", &err));
    ASSERT_EQ(halo_gguf_version(g), 3);
    ASSERT_EQ(halo_gguf_n_kv(g), 2);
    ASSERT_EQ(halo_gguf_n_tensors(g), 2);
    const char *s;
    size_t len;
    ASSERT_OK(halo_gguf_get_str(g, "general.architecture", &s, &len, NULL));
    ASSERT(len == 4 && memcmp(s, "test", 4) == 0);
    const halo_gguf_kv *kv = halo_gguf_find(g, "list");
    ASSERT(kv && kv->type == HALO_GGUF_ARRAY && kv->elem_type == HALO_GGUF_I32 && kv->n == 3);
    ASSERT(halo_gguf_array_num(kv, 1) == -8.0);
    const halo_gguf_tensor *t = halo_gguf_find_tensor(g, "b");
    ASSERT(t && t->n_dims == 2 && t->ne[0] == 32 && t->ne[1] == 2 && t->n_bytes == 256);
    ASSERT(((const float *)t->data)[5] == 13.0f);
    ASSERT(halo_gguf_find_tensor(g, "c") == NULL && halo_gguf_find(g, "c") == NULL);
    int64_t v;
    ASSERT_EQ(halo_gguf_get_int(g, "general.architecture", 0, 1, &v, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "'general.architecture' is string, expected an integer");
    ASSERT_EQ(halo_gguf_get_int(g, "missing.key", 0, 1, &v, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "'missing.key' is missing");
    v = 77;
    ASSERT_OK(halo_gguf_get_int_opt(g, "missing.key", 0, 1, &v, NULL));
    ASSERT_EQ(v, 77);
    halo_gguf_free(g);
    free(b.p);
}

/* Every proper prefix of a valid file is refused. */
static void truncation_at_every_length_is_refused(void) {
    buf b = small_file();
    for (size_t n = 0; n < b.n; n++) {
        halo_gguf *g = NULL;
        halo_err err = {0};
        int rc = halo_gguf_parse(&g, b.p, n, "t.gguf", &err);
        if (rc != HALO_ERR_FORMAT)
            TEST_FAIL_AT("prefix of %zu bytes: rc %d", n, rc);
        ASSERT_STR_CONTAINS(err.msg, "t.gguf");
    }
    free(b.p);
}

static void malformed_files_name_the_fault(void) {
    uint64_t ne1[1] = {32}, ne2[2] = {32, 2};
    buf b = {0};
    put(&b, "GGUX", 4), u32(&b, 3), u64(&b, 0), u64(&b, 0), u64(&b, 0);
    expect_bad(&b, "not a GGUF file");
    b.n = 0, header(&b, 1, 0, 0), u64(&b, 0);
    expect_bad(&b, "version 1 is not supported");
    b.n = 0, header(&b, 3, 0, 1), str(&b, "k"), u32(&b, 99), u64(&b, 0);
    expect_bad(&b, "key 'k': unknown value type 99");
    b.n = 0, header(&b, 3, 0, 1), str(&b, "k"), u32(&b, 9), u32(&b, 9), u64(&b, 1), u64(&b, 0);
    expect_bad(&b, "key 'k': array of array elements");
    b.n = 0, header(&b, 3, 0, 1), str(&b, "k"), u32(&b, 8), u64(&b, 1000), u64(&b, 0);
    expect_bad(&b, "key 'k': string value runs past the end");
    b.n = 0, header(&b, 3, 0, 1), str(&b, "k"), u32(&b, 9), u32(&b, 4), u64(&b, 1u << 30),
    u64(&b, 0);
    expect_bad(&b, "array of 1073741824 u32 elements runs past the end");
    b.n = 0, header(&b, 3, 0, 1), str(&b, "k"), u32(&b, 7), put(&b, "\x02", 1), pad(&b, 32);
    expect_bad(&b, "bool value 2");
    b.n = 0, header(&b, 3, 0, 2), str(&b, "k"), u32(&b, 4), u32(&b, 1), str(&b, "k"), u32(&b, 4),
    u32(&b, 2);
    expect_bad(&b, "key 'k' appears twice");
    b.n = 0, header(&b, 3, 0, 1), str(&b, "general.alignment"), u32(&b, 4), u32(&b, 3);
    expect_bad(&b, "'general.alignment' is 3, expected a power of two");
    b.n = 0, header(&b, 3, 0, (uint64_t)1 << 40);
    expect_bad(&b, "key-value pairs cannot fit");
    b.n = 0, header(&b, 3, (uint64_t)1 << 40, 0);
    expect_bad(&b, "tensors cannot fit");
    b.n = 0, header(&b, 3, 1, 0), tensor_info(&b, "t", 2, ne2, 77, 0), pad(&b, 32);
    put(&b, ZEROS, 256);
    expect_bad(&b, "tensor 't': unknown tensor type 77");
    uint64_t huge[2] = {(uint64_t)1 << 40, (uint64_t)1 << 40};
    b.n = 0, header(&b, 3, 1, 0), tensor_info(&b, "t", 2, huge, 0, 0), pad(&b, 32);
    expect_bad(&b, "tensor 't': dimension 1 is 1099511627776, and the dimensions before it hold "
                   "1099511627776 elements: the count overflows");
    /* a huge first dimension and a small second one: the message names both (it blamed the
       small one alone, "dimension 1 is 512") */
    uint64_t first[2] = {(uint64_t)1 << 62, 512};
    b.n = 0, header(&b, 3, 1, 0), tensor_info(&b, "t", 2, first, 0, 0), pad(&b, 32);
    expect_bad(&b, "dimension 1 is 512, and the dimensions before it hold 4611686018427387904 "
                   "elements");
    uint64_t zero[1] = {0};
    b.n = 0, header(&b, 3, 1, 0), tensor_info(&b, "t", 1, zero, 0, 0), pad(&b, 32);
    expect_bad(&b, "dimension 0 is 0");
    uint64_t five[5] = {1, 1, 1, 1, 1};
    b.n = 0, header(&b, 3, 1, 0), tensor_info(&b, "t", 5, five, 0, 0), pad(&b, 32);
    expect_bad(&b, "tensor 't': 5 dimensions, expected 1..4");
    uint64_t odd[1] = {33};
    b.n = 0, header(&b, 3, 1, 0), tensor_info(&b, "t", 1, odd, 2, 0), pad(&b, 32);
    expect_bad(&b, "tensor 't': row of 33 elements is not a whole number of q4_0 blocks of 32");
    b.n = 0, header(&b, 3, 1, 0), tensor_info(&b, "t", 1, ne1, 0, 4), pad(&b, 32);
    expect_bad(&b, "tensor 't': offset 4 is not a multiple of the alignment 32");
    b.n = 0, header(&b, 3, 1, 0), tensor_info(&b, "t", 1, ne1, 0, 0), pad(&b, 32);
    put(&b, ZEROS, 100);
    expect_bad(&b, "tensor 't': 128 bytes at offset 0 run past the end of the file (100 bytes "
                   "of data)");
    b.n = 0, header(&b, 3, 1, 0), tensor_info(&b, "t", 1, ne1, 0, (uint64_t)1 << 62), pad(&b, 32);
    expect_bad(&b, "run past the end of the file");
    b.n = 0, header(&b, 3, 2, 0), tensor_info(&b, "t", 1, ne1, 0, 0);
    tensor_info(&b, "u", 1, ne1, 0, 64), pad(&b, 32), put(&b, ZEROS, 256);
    expect_bad(&b, "tensors 't' and 'u' overlap");
    b.n = 0, header(&b, 3, 2, 0), tensor_info(&b, "t", 1, ne1, 0, 0);
    tensor_info(&b, "t", 1, ne1, 0, 128), pad(&b, 32), put(&b, ZEROS, 256);
    expect_bad(&b, "tensor 't' appears twice");
    b.n = 0, header(&b, 3, 1, 0), str(&b, ""), u32(&b, 1), u64(&b, 1), u32(&b, 0), u64(&b, 0);
    expect_bad(&b, "tensor 0: name is empty");
    free(b.p);
}

/* ==== Models in GGUF files ==== */

/* The bundled model converted to `ftype` (cached per type in the scratch directory). */
static const char *bundled_as(int ftype) {
    static char paths[16][512];
    char *p = paths[ftype % 16];
    if (!p[0]) {
        (void)snprintf(p, 512, "%s", tu_tmp_path(halo_ftype_name(ftype)));
        halo_model *m = NULL;
        halo_tokenizer *t = NULL;
        halo_err err = {0};
        ASSERT_OK(halo_model_load(&m, tu_src_path("models/stories260K.bin"), &err));
        ASSERT_OK(halo_tokenizer_load(&t, tu_src_path("models/tok512.bin"), 512, &err));
        ASSERT_OK_ERR(halo_model_write_gguf(p, m, t, ftype, "stories260K", &err), err);
        halo_tokenizer_free(t);
        halo_model_free(m);
    }
    return p;
}

static halo_model *load(const char *path) {
    halo_model *m = NULL;
    halo_err err = {0};
    halo_model_opts o = {.max_seq_len = 256};
    ASSERT_OK_ERR(halo_model_load_opts(&m, path, &o, &err), err);
    return m;
}

/* Max |a - b| / max |b| over n logits. */
static double rel_err(const float *a, const float *b, int n) {
    double d = 0, m = 0;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - (double)b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

static void converted_bundled_model_matches_llama2c(void) {
    halo_model *ref = load(tu_src_path("models/stories260K.bin"));
    const int ftypes[] = {HALO_FTYPE_F32, HALO_FTYPE_F16, HALO_FTYPE_Q8_0, HALO_FTYPE_Q4_0};
    const double tol[] = {0, 2e-3, 3e-2, 0.6};
    for (int k = 0; k < 4; k++) {
        halo_model *m = load(bundled_as(ftypes[k]));
        const halo_model_config *c = halo_model_get_config(m);
        ASSERT_EQ(halo_model_format(m), HALO_MODEL_GGUF);
        ASSERT_EQ(c->dim, 64);
        ASSERT_EQ(c->hidden_dim, k < 2 ? 172 : 192); /* padded to whole blocks */
        ASSERT_EQ(c->vocab_size, 512);
        ASSERT(c->shared_classifier);
        ASSERT_EQ(halo_model_ffn_align(m), k < 2 ? 1 : 32);
        ASSERT(halo_model_rope_theta(m) == 10000.0f && halo_model_norm_eps(m) == 1e-5f);
        ASSERT(halo_model_get_weights(m)->wq == NULL);
        halo_state *a = NULL, *b = NULL;
        ASSERT_OK(halo_state_new(&a, ref, NULL, NULL));
        ASSERT_OK(halo_state_new(&b, m, NULL, NULL));
        int token = HALO_TOKEN_BOS;
        double worst = 0;
        for (int pos = 0; pos < 24; pos++) {
            const float *la = halo_forward(a, token, pos), *lb = halo_forward(b, token, pos);
            if (k == 0)
                ASSERT(memcmp(la, lb, 512 * sizeof(float)) == 0);
            worst = fmax(worst, rel_err(lb, la, 512));
            token = halo_argmax(la, 512);
        }
        if (!(worst <= tol[k]))
            TEST_FAIL_AT("%s: relative logit error %g, tolerance %g", halo_ftype_name(ftypes[k]),
                         worst, tol[k]);
        (void)fprintf(stderr, "# %s: max relative logit error %.3g\n", halo_ftype_name(ftypes[k]),
                      worst);
        halo_state_free(a);
        halo_state_free(b);
        halo_model_free(m);
    }
    halo_model_free(ref);
}

/* A small synthetic model whose widths are whole K blocks (tu_model_shape "k-blocks"). */
static const char *synthetic(int ftype) {
    static char paths[16][512];
    char *p = paths[ftype % 16];
    if (!p[0]) {
        char name[64];
        (void)snprintf(name, sizeof name, "syn-%s", halo_ftype_name(ftype));
        (void)snprintf(p, 512, "%s", tu_tmp_path(name));
        halo_model_config c = tu_model_shape("k-blocks");
        halo_tokenizer *t = NULL;
        halo_err err = {0};
        ASSERT_OK(halo_tokenizer_load(&t, tu_src_path("models/tok512.bin"), 512, &err));
        ASSERT_OK_ERR(halo_model_write_gguf_random(p, &c, t, ftype, 7, 0.0f, NULL, &err), err);
        halo_tokenizer_free(t);
    }
    return p;
}

/* Llama 3's RoPE base (llama.rope.freq_base 500000) is written, read back and used: the
   frequencies are theta^(-2i/head_size), and the logits differ from the same weights at
   10000 (llama.cpp agrees with both: tools/compare-llamacpp.sh). */
static void rope_base_from_the_file_is_used(void) {
    halo_model_config c = tu_model_shape("k-blocks");
    const int head_size = c.dim / c.n_heads;
    float thetas[2] = {0.0f, 500000.0f};
    float logits[2][512];
    for (int k = 0; k < 2; k++) {
        const char *p = tu_tmp_path(k ? "theta-500000.gguf" : "theta-default.gguf");
        halo_err err = {0};
        if (halo_model_write_gguf_random(p, &c, NULL, HALO_FTYPE_F32, 9, thetas[k], NULL, &err) !=
            HALO_OK)
            TEST_FAIL_AT("%s", err.msg);
        halo_model *m = load(p);
        float want = k ? 500000.0f : 10000.0f;
        ASSERT(halo_model_rope_theta(m) == want);
        float freq[128];
        ASSERT(head_size / 2 <= 128);
        halo_model_rope_freq(m, freq);
        for (int i = 0; i < head_size / 2; i++)
            ASSERT(freq[i] == 1.0f / powf(want, (float)(2 * i) / (float)head_size));
        halo_state *s = NULL;
        ASSERT_OK(halo_state_new(&s, m, NULL, NULL));
        int token = HALO_TOKEN_BOS;
        for (int pos = 0; pos < 8; pos++)
            token = halo_argmax(halo_forward(s, token, pos), 512);
        memcpy(logits[k], halo_forward(s, token, 8), sizeof logits[k]);
        halo_state_free(s);
        halo_model_free(m);
    }
    ASSERT(memcmp(logits[0], logits[1], sizeof logits[0]) != 0);
    halo_err err = {0};
    ASSERT_EQ(halo_model_write_gguf_random(tu_tmp_path("theta-bad.gguf"), &c, NULL, HALO_FTYPE_F32,
                                           9, 0.5f, NULL, &err),
              HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "RoPE base");
}

static void q4_k_m_layout_follows_llama_cpp(void) {
    halo_gguf *g = NULL;
    ASSERT_OK(halo_gguf_open(&g, synthetic(HALO_FTYPE_Q4_K_M), NULL));

    struct {
        const char *name;
        int type;
    } want[] = {
        {"token_embd.weight", HALO_TYPE_Q4_K},     {"output.weight", HALO_TYPE_Q6_K},
        {"blk.1.attn_v.weight", HALO_TYPE_Q6_K},   {"blk.1.ffn_down.weight", HALO_TYPE_Q6_K},
        {"blk.0.attn_v.weight", HALO_TYPE_Q4_K},   {"blk.0.ffn_down.weight", HALO_TYPE_Q4_K},
        {"blk.0.attn_q.weight", HALO_TYPE_Q4_K},   {"blk.0.ffn_gate.weight", HALO_TYPE_Q4_K},
        {"blk.1.attn_norm.weight", HALO_TYPE_F32}, {"output_norm.weight", HALO_TYPE_F32}};

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const halo_gguf_tensor *t = halo_gguf_find_tensor(g, want[i].name);
        ASSERT(t != NULL);
        if (t->type != want[i].type)
            TEST_FAIL_AT("%s: %s, expected %s", want[i].name, halo_type_name(t->type),
                         halo_type_name(want[i].type));
    }
    int64_t ft;
    ASSERT_OK(halo_gguf_get_int(g, "general.file_type", 0, 100, &ft, NULL));
    ASSERT_EQ(ft, HALO_FTYPE_Q4_K_M);
    halo_gguf_free(g);
    halo_model *m = load(synthetic(HALO_FTYPE_Q4_K_M));
    ASSERT_EQ(halo_model_ffn_align(m), 256);
    ASSERT_EQ(halo_model_weight_type(m), HALO_WEIGHT_Q40);
    ASSERT(!halo_model_get_config(m)->shared_classifier);
    ASSERT(halo_model_bytes_per_token(m) > 0);
    halo_model_free(m);
}

/* Runs `steps` greedy tokens through an n-device cluster (star or mesh collective); returns
   the worst relative logit error against the single-device pass (0 when bit-identical). */
static double cluster_vs_forward(const halo_model *m, int n_devices, int steps, int collective) {
    halo_transport *t = NULL;
    halo_loop_config lc = {.n_nodes = n_devices, .seed = 1};
    ASSERT_OK(halo_loop_new(&t, &lc, NULL));
    halo_cluster_config cc = {.model = m,
                              .n_devices = n_devices,
                              .transport = t,
                              .collective = collective,
                              .sync = {.policy = HALO_SYNC_POLICY_STRICT}};
    halo_cluster *c = tu_cluster_new(&cc);
    halo_err err = {0};
    halo_state *s = NULL;
    ASSERT_OK(halo_state_new(&s, m, NULL, NULL));
    int vocab = halo_model_get_config(m)->vocab_size, token = HALO_TOKEN_BOS;
    double worst = 0;
    for (int pos = 0; pos < steps; pos++) {
        const float *lc_ = NULL;
        ASSERT_OK(halo_cluster_forward(c, token, pos, &lc_, &err));
        const float *lf = halo_forward(s, token, pos);
        double e =
            memcmp(lc_, lf, (size_t)vocab * sizeof(float)) == 0 ? 0 : rel_err(lc_, lf, vocab);
        worst = fmax(worst, e);
        token = halo_argmax(lf, vocab);
    }
    halo_state_free(s);
    halo_cluster_free(c);
    halo_transport_free(t);
    return worst;
}

static void clusters_on_quantised_weights(void) {
    const int ftypes[] = {HALO_FTYPE_Q4_K_M, HALO_FTYPE_Q8_0, HALO_FTYPE_Q4_0, HALO_FTYPE_F16};
    for (int k = 0; k < 4; k++) {
        halo_model *m = load(synthetic(ftypes[k]));
        /* One device computes every group as one window: the single-device products. */
        ASSERT(cluster_vs_forward(m, 1, 12, HALO_COLLECTIVE_STAR) == 0.0);
        ASSERT(cluster_vs_forward(m, 1, 12, HALO_COLLECTIVE_MESH) == 0.0);
        /* More devices: partial sums add in another order, and a window narrower than a block
           (attention groups of 128 columns in 256-column K blocks) quantises its activations
           with its own scales: the logits move by about the activations' quantisation
           noise. */
        for (int n = 2; n <= 3; n++) {
            /* The mesh (all-gather, each device's slice of the classifier) computes the same
               windows as the star, summed in device order everywhere. */
            for (int mesh = 0; mesh <= 1; mesh++) {
                double e = cluster_vs_forward(m, n, 12,
                                              mesh ? HALO_COLLECTIVE_MESH : HALO_COLLECTIVE_STAR);
                (void)fprintf(stderr, "# %s on %d devices (%s): relative logit error %.3g\n",
                              halo_ftype_name(ftypes[k]), n, mesh ? "mesh" : "star", e);
                if (!(e < (ftypes[k] == HALO_FTYPE_Q4_K_M ? 5e-2 : 1e-2)))
                    TEST_FAIL_AT("%s on %d devices (%s): relative logit error %g",
                                 halo_ftype_name(ftypes[k]), n, mesh ? "mesh" : "star", e);
            }
        }
        halo_model_free(m);
    }
    /* The bundled model in q8_0: attention groups of 16 columns are narrower than a block
       (computed from dequantised weights), FFN groups are whole blocks. */
    halo_model *m = load(bundled_as(HALO_FTYPE_Q8_0));
    ASSERT(cluster_vs_forward(m, 1, 20, HALO_COLLECTIVE_STAR) == 0.0);
    double e = cluster_vs_forward(m, 3, 20, HALO_COLLECTIVE_STAR);
    (void)fprintf(stderr, "# bundled q8_0 on 3 devices: relative logit error %.3g\n", e);
    ASSERT(e < 5e-2);
    halo_model_free(m);
}

static void group_sizes_must_be_whole_blocks(void) {
    halo_model *m = load(synthetic(HALO_FTYPE_Q4_K_M));
    ASSERT_EQ(halo_cluster_default_group_size_of(m), 256);
    halo_transport *t = NULL;
    halo_loop_config lc = {.n_nodes = 2, .seed = 1};
    ASSERT_OK(halo_loop_new(&t, &lc, NULL));
    halo_cluster *c = NULL;
    halo_err err = {0};
    halo_cluster_config cc = {.model = m, .n_devices = 2, .ffn_group_size = 32, .transport = t};
    ASSERT_EQ(halo_cluster_new(&c, &cc, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "FFN group size 32 is not a multiple of the model's "
                                 "quantisation block 256");
    halo_transport_free(t);
    halo_model_free(m);
    halo_model *f = load(tu_src_path("models/stories260K.bin"));
    ASSERT_EQ(halo_cluster_default_group_size_of(f), 32);
    halo_model_free(f);
}

/* ==== Rewriting files: one change at a time ==== */

typedef struct edit {
    const char *drop_tensor;  /* leave this tensor out */
    const char *retype;       /* give this tensor ... */
    int new_type;             /* ... this type (data of the right size, zeros) */
    const char *reshape;      /* give this tensor ... */
    int64_t new_ne0;          /* ... this first dimension */
    const char *extra_tensor; /* add a small f32 tensor */
    const char *set_key;      /* set this key (u32 or string) ... */
    uint32_t u32_value;
    const char *str_value;
    const char *drop_key;
    int cut_tokens; /* drop this many tokens from tokenizer.ggml.tokens */
} edit;

static void copy_kv(halo_gguf_writer *w, const halo_gguf_kv *kv, const edit *e) {
    if (e->drop_key && strcmp(kv->key, e->drop_key) == 0)
        return;
    if (e->set_key && strcmp(kv->key, e->set_key) == 0) {
        if (e->str_value)
            halo_gguf_put_str(w, kv->key, e->str_value);
        else
            halo_gguf_put_u32(w, kv->key, e->u32_value);
        return;
    }
    switch (kv->type) {
    case HALO_GGUF_U32:
        halo_gguf_put_u32(w, kv->key, halo_get_u32(kv->value));
        break;
    case HALO_GGUF_I32:
        halo_gguf_put_i32(w, kv->key, halo_get_i32(kv->value));
        break;
    case HALO_GGUF_F32:
        halo_gguf_put_f32(w, kv->key, halo_get_f32(kv->value));
        break;
    case HALO_GGUF_BOOL:
        halo_gguf_put_bool(w, kv->key, kv->value[0]);
        break;
    case HALO_GGUF_STRING: {
        char s[256];
        size_t len = (size_t)halo_get_u64(kv->value);
        ASSERT(len < sizeof s);
        memcpy(s, kv->value + 8, len);
        s[len] = '\0';
        halo_gguf_put_str(w, kv->key, s);
        break;
    }
    case HALO_GGUF_ARRAY: {
        uint64_t n = kv->n;
        if (strcmp(kv->key, "tokenizer.ggml.tokens") == 0)
            n -= (uint64_t)e->cut_tokens;
        if (kv->elem_type == HALO_GGUF_STRING) {
            const char **s = malloc(n * sizeof *s);
            size_t *len = malloc(n * sizeof *len);
            uint64_t pos = 0;
            for (uint64_t i = 0; i < n; i++)
                halo_gguf_array_str_next(kv, &pos, &s[i], &len[i]);
            halo_gguf_put_arr_str(w, kv->key, s, len, n);
            free(s);
            free(len);
        } else if (kv->elem_type == HALO_GGUF_F32) {
            float *v = malloc(n * sizeof *v);
            for (uint64_t i = 0; i < n; i++)
                v[i] = (float)halo_gguf_array_num(kv, i);
            halo_gguf_put_arr_f32(w, kv->key, v, n);
            free(v);
        } else {
            int32_t *v = malloc(n * sizeof *v);
            for (uint64_t i = 0; i < n; i++)
                v[i] = (int32_t)halo_gguf_array_num(kv, i);
            halo_gguf_put_arr_i32(w, kv->key, v, n);
            free(v);
        }
        break;
    }
    default:
        TEST_FAIL_AT("copy_kv: type %d", kv->type);
    }
}

static const char *rewrite(const char *src, const edit *e) {
    static int counter;
    char name[64];
    (void)snprintf(name, sizeof name, "edit-%d.gguf", counter++);
    const char *dst = tu_tmp_path(name);
    halo_gguf *g = NULL;
    ASSERT_OK(halo_gguf_open(&g, src, NULL));
    halo_gguf_writer *w = NULL;
    ASSERT_OK(halo_gguf_writer_new(&w, dst, NULL));
    for (int i = 0; i < halo_gguf_n_kv(g); i++)
        copy_kv(w, halo_gguf_kv_at(g, i), e);
    if (e->set_key && !halo_gguf_find(g, e->set_key))
        halo_gguf_put_u32(w, e->set_key, e->u32_value);
    for (int i = 0; i < halo_gguf_n_tensors(g); i++) {
        const halo_gguf_tensor *t = halo_gguf_tensor_at(g, i);
        if (e->drop_tensor && strcmp(t->name, e->drop_tensor) == 0)
            continue;
        int type = e->retype && strcmp(t->name, e->retype) == 0 ? e->new_type : t->type;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        if (e->reshape && strcmp(t->name, e->reshape) == 0)
            ne[0] = e->new_ne0;
        ASSERT_OK(halo_gguf_add_tensor(w, t->name, type, t->n_dims, ne));
    }
    int64_t four[1] = {4};
    if (e->extra_tensor)
        ASSERT_OK(halo_gguf_add_tensor(w, e->extra_tensor, HALO_TYPE_F32, 1, four));
    ASSERT_OK(halo_gguf_begin_data(w, NULL));
    static unsigned char zeros[1 << 16];
    for (int i = 0; i < halo_gguf_n_tensors(g); i++) {
        const halo_gguf_tensor *t = halo_gguf_tensor_at(g, i);
        if (e->drop_tensor && strcmp(t->name, e->drop_tensor) == 0)
            continue;
        int changed = (e->retype && strcmp(t->name, e->retype) == 0) ||
                      (e->reshape && strcmp(t->name, e->reshape) == 0);
        if (!changed) {
            ASSERT_OK(halo_gguf_write_data(w, t->data, (size_t)t->n_bytes, NULL));
            continue;
        }
        int type = e->retype && strcmp(t->name, e->retype) == 0 ? e->new_type : t->type;
        int64_t ne0 = e->reshape && strcmp(t->name, e->reshape) == 0 ? e->new_ne0 : t->ne[0];
        size_t n = halo_type_row_bytes(type, ne0) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        for (size_t k = 0; k < n; k += sizeof zeros)
            ASSERT_OK(
                halo_gguf_write_data(w, zeros, n - k < sizeof zeros ? n - k : sizeof zeros, NULL));
    }
    if (e->extra_tensor)
        ASSERT_OK(halo_gguf_write_data(w, zeros, 16, NULL));
    ASSERT_OK(halo_gguf_writer_finish(w, 1, NULL));
    halo_gguf_free(g);
    return dst;
}

static void expect_model_error(const edit *e, const char *needle) {
    const char *p = rewrite(bundled_as(HALO_FTYPE_Q8_0), e);
    halo_model *m = NULL;
    halo_err err = {0};
    int rc = halo_model_load(&m, p, &err);
    if (rc != HALO_ERR_FORMAT)
        TEST_FAIL_AT("expected '%s', got %d (%s)", needle, rc, err.msg);
    ASSERT(m == NULL);
    ASSERT_STR_CONTAINS(err.msg, p);
    ASSERT_STR_CONTAINS(err.msg, needle);
}

static void unfit_models_name_the_tensor_or_key(void) {
    /* an unchanged copy loads */
    edit none = {0};
    halo_model *m = load(rewrite(bundled_as(HALO_FTYPE_Q8_0), &none));
    halo_model_free(m);
    expect_model_error(&(edit){.drop_tensor = "blk.3.ffn_down.weight"},
                       "tensor 'blk.3.ffn_down.weight' is missing");
    expect_model_error(&(edit){.retype = "blk.1.attn_q.weight", .new_type = 6},
                       "tensor 'blk.1.attn_q.weight' has type q5_0, which halo does not compute "
                       "with");
    expect_model_error(&(edit){.retype = "blk.0.attn_norm.weight", .new_type = HALO_TYPE_Q8_0},
                       "tensor 'blk.0.attn_norm.weight' has type q8_0");
    expect_model_error(&(edit){.reshape = "blk.2.ffn_up.weight", .new_ne0 = 96},
                       "tensor 'blk.2.ffn_up.weight' is [96, 192], expected [64, 192]");
    expect_model_error(&(edit){.extra_tensor = "blk.0.attn_qkv.weight"},
                       "tensor 'blk.0.attn_qkv.weight' is not part of a llama model");
    expect_model_error(&(edit){.set_key = "general.architecture", .str_value = "qwen2"},
                       "architecture 'qwen2' is not supported");
    expect_model_error(&(edit){.drop_key = "llama.block_count"},
                       "key 'llama.block_count' is missing");
    expect_model_error(&(edit){.set_key = "llama.attention.head_count_kv", .u32_value = 3},
                       "n_heads 8 is not a multiple of n_kv_heads 3");
    expect_model_error(&(edit){.set_key = "llama.rope.dimension_count", .u32_value = 4},
                       "llama.rope.dimension_count 4 differs from the head size 8");
    expect_model_error(&(edit){.set_key = "llama.vocab_size", .u32_value = 500},
                       "llama.vocab_size 500 differs from token_embd.weight's 512 rows");
    expect_model_error(&(edit){.set_key = "llama.embedding_length", .str_value = "wide"},
                       "key 'llama.embedding_length' is string, expected an integer");
}

static void expect_vocab_error(const edit *e, const char *needle) {
    const char *p = rewrite(bundled_as(HALO_FTYPE_Q8_0), e);
    halo_model *m = load(p);
    halo_tokenizer *t = NULL;
    halo_err err = {0};
    int rc = halo_tokenizer_load_gguf(&t, halo_model_gguf(m), 512, &err);
    if (rc != HALO_ERR_FORMAT)
        TEST_FAIL_AT("expected '%s', got %d (%s)", needle, rc, err.msg);
    ASSERT(t == NULL);
    ASSERT_STR_CONTAINS(err.msg, p);
    ASSERT_STR_CONTAINS(err.msg, needle);
    halo_model_free(m);
}

static void bad_vocabularies_are_refused(void) {
    expect_vocab_error(&(edit){.cut_tokens = 1},
                       "key 'tokenizer.ggml.tokens' has 511 entries, the model's vocabulary 512");
    expect_vocab_error(&(edit){.set_key = "tokenizer.ggml.model", .str_value = "gpt2"},
                       "tokenizer model 'gpt2' is not supported");
    expect_vocab_error(&(edit){.drop_key = "tokenizer.ggml.model"}, "holds no vocabulary");
    expect_vocab_error(&(edit){.set_key = "tokenizer.ggml.bos_token_id", .u32_value = 5},
                       "key 'tokenizer.ggml.bos_token_id' is 5; halo needs 1");
    expect_vocab_error(&(edit){.set_key = "tokenizer.ggml.scores", .u32_value = 5},
                       "key 'tokenizer.ggml.scores' is not an array of f32");
    expect_vocab_error(&(edit){.drop_key = "tokenizer.ggml.tokens"},
                       "key 'tokenizer.ggml.tokens' is missing");
}

/* The vocabulary read from a GGUF file encodes and decodes as the llama2.c file it came
   from: the bundled 512-token one and the 32000-token Llama 2 one. */
static void gguf_vocabularies_equal_llama2c(void) {
    static const char *const prompts[] = {
        "Once upon a time",
        "",
        " leading space",
        "two  spaces\tand\ttabs\nand newlines\n\n",
        "Unicode: caf\xc3\xa9, na\xc3\xafve, \xe4\xbd\xa0\xe5\xa5\xbd, emoji \xf0\x9f\x98\x80!",
        "<s> and </s> in text",
        "numbers 1234567890 and symbols #$%^&*()",
    };

    struct {
        const char *tok;
        int vocab;
    } vocabs[] = {{"models/tok512.bin", 512}, {"models/tokenizer.bin", 32000}};

    for (int v = 0; v < 2; v++) {
        halo_tokenizer *a = NULL, *b = NULL;
        ASSERT_OK(halo_tokenizer_load(&a, tu_src_path(vocabs[v].tok), vocabs[v].vocab, NULL));
        halo_model_config c = {.dim = 32,
                               .hidden_dim = 32,
                               .n_layers = 1,
                               .n_heads = 2,
                               .n_kv_heads = 2,
                               .vocab_size = vocabs[v].vocab,
                               .seq_len = 16,
                               .shared_classifier = 1};
        const char *p = tu_tmp_path(v ? "vocab32000.gguf" : "vocab512.gguf");
        halo_err err = {0};
        ASSERT_OK_ERR(halo_model_write_gguf_random(p, &c, a, HALO_FTYPE_F32, 1, 0.0f, NULL, &err),
                      err);
        halo_model *m = load(p);
        ASSERT_OK_ERR(halo_tokenizer_load_gguf(&b, halo_model_gguf(m), vocabs[v].vocab, &err), err);
        for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++) {
            int ta[512], tb[512], na, nb;
            ASSERT_OK(halo_tokenizer_encode(a, prompts[i], 1, 0, ta, 512, &na, NULL));
            ASSERT_OK(halo_tokenizer_encode(b, prompts[i], 1, 0, tb, 512, &nb, NULL));
            ASSERT_EQ(na, nb);
            ASSERT(memcmp(ta, tb, (size_t)na * sizeof(int)) == 0);
        }
        for (int id = 3; id < vocabs[v].vocab; id++) {
            size_t la, lb;
            const char *sa = halo_tokenizer_decode(a, 5, id, &la);
            const char *sb = halo_tokenizer_decode(b, 5, id, &lb);
            ASSERT(la == lb && memcmp(sa, sb, la) == 0);
        }
        halo_tokenizer_free(a);
        halo_tokenizer_free(b);
        halo_model_free(m);
    }
}

/* Seeded mutations of a whole model file: each either fails with a format error naming the
   file, or loads and runs (ASan checks the memory in CI). */
static void fuzz_model_file(const char *src, int rounds, uint64_t seed) {
    size_t n;
    unsigned char *orig = tu_read_file(src, &n);
    unsigned char *b = malloc(n);
    const char *p = tu_tmp_path("fuzz.gguf");
    halo_rng rng;
    halo_rng_init(&rng, seed);
    int loaded = 0, rejected = 0;
    /* The header, metadata and tensor infos are the first ~10 kB; flips go there mostly. */
    size_t hot = 12000 < n ? 12000 : n;
    for (int round = 0; round < rounds; round++) {
        memcpy(b, orig, n);
        size_t len = n;
        uint64_t kind = halo_rng_u64(&rng) % 5;
        if (kind == 0) {
            len = (size_t)(halo_rng_u64(&rng) % n);
        } else {
            int flips = 1 + (int)(halo_rng_u64(&rng) % 4);
            for (int i = 0; i < flips; i++) {
                size_t at = (size_t)(halo_rng_u64(&rng) % (kind == 1 ? n : hot));
                b[at] ^= (unsigned char)(1u << (halo_rng_u64(&rng) % 8));
            }
        }
        tu_write_file(p, b, len);
        halo_model *m = NULL;
        halo_err err = {0};
        halo_model_opts o = {.max_seq_len = 8};
        int rc = halo_model_load_opts(&m, p, &o, &err);
        if (rc != HALO_OK) {
            if (rc != HALO_ERR_FORMAT)
                TEST_FAIL_AT("%s, round %d: rc %d (%s)", src, round, rc, err.msg);
            ASSERT_STR_CONTAINS(err.msg, p);
            rejected++;
            continue;
        }
        loaded++;
        halo_tokenizer *t = NULL;
        rc = halo_tokenizer_load_gguf(&t, halo_model_gguf(m), halo_model_get_config(m)->vocab_size,
                                      &err);
        ASSERT(rc == HALO_OK || rc == HALO_ERR_FORMAT);
        halo_tokenizer_free(t);
        halo_state *s = NULL;
        ASSERT_OK(halo_state_new(&s, m, NULL, NULL));
        int vocab = halo_model_get_config(m)->vocab_size, token = 1;
        for (int pos = 0; pos < 3; pos++)
            token = halo_argmax(halo_forward(s, token, pos), vocab);
        ASSERT(token >= 0 && token < vocab);
        halo_state_free(s);
        halo_model_free(m);
    }
    (void)fprintf(stderr, "# fuzz %s: %d loaded, %d rejected\n", src, loaded, rejected);
    ASSERT(loaded > 0 && rejected > 0);
    free(b);
    free(orig);
}

/* The bundled model in q4_0, and a K-quant model (Q4_K, Q6_K and Q8_0 blocks, whose scales a
   flip may turn into infinities or NaNs: the pass still runs without touching memory out of
   bounds). */
static void mutated_gguf_models_fail_cleanly_or_run(void) {
    fuzz_model_file(bundled_as(HALO_FTYPE_Q4_0), 400, 16);
    fuzz_model_file(synthetic(HALO_FTYPE_Q4_K_M), 200, 17);
}

TEST_MAIN(TEST(small_file_parses), TEST(truncation_at_every_length_is_refused),
          TEST(malformed_files_name_the_fault), TEST(converted_bundled_model_matches_llama2c),
          TEST(q4_k_m_layout_follows_llama_cpp), TEST(rope_base_from_the_file_is_used),
          TEST(clusters_on_quantised_weights), TEST(group_sizes_must_be_whole_blocks),
          TEST(unfit_models_name_the_tensor_or_key), TEST(bad_vocabularies_are_refused),
          TEST(gguf_vocabularies_equal_llama2c), TEST(mutated_gguf_models_fail_cleanly_or_run))
