/*
 * The importance predictor: file loading and writing, low-rank scoring, the oracle and the
 * critical-set selection. The file is read whole into memory (it is small: tens of kB for the
 * bundled model), checked field by field before any size is trusted, and converted to floats
 * once. Everything scoring needs (W2 column norms, Wo Gram matrices, scratch) is derived at
 * load, so scoring allocates nothing.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/predictor.h"

#include "core/arena.h"
#include "core/bytes.h"
#include "core/file.h"
#include "core/mat.h"
#include "core/ops.h"
#include "core/wire.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static_assert(sizeof(float) == 4, "the file stores IEEE-754 binary32");

static const char MAGIC[8] = {'H', 'A', 'L', 'O', 'P', 'R', 'E', 'D'};

/* Header layout (byte offsets). */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 8,
    OFF_HASH = 12,
    OFF_DIM = 20,
    OFF_HIDDEN = 24,
    OFF_LAYERS = 28,
    OFF_RANK = 32,
    OFF_FLAGS = 36,
    CRC_BYTES = 4,
    KNOWN_FLAGS = HALO_PREDICTOR_ATTN | HALO_PREDICTOR_ATTN_PRIOR,
};

static_assert(OFF_FLAGS + 4 == HALO_PREDICTOR_HEADER_BYTES, "header layout");

struct halo_predictor {
    const halo_model *model;
    int dim, hidden, n_layers, kv_dim, head_size, n_kv, kv_mul;
    int rank, flags; /* one block holds this struct and every buffer below */
    /* The factors as in the file, except that every U is stored transposed, (rank, rows):
     * expanding a rank-r vector is then r contiguous multiply-adds over the rows, which
     * compilers vectorise (twice as fast as r-long dot products for the bundled model). */
    float *ffn;     /* (n_layers, 2 * (rank * dim + hidden * rank)): V1 U1^T V3 U3^T */
    float *attn;    /* (n_layers, rank * dim + kv_dim * rank): Vv Uv^T; NULL without ATTN */
    float *prior;   /* (n_layers, n_kv): fixed attention scores; NULL without ATTN_PRIOR */
    float *w2_sq;   /* (n_layers, hidden): squared norms of W2's columns */
    float *wo_gram; /* (n_layers, n_kv, head_size, head_size): M_g^T M_g (see predictor.h) */
    float *a;       /* (rank) scratch */
    float *gate;    /* (hidden) scratch */
    float *up;      /* (hidden) scratch */
    float *v;       /* (kv_dim) scratch */
};

/* ==== Sizes ==== */

static uint64_t ffn_floats(uint64_t dim, uint64_t hidden, uint64_t rank) {
    return 2 * (rank * dim + hidden * rank);
}

static uint64_t attn_floats(uint64_t dim, uint64_t kv_dim, uint64_t rank) {
    return rank * dim + kv_dim * rank;
}

/* Floats per layer of a file. */
static uint64_t layer_floats(const halo_model_config *c, uint64_t rank, int flags) {
    uint64_t dim = (uint64_t)c->dim, n = ffn_floats(dim, (uint64_t)c->hidden_dim, rank);
    if (flags & HALO_PREDICTOR_ATTN)
        n += attn_floats(dim, (uint64_t)halo_model_kv_dim(c), rank);
    if (flags & HALO_PREDICTOR_ATTN_PRIOR)
        n += (uint64_t)c->n_kv_heads;
    return n;
}

uint64_t halo_predictor_file_bytes(const halo_model_config *cfg, int rank, int flags) {
    return HALO_PREDICTOR_HEADER_BYTES +
           4 * (uint64_t)cfg->n_layers * layer_floats(cfg, (uint64_t)rank, flags) + CRC_BYTES;
}

/* At most one way of scoring attention. */
static int flags_valid(int32_t flags) {
    return (flags & ~KNOWN_FLAGS) == 0 &&
           (flags & (HALO_PREDICTOR_ATTN | HALO_PREDICTOR_ATTN_PRIOR)) !=
               (HALO_PREDICTOR_ATTN | HALO_PREDICTOR_ATTN_PRIOR);
}

static int max_rank(const halo_model_config *c) {
    return c->dim < c->hidden_dim ? c->dim : c->hidden_dim;
}

/* ==== Loading ==== */

void halo_predictor_free(halo_predictor *p) {
    free(p); /* the predictor and its buffers are one block */
}

/* Checks the header against the model and the size against the header. */
static int check_header(const unsigned char *buf, size_t n, const char *path,
                        const halo_model *model, halo_err *err) {
    const halo_model_config *c = halo_model_get_config(model);
    if (n < sizeof MAGIC || memcmp(buf + OFF_MAGIC, MAGIC, sizeof MAGIC) != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: not a predictor file (magic is not HALOPRED)",
                         path);
    if (n < HALO_PREDICTOR_HEADER_BYTES + CRC_BYTES)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: truncated: %zu bytes, shorter than the %d-byte header", path, n,
                         HALO_PREDICTOR_HEADER_BYTES + CRC_BYTES);
    uint32_t version = halo_get_u32(buf + OFF_VERSION);
    if (version != HALO_PREDICTOR_VERSION)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: version %u is not supported (expected %d)",
                         path, (unsigned)version, HALO_PREDICTOR_VERSION);
    int32_t flags = halo_get_i32(buf + OFF_FLAGS);
    if (!flags_valid(flags))
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: invalid flags 0x%x", path, (unsigned)flags);

    const struct {
        const char *name;
        int32_t file, model;
    } dims[] = {
        {"dim", halo_get_i32(buf + OFF_DIM), c->dim},
        {"hidden_dim", halo_get_i32(buf + OFF_HIDDEN), c->hidden_dim},
        {"n_layers", halo_get_i32(buf + OFF_LAYERS), c->n_layers},
    };

    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].file != dims[i].model)
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s is %d but the model's is %d", path,
                             dims[i].name, (int)dims[i].file, (int)dims[i].model);
    int32_t rank = halo_get_i32(buf + OFF_RANK);
    if (rank < 1 || rank > max_rank(c))
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: rank %d is out of range 1..%d", path, (int)rank,
                         max_rank(c));
    /* The dims equal the model's, which are bounded, so this cannot overflow. */
    uint64_t want = halo_predictor_file_bytes(c, rank, flags);
    if ((uint64_t)n != want)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s: %zu bytes, expected %llu for rank %d", path,
                         (uint64_t)n < want ? "truncated" : "oversized", n,
                         (unsigned long long)want, (int)rank);
    uint32_t crc = halo_crc32(0, buf, n - CRC_BYTES);
    if (crc != halo_get_u32(buf + n - CRC_BYTES))
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: checksum mismatch (file corrupt)", path);
    uint64_t hash = halo_get_u64(buf + OFF_HASH), model_hash = halo_model_hash(model);
    /* a file made before 2026-12-07 records the model's FNV-1a fingerprint (slower to
       compute: only when the current one does not match) */
    if (hash != model_hash && hash != halo_model_hash_fnv1a(model))
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: made for another model (model hash %016llx, this model's is "
                         "%016llx)",
                         path, (unsigned long long)hash, (unsigned long long)model_hash);
    return HALO_OK;
}

/* Converts `n` floats at `src` into `dst`; fails on a non-finite value (or, for a prior, a
 * negative one). */
static int get_factors(float *dst, const unsigned char *src, uint64_t n, int non_negative) {
    for (uint64_t i = 0; i < n; i++) {
        dst[i] = halo_get_f32(src + 4 * i);
        if (!isfinite(dst[i]) || (non_negative && dst[i] < 0.0f))
            return -1;
    }
    return 0;
}

/* Transposes the (rows, cols) matrix m in place, through tmp (rows * cols floats). */
static void transpose(float *m, int rows, int cols, float *tmp) {
    size_t r = (size_t)rows, c = (size_t)cols;
    memcpy(tmp, m, r * c * sizeof *m);
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++)
            m[j * r + i] = tmp[i * c + j];
}

/* Derives the W2 column norms and the Wo Gram matrices from the model. */
/*
 * W2's squared column norms and Wo's Gram matrices, in double precision, from the model's
 * rows (dequantised for quantised models). The sums run over rows in ascending order, as a
 * column-by-column loop would. Returns 0, or -1 when out of memory.
 */
static int derive_from_model(halo_predictor *p, const halo_model *model) {
    size_t dim = (size_t)p->dim, hidden = (size_t)p->hidden, hs = (size_t)p->head_size;
    size_t nk = (size_t)p->n_kv, kv_mul = (size_t)p->kv_mul;
    float *row = malloc((dim > hidden ? dim : hidden) * sizeof *row);
    double *col = malloc(hidden * sizeof *col);
    double *gram = malloc(nk * hs * hs * sizeof *gram);
    double *m = malloc(nk * hs * sizeof *m);
    int rc = row && col && gram && m ? 0 : -1;
    for (size_t l = 0; rc == 0 && l < (size_t)p->n_layers; l++) {
        const halo_layer *L = halo_model_layer(model, (int)l);
        memset(col, 0, hidden * sizeof *col);
        for (size_t i = 0; i < dim; i++) {
            halo_mat_row(&L->w2, (int)i, row);
            for (size_t j = 0; j < hidden; j++)
                col[j] += (double)row[j] * (double)row[j];
        }
        for (size_t j = 0; j < hidden; j++)
            p->w2_sq[l * hidden + j] = (float)col[j];
        /* (M^T M)[a][b] with M[i][c] = sum over the group's heads of Wo[i][h*hs + c]. */
        memset(gram, 0, nk * hs * hs * sizeof *gram);
        for (size_t i = 0; i < dim; i++) {
            halo_mat_row(&L->wo, (int)i, row);
            for (size_t g = 0; g < nk; g++)
                for (size_t a = 0; a < hs; a++) {
                    double ma = 0;
                    for (size_t h = 0; h < kv_mul; h++)
                        ma += (double)row[g * kv_mul * hs + h * hs + a];
                    m[g * hs + a] = ma;
                }
            for (size_t g = 0; g < nk; g++)
                for (size_t a = 0; a < hs; a++)
                    for (size_t b = 0; b < hs; b++)
                        gram[(g * hs + a) * hs + b] += m[g * hs + a] * m[g * hs + b];
        }
        for (size_t k = 0; k < nk * hs * hs; k++)
            p->wo_gram[l * nk * hs * hs + k] = (float)gram[k];
    }
    free(row);
    free(col);
    free(gram);
    free(m);
    return rc;
}

static void carve(void *obj, halo_arena *a) {
    halo_predictor *p = obj;
    size_t layers = (size_t)p->n_layers, hidden = (size_t)p->hidden, hs = (size_t)p->head_size;
    uint64_t nf = ffn_floats((uint64_t)p->dim, (uint64_t)p->hidden, (uint64_t)p->rank);
    uint64_t na = attn_floats((uint64_t)p->dim, (uint64_t)p->kv_dim, (uint64_t)p->rank);
    p->ffn = halo_arena_take(a, layers * (size_t)nf, sizeof(float));
    p->attn = p->flags & HALO_PREDICTOR_ATTN
                  ? halo_arena_take(a, layers * (size_t)na, sizeof(float))
                  : NULL;
    p->prior = p->flags & HALO_PREDICTOR_ATTN_PRIOR
                   ? halo_arena_take(a, layers * (size_t)p->n_kv, sizeof(float))
                   : NULL;
    p->w2_sq = halo_arena_take(a, layers * hidden, sizeof(float));
    p->wo_gram = halo_arena_take(a, layers * (size_t)p->n_kv * hs * hs, sizeof(float));
    p->a = halo_arena_take(a, (size_t)p->rank, sizeof(float));
    p->gate = halo_arena_take(a, hidden, sizeof(float));
    p->up = halo_arena_take(a, hidden, sizeof(float));
    p->v = halo_arena_take(a, (size_t)p->kv_dim, sizeof(float));
}

int halo_predictor_load(halo_predictor **out, const char *path, const halo_model *model,
                        halo_err *err) {
    *out = NULL;
    if (!halo_model_has_weights(model))
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: a predictor needs a model with weights", path);
    const halo_model_config *c = halo_model_get_config(model);
    uint64_t max_bytes = halo_predictor_file_bytes(c, max_rank(c), HALO_PREDICTOR_ATTN) +
                         4 * (uint64_t)c->n_layers * (uint64_t)c->n_kv_heads;
    unsigned char *buf = NULL;
    size_t n = 0;
    char *bytes = NULL;
    int rc = halo_file_read(path, (size_t)max_bytes, &bytes, &n, err);
    if (rc != HALO_OK)
        return rc;
    buf = (unsigned char *)bytes;
    rc = check_header(buf, n, path, model, err);
    if (rc != HALO_OK) {
        free(buf);
        return rc;
    }
    halo_predictor proto = {.model = model,
                            .dim = c->dim,
                            .hidden = c->hidden_dim,
                            .n_layers = c->n_layers,
                            .kv_dim = halo_model_kv_dim(c),
                            .head_size = halo_model_head_size(c),
                            .n_kv = c->n_kv_heads,
                            .kv_mul = c->n_heads / c->n_kv_heads,
                            .rank = halo_get_i32(buf + OFF_RANK),
                            .flags = halo_get_i32(buf + OFF_FLAGS)};
    /* Transposing a factor goes through tmp, which the load frees. */
    size_t tmp_rows = (size_t)(proto.hidden > proto.kv_dim ? proto.hidden : proto.kv_dim);
    float *tmp = calloc(tmp_rows * (size_t)proto.rank, sizeof *tmp);
    halo_predictor *p = halo_arena_new(sizeof proto, &proto, carve, path, NULL, err);
    if (p && !tmp)
        (void)HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    if (!p || !tmp) {
        rc = HALO_ERR_NOMEM;
        goto fail;
    }
    uint64_t layers = (uint64_t)p->n_layers;
    uint64_t nf = ffn_floats((uint64_t)p->dim, (uint64_t)p->hidden, (uint64_t)p->rank);
    uint64_t na = attn_floats((uint64_t)p->dim, (uint64_t)p->kv_dim, (uint64_t)p->rank);
    /* Layer by layer: the FFN factors, then the attention factors or prior when present. */
    const unsigned char *src = buf + HALO_PREDICTOR_HEADER_BYTES;
    size_t rd = (size_t)p->rank * (size_t)p->dim, hr = (size_t)p->hidden * (size_t)p->rank;
    for (uint64_t l = 0; l < layers; l++) {
        float *f = p->ffn + l * nf;
        if (get_factors(f, src, nf, 0) != 0)
            goto bad_value;
        transpose(f + rd, p->hidden, p->rank, tmp);
        transpose(f + rd + hr + rd, p->hidden, p->rank, tmp);
        src += 4 * nf;
        if (p->attn) {
            if (get_factors(p->attn + l * na, src, na, 0) != 0)
                goto bad_value;
            transpose(p->attn + l * na + rd, p->kv_dim, p->rank, tmp);
            src += 4 * na;
        }
        if (p->prior) {
            if (get_factors(p->prior + l * (uint64_t)p->n_kv, src, (uint64_t)p->n_kv, 1) != 0)
                goto bad_value;
            src += 4 * (uint64_t)p->n_kv;
        }
    }
    if (derive_from_model(p, model) != 0) {
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    free(tmp);
    free(buf);
    *out = p;
    return HALO_OK;
bad_value:
    rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                   "%s: a factor is not a finite number (or a prior is negative)", path);
fail:
    free(tmp);
    free(buf);
    halo_predictor_free(p);
    return rc;
}

int halo_predictor_rank(const halo_predictor *p) {
    return p->rank;
}

int halo_predictor_flags(const halo_predictor *p) {
    return p->flags;
}

/* ==== Scoring ==== */

/*
 * sqrt(s), with overflow and NaN (factors that are finite but absurd, an input that is not)
 * mapped to FLT_MAX, so that a score is always a valid input of halo_select_critical.
 */
static float finite_root(float s) {
    return s <= FLT_MAX ? sqrtf(s) : FLT_MAX;
}

/* 16-byte vectors (GCC/Clang extension), as in ops.c: SSE2 on x86-64, NEON on aarch64. */
typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/*
 * out[0..n) = sum over k of a[k] * ut[k, 0..n) (ut: (rank, n)), k ascending for every
 * element, 4 elements at a time then a scalar tail.
 */
static void expand(float *out, const float *ut, const float *a, int rank, int n) {
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        v4f acc = load4(ut + j) * a[0];
        for (int k = 1; k < rank; k++)
            acc += load4(ut + (size_t)k * (size_t)n + (size_t)j) * a[k];
        memcpy(out + j, &acc, sizeof acc);
    }
    for (; j < n; j++) {
        float acc = ut[j] * a[0];
        for (int k = 1; k < rank; k++)
            acc += ut[(size_t)k * (size_t)n + (size_t)j] * a[k];
        out[j] = acc;
    }
}

void halo_predictor_score_ffn(halo_predictor *p, const halo_groups *g, int layer, const float *xb,
                              float *scores) {
    HALO_ASSERT(layer >= 0 && layer < p->n_layers);
    HALO_ASSERT(g->hidden_dim == p->hidden && g->ffn_size >= 1);
    size_t r = (size_t)p->rank, dim = (size_t)p->dim, hidden = (size_t)p->hidden;
    const float *v1 = p->ffn + (size_t)layer * (size_t)ffn_floats(dim, hidden, r);
    const float *u1t = v1 + r * dim;
    const float *v3 = u1t + hidden * r;
    const float *u3t = v3 + r * dim;
    halo_matvec(p->a, v1, xb, p->rank, p->dim);
    expand(p->gate, u1t, p->a, p->rank, p->hidden);
    halo_matvec(p->a, v3, xb, p->rank, p->dim);
    expand(p->up, u3t, p->a, p->rank, p->hidden);
    halo_swiglu(p->gate, p->up, p->hidden);
    const float *w2_sq = p->w2_sq + (size_t)layer * hidden;
    for (int f = 0; f < g->n_ffn; f++) {
        int j0 = halo_groups_ffn_start(g, f), len = halo_groups_ffn_len(g, f);
        float s = 0;
        for (int j = j0; j < j0 + len; j++)
            s += p->gate[j] * p->gate[j] * w2_sq[j];
        scores[f] = finite_root(s);
    }
}

void halo_predictor_score_attn(halo_predictor *p, const halo_groups *g, int layer, const float *xb,
                               float *scores) {
    HALO_ASSERT(layer >= 0 && layer < p->n_layers);
    HALO_ASSERT(g->n_attn == p->n_kv && g->head_size == p->head_size);
    if (p->prior) {
        memcpy(scores, p->prior + (size_t)layer * (size_t)p->n_kv,
               (size_t)p->n_kv * sizeof *scores);
        return;
    }
    if (!p->attn) {
        for (int i = 0; i < g->n_attn; i++)
            scores[i] = 1.0f;
        return;
    }
    size_t r = (size_t)p->rank, dim = (size_t)p->dim, hs = (size_t)p->head_size;
    const float *vv = p->attn + (size_t)layer * (size_t)attn_floats(dim, (size_t)p->kv_dim, r);
    const float *uvt = vv + r * dim;
    halo_matvec(p->a, vv, xb, p->rank, p->dim);
    expand(p->v, uvt, p->a, p->rank, p->kv_dim);
    for (int k = 0; k < p->n_kv; k++) {
        const float *gram = p->wo_gram + ((size_t)layer * (size_t)p->n_kv + (size_t)k) * hs * hs;
        const float *vk = p->v + (size_t)k * hs;
        float s = 0;
        for (size_t a = 0; a < hs; a++)
            s += vk[a] * halo_dot(gram + a * hs, vk, p->head_size);
        scores[k] = s > 0 ? finite_root(s) : 0.0f;
    }
}

double halo_predictor_flops(const halo_predictor *p) {
    double r = p->rank, dim = p->dim, hidden = p->hidden;
    double f = 2 * (r * dim + hidden * r) + 2 * hidden;
    if (p->attn) {
        double hs = p->head_size;
        f += r * dim + p->kv_dim * r + p->n_kv * (hs * hs + hs);
    }
    return f;
}

/* ==== Oracle ==== */

/* w's row `row`, columns [col0, col0 + n), times x (one thread; float activations). */
static float row_dot(const halo_mat *w, int row, int col0, const float *x, int n) {
    float y;
    halo_mat_vec(NULL, &y, w, row, col0, x, NULL, 1, n, 0);
    return y;
}

/* h = silu(W1 xb) * (W3 xb) of `layer` (over `pool`, NULL: this thread) as the forward pass
 * computes it (from dequantised weights and float activations for quantised models); W3 xb goes
 * through y (dim floats) a chunk at a time. */
static void oracle_h(halo_pool *pool, const halo_model_config *c, const halo_layer *L,
                     const float *xb, float *h, float *y) {
    size_t dim = (size_t)c->dim, hidden = (size_t)c->hidden_dim;
    halo_mat_vec(pool, h, &L->w1, 0, 0, xb, NULL, c->hidden_dim, c->dim, 0);
    for (size_t j0 = 0; j0 < hidden; j0 += dim) {
        int len = (int)(hidden - j0 < dim ? hidden - j0 : dim);
        halo_mat_vec(pool, y, &L->w3, (int)j0, 0, xb, NULL, len, c->dim, 0);
        halo_swiglu(h + j0, y, len);
    }
}

/* Each group's norm of W2[:, group] h[group], group by group, a row's window at a time. */
static void oracle_w2_by_group(const halo_layer *L, const halo_groups *g, int dim, const float *h,
                               float *scores) {
    for (int f = 0; f < g->n_ffn; f++) {
        int j0 = halo_groups_ffn_start(g, f), len = halo_groups_ffn_len(g, f);
        double s = 0;
        for (int i = 0; i < dim; i++) {
            double yi = (double)row_dot(&L->w2, i, j0, h + j0, len);
            s += yi * yi;
        }
        scores[f] = (float)sqrt(s);
    }
}

/* Window [j0, j0 + len) of a dequantised row times x (indexed like the row), summed as
 * halo_mat_vec's dequantising path sums it (core/mat.c, dot_dequant): block piece by block
 * piece, each piece by halo_dot, in float. The same operations, so the same result. */
static float window_dot(const float *row, const float *x, int j0, int len, int bk) {
    float s = 0.0f;
    int c1 = j0 + len;
    for (int b = j0 / bk; b * bk < c1; b++) {
        int lo = b * bk > j0 ? b * bk : j0, hi = (b + 1) * bk < c1 ? (b + 1) * bk : c1;
        s += halo_dot(row + lo, x + lo, hi - lo);
    }
    return s;
}

void halo_oracle_score_ffn(const halo_model *model, const halo_groups *g, int layer,
                           const float *xb, float *scratch, float *scores) {
    const halo_model_config *c = halo_model_get_config(model);
    HALO_ASSERT(halo_model_has_weights(model) && layer >= 0 && layer < c->n_layers &&
                g->hidden_dim == c->hidden_dim);
    const halo_layer *L = halo_model_layer(model, layer);
    oracle_h(NULL, c, L, xb, scratch, scratch + c->hidden_dim);
    oracle_w2_by_group(L, g, c->dim, scratch, scores);
}

/* ==== The FFN oracle for several groupings at once ==== */

enum {
    ORACLE_CHUNK = 32 /* rows of W2 scored in parallel before their sums are taken in order */
};

struct halo_oracle_ffn {
    const halo_model *model;
    halo_pool *pool;       /* borrowed; NULL: the caller's thread */
    const halo_groups **g; /* n */
    int n, n_threads;
    size_t total; /* groups over every grouping */
    float *h, *y; /* hidden, dim */
    float *rows;  /* n_threads x hidden: each task's dequantised row */
    float *ys;    /* ORACLE_CHUNK x total: each row's window dots */
    double *acc;  /* total */
};

static void carve_oracle(void *obj, halo_arena *a) {
    halo_oracle_ffn *o = obj;
    const halo_model_config *c = halo_model_get_config(o->model);
    size_t hidden = (size_t)c->hidden_dim;
    o->g = halo_arena_take(a, (size_t)o->n, sizeof *o->g);
    o->h = halo_arena_take(a, hidden, sizeof *o->h);
    o->y = halo_arena_take(a, (size_t)c->dim, sizeof *o->y);
    o->rows = halo_arena_take(a, (size_t)o->n_threads * hidden, sizeof *o->rows);
    o->ys = halo_arena_take(a, ORACLE_CHUNK * o->total, sizeof *o->ys);
    o->acc = halo_arena_take(a, o->total, sizeof *o->acc);
}

int halo_oracle_ffn_new(halo_oracle_ffn **out, const halo_model *model, const halo_groups *const *g,
                        int n, halo_pool *pool, halo_err *err) {
    const halo_model_config *c = halo_model_get_config(model);
    HALO_ASSERT(halo_model_has_weights(model) && n >= 1);
    halo_oracle_ffn proto = {
        .model = model, .pool = pool, .n = n, .n_threads = halo_pool_n_threads(pool)};
    for (int k = 0; k < n; k++) {
        HALO_ASSERT(g[k]->hidden_dim == c->hidden_dim);
        proto.total += (size_t)g[k]->n_ffn;
    }
    *out = halo_arena_new(sizeof proto, &proto, carve_oracle, "oracle", NULL, err);
    if (!*out)
        return HALO_ERR_NOMEM;
    for (int k = 0; k < n; k++)
        (*out)->g[k] = g[k];
    return HALO_OK;
}

void halo_oracle_ffn_free(halo_oracle_ffn *o) {
    free(o);
}

/* One task's rows of a chunk: each dequantised once, its window dots for every grouping. */
typedef struct w2_job {
    const halo_oracle_ffn *o;
    const halo_mat *w2;
    int bk, i0, rows, per_task;
} w2_job;

static void w2_task(void *arg, int t) {
    const w2_job *j = arg;
    const halo_oracle_ffn *o = j->o;
    size_t hidden = (size_t)j->w2->cols;
    float *row = o->rows + (size_t)t * hidden;
    int r1 = (t + 1) * j->per_task < j->rows ? (t + 1) * j->per_task : j->rows;
    for (int r = t * j->per_task; r < r1; r++) {
        halo_mat_row(j->w2, j->i0 + r, row);
        float *y = o->ys + (size_t)r * o->total;
        for (int k = 0; k < o->n; k++)
            for (int f = 0; f < o->g[k]->n_ffn; f++)
                *y++ = window_dot(row, o->h, halo_groups_ffn_start(o->g[k], f),
                                  halo_groups_ffn_len(o->g[k], f), j->bk);
    }
}

void halo_oracle_ffn_score(halo_oracle_ffn *o, int layer, const float *xb, float *const *scores) {
    const halo_model_config *c = halo_model_get_config(o->model);
    HALO_ASSERT(layer >= 0 && layer < c->n_layers);
    const halo_layer *L = halo_model_layer(o->model, layer);
    int dim = c->dim, type = L->w2.type;
    oracle_h(o->pool, c, L, xb, o->h, o->y);
    if (type == HALO_TYPE_F32 || type == HALO_TYPE_F16) { /* nothing to dequantise */
        for (int k = 0; k < o->n; k++)
            oracle_w2_by_group(L, o->g[k], dim, o->h, scores[k]);
        return;
    }
    /* Block-quantised W2: each row dequantised once for every group of every grouping, a
       chunk of rows at a time over the pool; the sums over rows then run in ascending row
       order, as oracle_w2_by_group's do, whatever the thread count. */
    memset(o->acc, 0, o->total * sizeof *o->acc);
    for (int i0 = 0; i0 < dim; i0 += ORACLE_CHUNK) {
        int rows = dim - i0 < ORACLE_CHUNK ? dim - i0 : ORACLE_CHUNK;
        /* one task a thread, or the caller alone when a chunk is too little work to hand out */
        long work = (long)rows * L->w2.cols * o->n;
        int tasks = work < HALO_POOL_MIN_PARALLEL ? 1 : o->n_threads;
        int per = (rows + tasks - 1) / tasks;
        w2_job j = {.o = o,
                    .w2 = &L->w2,
                    .bk = halo_type_block(type),
                    .i0 = i0,
                    .rows = rows,
                    .per_task = per};
        if (tasks == 1)
            w2_task(&j, 0);
        else
            halo_pool_run(o->pool, w2_task, &j, (rows + per - 1) / per);
        for (int r = 0; r < rows; r++) {
            const float *y = o->ys + (size_t)r * o->total;
            for (size_t t = 0; t < o->total; t++) {
                double yi = (double)y[t];
                o->acc[t] += yi * yi;
            }
        }
    }
    const double *a = o->acc;
    for (int k = 0; k < o->n; k++) {
        for (int f = 0; f < o->g[k]->n_ffn; f++)
            scores[k][f] = (float)sqrt(a[f]);
        a += o->g[k]->n_ffn;
    }
}

void halo_oracle_score_attn(const halo_model *model, const halo_groups *g, int layer,
                            const float *att, float *scores) {
    const halo_model_config *c = halo_model_get_config(model);
    HALO_ASSERT(halo_model_has_weights(model) && layer >= 0 && layer < c->n_layers &&
                g->n_attn == c->n_kv_heads);
    const halo_layer *L = halo_model_layer(model, layer);
    size_t dim = (size_t)c->dim;
    size_t cols = (size_t)g->kv_mul * (size_t)g->head_size;
    for (int k = 0; k < g->n_attn; k++) {
        size_t c0 = (size_t)k * cols;
        double s = 0;
        for (size_t i = 0; i < dim; i++) {
            double yi = (double)row_dot(&L->wo, (int)i, (int)c0, att + c0, (int)cols);
            s += yi * yi;
        }
        scores[k] = (float)sqrt(s);
    }
}

/* ==== Critical set ==== */

enum {
    SELECT_STACK = 4096 /* groups sorted on the stack; more use the quadratic path */
};

/* Does group a come before group b (higher score; on ties the lower index)? */
static int before(const float *s, int a, int b) {
    if (s[a] != s[b])
        return s[a] > s[b];
    return a < b;
}

/* Heap sort of idx[0..n) by `before` (a total order, so the result is unique). */
static void sift(int *idx, int n, int i, const float *s) {
    for (;;) {
        int m = i, l = 2 * i + 1, r = l + 1;
        /* A max-heap of "comes last", so the array ends in `before` order. */
        if (l < n && before(s, idx[m], idx[l]))
            m = l;
        if (r < n && before(s, idx[m], idx[r]))
            m = r;
        if (m == i)
            return;
        int t = idx[i];
        idx[i] = idx[m];
        idx[m] = t;
        i = m;
    }
}

void halo_rank_groups(const float *s, int n, int *idx) {
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = n / 2 - 1; i >= 0; i--)
        sift(idx, n, i, s);
    for (int end = n - 1; end > 0; end--) {
        int t = idx[0];
        idx[0] = idx[end];
        idx[end] = t;
        sift(idx, end, 0, s);
    }
}

int halo_select_critical(const float *scores, int n, double tau, unsigned char *critical) {
    HALO_ASSERT(n >= 0 && !isnan(tau));
    double total = 0;
    for (int i = 0; i < n; i++) {
        HALO_ASSERT(isfinite(scores[i]) && scores[i] >= 0.0f);
        total += (double)scores[i];
        critical[i] = 0;
    }
    if (tau >= 1.0 || total == 0.0) {
        memset(critical, 1, (size_t)n);
        return n;
    }
    if (tau <= 0.0)
        return 0;
    double target = tau * total, sum = 0;
    int k = 0;
    if (n <= SELECT_STACK) {
        int idx[SELECT_STACK];
        halo_rank_groups(scores, n, idx);
        while (k < n && sum < target) {
            sum += (double)scores[idx[k]];
            critical[idx[k++]] = 1;
        }
        return k;
    }
    /* Many groups: repeatedly take the first unmarked group in `before` order. */
    while (k < n && sum < target) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!critical[i] && (best < 0 || before(scores, i, best)))
                best = i;
        sum += (double)scores[best];
        critical[best] = 1;
        k++;
    }
    return k;
}

/* ==== Writing ==== */

static int check_factors(const float *x, uint64_t n, int non_negative) {
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || (non_negative && x[i] < 0.0f))
            return -1;
    return 0;
}

/* Writes buf[0..n) to a temporary file beside `path`, then renames it over `path`. */
static int write_atomic(const char *path, const unsigned char *buf, size_t n, halo_err *err) {
    size_t len = strlen(path);
    char *tmp = malloc(len + sizeof ".tmp.XXXXXX");
    if (!tmp)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create a temporary file: %s", path,
                         strerror(e));
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        (void)close(fd);
        (void)remove(tmp);
        free(tmp);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot open a temporary file: %s", path,
                         strerror(e));
    }
    int bad = fwrite(buf, 1, n, f) != n || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad)
        (void)remove(tmp);
    free(tmp);
    if (bad)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: write failed: %s", path, strerror(e));
    return HALO_OK;
}

int halo_predictor_write(const char *path, const halo_model *model, const halo_predictor_factors *f,
                         halo_err *err) {
    const halo_model_config *c = halo_model_get_config(model);
    if (f->rank < 1 || f->rank > max_rank(c))
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: rank %d is out of range 1..%d", path, f->rank,
                         max_rank(c));
    if (!flags_valid(f->flags) || !f->ffn || !(f->flags & HALO_PREDICTOR_ATTN) != !f->attn ||
        !(f->flags & HALO_PREDICTOR_ATTN_PRIOR) != !f->attn_prior)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: flags 0x%x do not match the factors given", path,
                         (unsigned)f->flags);
    uint64_t layers = (uint64_t)c->n_layers, r = (uint64_t)f->rank, n_kv = (uint64_t)c->n_kv_heads;
    uint64_t nf = ffn_floats((uint64_t)c->dim, (uint64_t)c->hidden_dim, r);
    uint64_t na = attn_floats((uint64_t)c->dim, (uint64_t)halo_model_kv_dim(c), r);
    if (check_factors(f->ffn, layers * nf, 0) != 0 ||
        (f->attn && check_factors(f->attn, layers * na, 0) != 0) ||
        (f->attn_prior && check_factors(f->attn_prior, layers * n_kv, 1) != 0))
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: a factor is not a finite number (or a prior is negative)", path);
    size_t n = (size_t)halo_predictor_file_bytes(c, f->rank, f->flags);
    unsigned char *buf = malloc(n);
    if (!buf)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, n);
    memcpy(buf + OFF_MAGIC, MAGIC, sizeof MAGIC);
    halo_put_u32(buf + OFF_VERSION, HALO_PREDICTOR_VERSION);
    halo_put_u64(buf + OFF_HASH, halo_model_hash(model));
    halo_put_i32(buf + OFF_DIM, c->dim);
    halo_put_i32(buf + OFF_HIDDEN, c->hidden_dim);
    halo_put_i32(buf + OFF_LAYERS, c->n_layers);
    halo_put_i32(buf + OFF_RANK, f->rank);
    halo_put_i32(buf + OFF_FLAGS, f->flags);
    unsigned char *dst = buf + HALO_PREDICTOR_HEADER_BYTES;
    for (uint64_t l = 0; l < layers; l++) {
        for (uint64_t i = 0; i < nf; i++, dst += 4)
            halo_put_f32(dst, f->ffn[l * nf + i]);
        if (f->attn)
            for (uint64_t i = 0; i < na; i++, dst += 4)
                halo_put_f32(dst, f->attn[l * na + i]);
        if (f->attn_prior)
            for (uint64_t i = 0; i < n_kv; i++, dst += 4)
                halo_put_f32(dst, f->attn_prior[l * n_kv + i]);
    }
    halo_put_u32(dst, halo_crc32(0, buf, n - CRC_BYTES));
    int rc = write_atomic(path, buf, n, err);
    free(buf);
    return rc;
}
