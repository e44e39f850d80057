/*
 * Checkpoint loading and validation (llama2.c here; GGUF in model_gguf.c). The file is
 * mapped read-only and every tensor is a view into the mapping; nothing is copied. Sizes are
 * computed in 64-bit arithmetic after the header's fields are bounded, so no header can make
 * the arithmetic overflow.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/model.h"

#include "core/bytes.h"
#include "core/file.h"
#include "core/model_impl.h"
#include "core/rng.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

double halo_weight_bytes(int weight_type) {
    switch (weight_type) {
    case HALO_WEIGHT_Q80:
        return 34.0 / 32.0;
    case HALO_WEIGHT_Q40:
        return 18.0 / 32.0;
    case HALO_WEIGHT_F16:
        return 2.0;
    default:
        return 4.0;
    }
}

int halo_model_new_shape(halo_model **out, const halo_model_config *cfg, int weight_type,
                         halo_err *err) {
    *out = NULL;
    if (weight_type < 0 || weight_type >= HALO_WEIGHT_TYPE_COUNT_)
        return HALO_FAIL(err, HALO_ERR_ARG, "weight type %d unknown", weight_type);
    int rc = halo_model_config_check(cfg, "shape", err);
    if (rc != HALO_OK)
        return rc;
    halo_model *m = calloc(1, sizeof *m);
    if (!m)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "shape model: out of memory");
    m->cfg = *cfg;
    m->weight_type = weight_type;
    m->format = HALO_MODEL_SHAPE;
    m->rope_theta = 10000.0f;
    m->norm_eps = 1e-5f;
    *out = m;
    return HALO_OK;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* What a shape-only model is fingerprinted by: its configuration and weight type. */
static void shape_fields(const halo_model *m, int32_t f[9]) {
    int32_t v[9] = {m->cfg.dim,     m->cfg.hidden_dim,        m->cfg.n_layers,
                    m->cfg.n_heads, m->cfg.n_kv_heads,        m->cfg.vocab_size,
                    m->cfg.seq_len, m->cfg.shared_classifier, m->weight_type};
    memcpy(f, v, sizeof v);
}

uint64_t halo_model_hash(const halo_model *model) {
    /* The model is otherwise immutable; caching the hash is invisible to callers. Two
     * threads computing it at once store the same value. */
    halo_model *m = (halo_model *)(uintptr_t)model;
    if (m->hash)
        return m->hash;
    uint64_t h;
    if (m->bytes) {
        h = XXH3_64bits(m->bytes, m->n_bytes);
    } else {
        int32_t f[9];
        shape_fields(m, f);
        h = XXH3_64bits(f, sizeof f);
    }
    m->hash = h ? h : 1;
    return m->hash;
}

uint64_t halo_model_hash_fnv1a(const halo_model *model) {
    uint64_t h = 0xcbf29ce484222325ULL;
    if (model->bytes) {
        h = fnv1a(h, model->bytes, model->n_bytes);
    } else {
        int32_t f[9];
        shape_fields(model, f);
        h = fnv1a(h, f, sizeof f);
    }
    return h ? h : 1;
}

int halo_model_has_weights(const halo_model *model) {
    return model->format != HALO_MODEL_SHAPE;
}

int halo_model_weight_type(const halo_model *model) {
    return model->weight_type;
}

/* Bounds that keep every size computation far from overflow and reject absurd headers. */
enum {
    MAX_DIM = 1 << 16,
    MAX_HIDDEN = 1 << 18,
    MAX_LAYERS = 1024,
    MAX_VOCAB = 1 << 22,
    MAX_SEQ_LEN = 1 << 20,
};

int halo_model_config_check(const halo_model_config *c, const char *what, halo_err *err) {
    struct {
        const char *name;
        int value;
        int max;
    } fields[] = {
        {"dim", c->dim, MAX_DIM},
        {"hidden_dim", c->hidden_dim, MAX_HIDDEN},
        {"n_layers", c->n_layers, MAX_LAYERS},
        {"n_heads", c->n_heads, MAX_DIM},
        {"n_kv_heads", c->n_kv_heads, MAX_DIM},
        {"vocab_size", c->vocab_size, MAX_VOCAB},
        {"seq_len", c->seq_len, MAX_SEQ_LEN},
    };

    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (fields[i].value <= 0 || fields[i].value > fields[i].max)
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: header field %s is %d, expected 1..%d",
                             what, fields[i].name, fields[i].value, fields[i].max);
    }
    if (c->dim % c->n_heads != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: dim %d is not a multiple of n_heads %d", what,
                         c->dim, c->n_heads);
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: n_heads %d is not a multiple of n_kv_heads %d",
                         what, c->n_heads, c->n_kv_heads);
    if ((c->dim / c->n_heads) % 2 != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: head size %d is odd (RoPE needs pairs)", what,
                         c->dim / c->n_heads);
    return HALO_OK;
}

uint64_t halo_model_payload_bytes(const halo_model_config *c, int with_rope_tables) {
    uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
    uint64_t layers = (uint64_t)c->n_layers, vocab = (uint64_t)c->vocab_size;
    uint64_t kv_dim = (uint64_t)halo_model_kv_dim(c);
    uint64_t n = vocab * dim;                                   /* token embedding */
    n += layers * (2 * dim + 2 * dim * dim + 2 * dim * kv_dim); /* norms, wq, wo, wk, wv */
    n += layers * 3 * dim * hidden;                             /* w1, w2, w3 */
    n += dim;                                                   /* final norm */
    if (with_rope_tables)
        n += (uint64_t)c->seq_len * (uint64_t)halo_model_head_size(c);
    if (!c->shared_classifier)
        n += vocab * dim;
    return n * sizeof(float);
}

static halo_mat f32_mat(const float *p, int rows, int cols) {
    return (halo_mat){.data = p,
                      .row_bytes = (size_t)cols * sizeof(float),
                      .type = HALO_TYPE_F32,
                      .rows = rows,
                      .cols = cols};
}

static void bind_weights(halo_model *m, int with_rope_tables) {
    const halo_model_config *c = &m->cfg;
    size_t dim = (size_t)c->dim, hidden = (size_t)c->hidden_dim, layers = (size_t)c->n_layers;
    size_t kv_dim = (size_t)halo_model_kv_dim(c);
    const float *p = (const float *)(const void *)((const char *)m->map + HALO_MODEL_HEADER_BYTES);
    halo_weights *w = &m->w;
    w->token_embedding = p, p += (size_t)c->vocab_size * dim;
    w->rms_att = p, p += layers * dim;
    w->wq = p, p += layers * dim * dim;
    w->wk = p, p += layers * kv_dim * dim;
    w->wv = p, p += layers * kv_dim * dim;
    w->wo = p, p += layers * dim * dim;
    w->rms_ffn = p, p += layers * dim;
    w->w1 = p, p += layers * hidden * dim;
    w->w2 = p, p += layers * dim * hidden;
    w->w3 = p, p += layers * hidden * dim;
    w->rms_final = p, p += dim;
    if (with_rope_tables)
        p += (size_t)c->seq_len * (size_t)halo_model_head_size(c);
    w->wcls = c->shared_classifier ? w->token_embedding : p;
    for (size_t l = 0; l < layers; l++) {
        halo_layer *L = &m->layers[l];
        L->rms_att = w->rms_att + l * dim;
        L->rms_ffn = w->rms_ffn + l * dim;
        L->wq = f32_mat(w->wq + l * dim * dim, c->dim, c->dim);
        L->wk = f32_mat(w->wk + l * kv_dim * dim, (int)kv_dim, c->dim);
        L->wv = f32_mat(w->wv + l * kv_dim * dim, (int)kv_dim, c->dim);
        L->wo = f32_mat(w->wo + l * dim * dim, c->dim, c->dim);
        L->w1 = f32_mat(w->w1 + l * hidden * dim, c->hidden_dim, c->dim);
        L->w2 = f32_mat(w->w2 + l * dim * hidden, c->dim, c->hidden_dim);
        L->w3 = f32_mat(w->w3 + l * hidden * dim, c->hidden_dim, c->dim);
    }
    m->emb = f32_mat(w->token_embedding, c->vocab_size, c->dim);
    m->cls = f32_mat(w->wcls, c->vocab_size, c->dim);
}

int halo_model_load(halo_model **out, const char *path, halo_err *err) {
    return halo_model_load_opts(out, path, NULL, err);
}

int halo_model_load_opts(halo_model **out, const char *path, const halo_model_opts *opts,
                         halo_err *err) {
    *out = NULL;
    int fd;
    uint64_t file_bytes;
    int rc = halo_file_open_regular(path, &fd, &file_bytes, err);
    if (rc != HALO_OK)
        return rc;
    unsigned char magic[4];
    if (file_bytes >= 4 && pread(fd, magic, 4, 0) == 4 && memcmp(magic, "GGUF", 4) == 0) {
        (void)close(fd);
        halo_gguf *g;
        rc = halo_gguf_open(&g, path, err);
        return rc == HALO_OK ? halo_model_from_gguf(out, g, opts, err) : rc;
    }
    if (file_bytes < HALO_MODEL_HEADER_BYTES) {
        (void)close(fd);
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: file is %llu bytes, shorter than the %d-byte header", path,
                         (unsigned long long)file_bytes, HALO_MODEL_HEADER_BYTES);
    }
    void *map = mmap(NULL, (size_t)file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    (void)close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot map model: %s", path, strerror(map_errno));

    const unsigned char *h = map;
    halo_model_config cfg = {
        .dim = halo_get_i32(h + 0),
        .hidden_dim = halo_get_i32(h + 4),
        .n_layers = halo_get_i32(h + 8),
        .n_heads = halo_get_i32(h + 12),
        .n_kv_heads = halo_get_i32(h + 16),
        .vocab_size = halo_get_i32(h + 20),
        .seq_len = halo_get_i32(h + 24),
        .shared_classifier = 1,
    };
    if (cfg.vocab_size < 0 && cfg.vocab_size != INT32_MIN) {
        cfg.vocab_size = -cfg.vocab_size; /* llama2.c's in-band flag: separate classifier */
        cfg.shared_classifier = 0;
    }
    rc = halo_model_config_check(&cfg, path, err);
    if (rc != HALO_OK && isprint(h[0]) && isprint(h[1]) && isprint(h[2]) && isprint(h[3])) {
        /* a header that starts with text is no llama2.c checkpoint (its first field, the
           dimension, would be over 500 million): most likely a damaged or other format */
        rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                       "%s: not a model file: it starts with '%c%c%c%c', which is neither GGUF's "
                       "magic 'GGUF' nor a llama2.c checkpoint's header",
                       path, h[0], h[1], h[2], h[3]);
    }
    if (rc != HALO_OK)
        goto fail;
    uint64_t plain = HALO_MODEL_HEADER_BYTES + halo_model_payload_bytes(&cfg, 0);
    uint64_t legacy = HALO_MODEL_HEADER_BYTES + halo_model_payload_bytes(&cfg, 1);
    if (file_bytes != plain && file_bytes != legacy) {
        rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                       "%s: file is %llu bytes but its header describes %llu (or %llu with "
                       "legacy rope tables): %s",
                       path, (unsigned long long)file_bytes, (unsigned long long)plain,
                       (unsigned long long)legacy,
                       file_bytes < legacy ? "truncated" : "oversized or header wrong");
        goto fail;
    }
    if (opts && opts->max_seq_len > 0 && cfg.seq_len > opts->max_seq_len)
        cfg.seq_len = opts->max_seq_len;
    halo_model *m = calloc(1, sizeof *m);
    halo_layer *layers = calloc((size_t)cfg.n_layers, sizeof *layers);
    if (!m || !layers) {
        free(m);
        free(layers);
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    m->cfg = cfg;
    m->format = HALO_MODEL_LLAMA2C;
    m->map = map;
    m->bytes = map;
    m->n_bytes = (size_t)file_bytes;
    m->layers = layers;
    m->rope_theta = 10000.0f;
    m->norm_eps = 1e-5f;
    bind_weights(m, file_bytes == legacy && legacy != plain);
    *out = m;
    return HALO_OK;
fail:
    (void)munmap(map, (size_t)file_bytes);
    return rc;
}

void halo_model_free(halo_model *model) {
    if (!model)
        return;
    if (model->map)
        (void)munmap(model->map, model->n_bytes);
    halo_gguf_free(model->gguf);
    for (int i = 0; i < model->n_packs; i++)
        free(model->packs[i]);
    free(model->packs);
    free(model->layers);
    free(model->norms);
    free(model->rope_factors);
    free(model);
}

const halo_model_config *halo_model_get_config(const halo_model *model) {
    return &model->cfg;
}

const halo_weights *halo_model_get_weights(const halo_model *model) {
    return &model->w;
}

const halo_layer *halo_model_layer(const halo_model *model, int layer) {
    HALO_ASSERT(layer >= 0 && layer < model->cfg.n_layers);
    return model->layers ? &model->layers[layer] : NULL;
}

const halo_mat *halo_model_embedding(const halo_model *model) {
    return model->layers ? &model->emb : NULL;
}

const halo_mat *halo_model_classifier(const halo_model *model) {
    return model->layers ? &model->cls : NULL;
}

int halo_model_format(const halo_model *model) {
    return model->format;
}

int halo_model_ffn_align(const halo_model *model) {
    return model->ffn_align > 1 ? model->ffn_align : 1;
}

float halo_model_rope_theta(const halo_model *model) {
    return model->rope_theta;
}

float halo_model_norm_eps(const halo_model *model) {
    return model->norm_eps;
}

void halo_model_rope_freq(const halo_model *model, float *freq) {
    int head_size = halo_model_head_size(&model->cfg);
    for (int i = 0; i < head_size / 2; i++) {
        freq[i] = 1.0f / powf(model->rope_theta, (float)(2 * i) / (float)head_size);
        if (model->rope_factors)
            freq[i] /= model->rope_factors[i];
    }
}

uint64_t halo_model_packed_bytes(const halo_model *model) {
    return model->packed_bytes;
}

const struct halo_gguf *halo_model_gguf(const halo_model *model) {
    return model->gguf;
}

uint64_t halo_model_n_params(const halo_model *model) {
    return halo_model_payload_bytes(&model->cfg, 0) / sizeof(float);
}

uint64_t halo_model_bytes_per_token(const halo_model *model) {
    if (model->format == HALO_MODEL_GGUF)
        return model->bytes_per_token;
    const halo_model_config *c = &model->cfg;
    uint64_t n = halo_model_n_params(model);
    uint64_t emb = (uint64_t)c->vocab_size * (uint64_t)c->dim;
    /* One embedding row is read; a shared table is read whole again as the classifier. */
    n -= emb;
    n += (uint64_t)c->dim;
    if (c->shared_classifier)
        n += emb;
    return (uint64_t)((double)n * halo_weight_bytes(model->weight_type));
}

/* ==== Writing random checkpoints ==== */

static int write_all(FILE *f, const void *buf, size_t n) {
    return fwrite(buf, 1, n, f) == n ? 0 : -1;
}

static int write_i32_le(FILE *f, int32_t v) {
    unsigned char b[4];
    halo_put_i32(b, v);
    return write_all(f, b, 4);
}

/* Writes n floats, uniform in [-scale, scale] (or all `scale` when constant). */
static int write_tensor(FILE *f, halo_rng *rng, uint64_t n, float scale, int constant) {
    float buf[4096] = {0};
    while (n > 0) {
        size_t k = n < 4096 ? (size_t)n : 4096;
        for (size_t i = 0; i < k; i++)
            buf[i] = constant ? scale : (2.0f * halo_rng_f32(rng) - 1.0f) * scale;
        if (write_all(f, buf, k * sizeof(float)) != 0)
            return -1;
        n -= k;
    }
    return 0;
}

int halo_model_write_random(const char *path, const halo_model_config *cfg, uint64_t seed,
                            halo_err *err) {
    int rc = halo_model_config_check(cfg, path, err);
    if (rc != HALO_OK)
        return rc;
    int fd;
    rc = halo_file_create(path, 0644, &fd, err); /* a FIFO or device is refused at once */
    if (rc != HALO_OK)
        return rc;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        (void)close(fd);
        return rc;
    }
    halo_rng rng;
    halo_rng_init(&rng, seed);
    uint64_t dim = (uint64_t)cfg->dim, hidden = (uint64_t)cfg->hidden_dim;
    uint64_t layers = (uint64_t)cfg->n_layers, vocab = (uint64_t)cfg->vocab_size;
    uint64_t kv_dim = (uint64_t)halo_model_kv_dim(cfg);
    /* Uniform in [-a, a] has variance a^2/3; a = sqrt(3/n) gives rows of unit norm. */
    float s_dim = sqrtf(3.0f / (float)cfg->dim), s_hidden = sqrtf(3.0f / (float)cfg->hidden_dim);
    int32_t header[7] = {
        cfg->dim,     cfg->hidden_dim, cfg->n_layers,
        cfg->n_heads, cfg->n_kv_heads, cfg->shared_classifier ? cfg->vocab_size : -cfg->vocab_size,
        cfg->seq_len};
    int bad = 0;
    for (int i = 0; i < 7; i++)
        bad |= write_i32_le(f, header[i]);
    bad |= write_tensor(f, &rng, vocab * dim, 1.0f, 0);
    bad |= write_tensor(f, &rng, layers * dim, 1.0f, 1);
    bad |= write_tensor(f, &rng, layers * dim * dim, s_dim, 0);
    bad |= write_tensor(f, &rng, layers * kv_dim * dim, s_dim, 0);
    bad |= write_tensor(f, &rng, layers * kv_dim * dim, s_dim, 0);
    bad |= write_tensor(f, &rng, layers * dim * dim, s_dim, 0);
    bad |= write_tensor(f, &rng, layers * dim, 1.0f, 1);
    bad |= write_tensor(f, &rng, layers * hidden * dim, s_dim, 0);
    bad |= write_tensor(f, &rng, layers * dim * hidden, s_hidden, 0);
    bad |= write_tensor(f, &rng, layers * hidden * dim, s_dim, 0);
    bad |= write_tensor(f, &rng, dim, 1.0f, 1);
    if (!cfg->shared_classifier)
        bad |= write_tensor(f, &rng, vocab * dim, s_dim, 0);
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        (void)remove(path);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return HALO_OK;
}
