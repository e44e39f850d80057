/*
 * Windowed matrix-vector products over matrices of any storage type.
 */
#include "core/mat.h"

#include "core/ops.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

/* A window's covering blocks of `bk` columns: the first and how many. */
static void cover(int col0, int cols, int bk, int *first, int *n) {
    *first = col0 / bk;
    *n = (col0 + cols + bk - 1) / bk - *first;
}

/* Scratch: the quantised blocks, then room for the zero-padded float window. */
static size_t quant_bytes(int cols) {
    size_t a = halo_act_bytes(HALO_ACT_Q8_0, cols + 64);
    size_t b = halo_act_bytes(HALO_ACT_Q8_K, cols + 512);
    return ((a > b ? a : b) + 63) / 64 * 64;
}

size_t halo_mat_scratch_bytes(int cols) {
    return quant_bytes(cols) + (size_t)(cols + 512) * sizeof(float);
}

int halo_mat_window_aligned(const halo_mat *w, int col0, int cols) {
    int bk = halo_type_block(w->type);
    return col0 % bk == 0 && cols % bk == 0;
}

/* Quantises the window x (columns col0 .. + cols) in format f over its covering blocks. */
static void quantise_window(int f, const float *x, int col0, int cols, void *out, float *stage) {
    int bk = halo_act_block(f), first, n;
    cover(col0, cols, bk, &first, &n);
    if (col0 % bk == 0 && cols % bk == 0) {
        halo_act_quantize(f, x, out, cols);
        return;
    }
    memset(stage, 0, (size_t)n * (size_t)bk * sizeof *stage);
    memcpy(stage + (col0 - first * bk), x, (size_t)cols * sizeof *stage);
    halo_act_quantize(f, stage, out, n * bk);
}

const void *halo_mat_prepare(const halo_mat *w, const float *x, int col0, int cols, void *scratch) {
    int f = halo_type_act_format(w->type);
    if (f == HALO_ACT_F32)
        return NULL;
    float *stage = (float *)(void *)((unsigned char *)scratch + quant_bytes(cols));
    quantise_window(f, x, col0, cols, scratch, stage);
    return scratch;
}

typedef struct qjob {
    float *out;
    const halo_mat *w;
    const halo_qkernels *k;
    const float *x;
    const void *xq; /* NULL: the dequantising path */
    int row0, col0, rows, cols, rows_per_task, accumulate;
    int packed; /* rows go 8 at a time through k->gemv_q4_0x8; tasks count groups of 8 */
} qjob;

enum {
    MAX_BLOCK = 256
};

/* Row r's window by dequantised blocks and float x (any window). */
static float dot_dequant(const qjob *j, const unsigned char *row) {
    const halo_mat *w = j->w;
    int bk = halo_type_block(w->type);
    size_t bb = halo_type_block_bytes(w->type);
    float buf[MAX_BLOCK];
    float s = 0.0f;
    int c0 = j->col0, c1 = j->col0 + j->cols;
    for (int b = c0 / bk; b * bk < c1; b++) {
        halo_dequantize_row(w->type, row + (size_t)b * bb, buf, bk);
        int lo = b * bk > c0 ? b * bk : c0, hi = (b + 1) * bk < c1 ? (b + 1) * bk : c1;
        s += halo_dot(buf + (lo - b * bk), j->x + (lo - c0), hi - lo);
    }
    return s;
}

static float dot_row(const qjob *j, int r) {
    const halo_mat *w = j->w;
    const unsigned char *row =
        (const unsigned char *)w->data + (size_t)(j->row0 + r) * w->row_bytes;
    if (w->type == HALO_TYPE_F16)
        return j->k->dot_f16(row + (size_t)j->col0 * 2, j->x, j->cols);
    if (!j->xq)
        return dot_dequant(j, row);
    int bk = halo_type_block(w->type), first, nb;
    cover(j->col0, j->cols, bk, &first, &nb);
    const unsigned char *p = row + (size_t)first * halo_type_block_bytes(w->type);
    switch (w->type) {
    case HALO_TYPE_Q4_0:
        return j->k->dot_q4_0(p, j->xq, nb);
    case HALO_TYPE_Q8_0:
        return j->k->dot_q8_0(p, j->xq, nb);
    case HALO_TYPE_Q4_K:
        return j->k->dot_q4_K(p, j->xq, nb);
    case HALO_TYPE_Q6_K:
        return j->k->dot_q6_K(p, j->xq, nb);
    default:
        HALO_ASSERT(!"halo_mat_vec: unsupported type");
        return 0.0f;
    }
}

static void rows_task(const qjob *j, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        float v = dot_row(j, r);
        j->out[r] = j->accumulate ? j->out[r] + v : v;
    }
}

/* Bytes of eight rows' block when packed; 0 for types that have no packed form. */
static size_t packed_block(int type) {
    return type == HALO_TYPE_Q4_0   ? HALO_PACKED_Q4_0_BYTES
           : type == HALO_TYPE_Q4_K ? HALO_PACKED_Q4_K_BYTES
                                    : 0;
}

int halo_mat_can_pack(int type) {
    const halo_qkernels *k = halo_qkernels_best();
    return (type == HALO_TYPE_Q4_0 && k->gemv_q4_0x8) || (type == HALO_TYPE_Q4_K && k->gemv_q4_Kx8);
}

size_t halo_mat_packed_bytes(int type, int rows, int cols) {
    return (size_t)(rows / 8) * (size_t)(cols / halo_type_block(type)) * packed_block(type);
}

void halo_mat_pack(const halo_mat *w, void *dst) {
    int nb = w->cols / halo_type_block(w->type);
    size_t group = (size_t)nb * packed_block(w->type);
    for (int g = 0; g < w->rows / 8; g++) {
        const unsigned char *src = (const unsigned char *)w->data + (size_t)g * 8 * w->row_bytes;
        unsigned char *o = (unsigned char *)dst + (size_t)g * group;
        if (w->type == HALO_TYPE_Q4_0)
            halo_pack_q4_0x8(src, w->row_bytes, nb, o);
        else
            halo_pack_q4_Kx8(src, w->row_bytes, nb, o);
    }
}

/* Groups of 8 packed rows [g0, g1) of the window's rows, absolute group numbers. */
static void packed_task(const qjob *j, int g0, int g1) {
    const halo_mat *w = j->w;
    int bk = halo_type_block(w->type), first, nb, all = w->cols / bk;
    cover(j->col0, j->cols, bk, &first, &nb);
    size_t pb = packed_block(w->type), group = (size_t)all * pb;
    void (*gemv)(const void *, const void *, int, float *) =
        w->type == HALO_TYPE_Q4_0 ? j->k->gemv_q4_0x8 : j->k->gemv_q4_Kx8;
    for (int g = g0; g < g1; g++) {
        float o[8];
        gemv((const unsigned char *)w->packed + (size_t)g * group + (size_t)first * pb, j->xq, nb,
             o);
        for (int k = 0; k < 8; k++) {
            int r = g * 8 + k - j->row0; /* the row's place in out */
            if (r < 0 || r >= j->rows)
                continue;
            j->out[r] = j->accumulate ? j->out[r] + o[k] : o[k];
        }
    }
}

static void qtask(void *arg, int task_idx) {
    const qjob *j = arg;
    if (j->packed) {
        int g_first = j->row0 / 8, g_end = (j->row0 + j->rows + 7) / 8;
        int g0 = g_first + task_idx * j->rows_per_task;
        int g1 = g0 + j->rows_per_task < g_end ? g0 + j->rows_per_task : g_end;
        packed_task(j, g0, g1);
        return;
    }
    int r0 = task_idx * j->rows_per_task;
    int r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    rows_task(j, r0, r1);
}

void halo_mat_vec(halo_pool *pool, float *out, const halo_mat *w, int row0, int col0,
                  const float *x, const void *xq, int rows, int cols, int accumulate) {
    HALO_DASSERT(row0 >= 0 && rows >= 0 && row0 + rows <= w->rows);
    HALO_DASSERT(col0 >= 0 && cols >= 0 && col0 + cols <= w->cols);
    if (w->type == HALO_TYPE_F32) {
        size_t stride = w->row_bytes / sizeof(float);
        const float *base = (const float *)w->data + (size_t)row0 * stride + (size_t)col0;
        halo_matvec_window(pool, out, base, stride, x, rows, cols, accumulate);
        return;
    }
    qjob j = {.out = out,
              .w = w,
              .k = halo_qkernels_best(),
              .x = x,
              .xq = xq,
              .row0 = row0,
              .col0 = col0,
              .rows = rows,
              .cols = cols,
              .rows_per_task = rows,
              .accumulate = accumulate,
              .packed = 0};
    j.packed = w->packed && xq &&
               ((w->type == HALO_TYPE_Q4_0 && j.k->gemv_q4_0x8) ||
                (w->type == HALO_TYPE_Q4_K && j.k->gemv_q4_Kx8));
    if (j.packed) {
        int g_first = row0 / 8, n_groups = (row0 + rows + 7) / 8 - g_first;
        /* rows_per_task counts groups of 8 rows here */
        int n_tasks = halo_pool_split(pool, n_groups, (long)rows * cols, 1, &j.rows_per_task);
        if (n_tasks == 0)
            packed_task(&j, g_first, g_first + n_groups);
        else
            halo_pool_run(pool, qtask, &j, n_tasks);
        return;
    }
    int n_tasks = halo_pool_split(pool, rows, (long)rows * cols, 4, &j.rows_per_task);
    if (n_tasks == 0)
        rows_task(&j, 0, rows);
    else
        halo_pool_run(pool, qtask, &j, n_tasks);
}

void halo_mat_row(const halo_mat *w, int row, float *out) {
    halo_dequantize_row(w->type, (const unsigned char *)w->data + (size_t)row * w->row_bytes, out,
                        w->cols);
}

size_t halo_mat_bytes(const halo_mat *w) {
    return (size_t)w->rows * halo_type_row_bytes(w->type, w->cols);
}

int halo_act_init(halo_act *a, int max_n, int quantised, halo_err *err) {
    memset(a, 0, sizeof *a);
    if (!quantised)
        return HALO_OK;
    size_t n = halo_mat_scratch_bytes(max_n);
    a->buf_bytes = n;
    a->owned = 1;
    for (int f = HALO_ACT_Q8_0; f < HALO_ACT_FORMAT_COUNT_; f++) {
        a->buf[f] = malloc(n);
        if (!a->buf[f]) {
            halo_act_free(a);
            return HALO_FAIL(err, HALO_ERR_NOMEM, "activation buffers: out of memory");
        }
    }
    return HALO_OK;
}

void halo_act_carve(halo_act *a, halo_arena *arena, int max_n, int quantised) {
    memset(a, 0, sizeof *a);
    if (!quantised)
        return;
    a->buf_bytes = halo_mat_scratch_bytes(max_n);
    for (int f = HALO_ACT_Q8_0; f < HALO_ACT_FORMAT_COUNT_; f++)
        a->buf[f] = halo_arena_take(arena, a->buf_bytes, 1);
}

void halo_act_free(halo_act *a) {
    for (int f = 0; a->owned && f < HALO_ACT_FORMAT_COUNT_; f++)
        free(a->buf[f]);
    memset(a, 0, sizeof *a);
}

size_t halo_act_buffer_bytes(const halo_act *a) {
    size_t n = 0;
    for (int f = 0; f < HALO_ACT_FORMAT_COUNT_; f++)
        n += a->buf[f] ? a->buf_bytes : 0;
    return n;
}

void halo_act_set(halo_act *a, const float *x, int n) {
    halo_act_set_window(a, x, n, 0);
}

void halo_act_set_window(halo_act *a, const float *x, int n, int col0) {
    a->x = x;
    a->n = n;
    a->col0 = col0;
    a->ready = 0;
}

const void *halo_act_get(halo_act *a, const halo_mat *w) {
    int f = halo_type_act_format(w->type);
    if (f == HALO_ACT_F32 || !a->buf[f])
        return NULL;
    if (!(a->ready & (1u << f))) {
        (void)halo_mat_prepare(w, a->x, a->col0, a->n, a->buf[f]);
        a->ready |= 1u << f;
    }
    return a->buf[f];
}
