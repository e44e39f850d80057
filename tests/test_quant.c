/*
 * The block formats and their kernels (core/quant.h, core/mat.h): half floats, the layouts
 * read back from hand-packed blocks, quantisation error, activation quantisation, and every
 * kernel table this build and processor have (the scalar reference, AVX2 on x86-64, NEON on
 * aarch64, where `make cross` runs this test under qemu) against a double-precision reference
 * and against each other. Matrix-vector products: aligned and unaligned windows, thread-count
 * independence.
 */
#include "core/mat.h"
#include "core/ops.h"
#include "core/quant.h"
#include "core/rng.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <stdint.h>

static const int TYPES[] = {HALO_TYPE_F16, HALO_TYPE_Q4_0, HALO_TYPE_Q8_0, HALO_TYPE_Q4_K,
                            HALO_TYPE_Q6_K};

enum {
    N_TYPES = sizeof TYPES / sizeof TYPES[0],
    N_VEC = 4096 /* values in the long test vectors (exact_dot's buffers hold one) */
};

static void fill(float *x, int n, halo_rng *rng, float scale) {
    for (int i = 0; i < n; i++)
        x[i] = (2.0f * halo_rng_f32(rng) - 1.0f) * scale;
}

static void half_roundtrip_is_exact(void) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = halo_fp16_to_f32((uint16_t)h);
        if (isnan(f))
            continue;
        ASSERT_EQ(halo_f32_to_fp16(f), h);
    }
    ASSERT(halo_fp16_to_f32(0x3C00) == 1.0f);
    ASSERT(halo_fp16_to_f32(0xC000) == -2.0f);
    ASSERT(halo_fp16_to_f32(0x0001) == 0x1p-24f);           /* smallest subnormal */
    ASSERT_EQ(halo_f32_to_fp16(1.0f + 0x1p-11f), 0x3C00);   /* tie: to even */
    ASSERT_EQ(halo_f32_to_fp16(1.0f + 0x1.8p-11f), 0x3C01); /* above the tie: up */
    ASSERT_EQ(halo_f32_to_fp16(1e6f), 0x7C00);              /* overflow: infinity */
    ASSERT_EQ(halo_f32_to_fp16(65504.0f), 0x7BFF);          /* the largest half */
    ASSERT_EQ(halo_f32_to_fp16(65520.0f), 0x7C00);          /* rounds up to infinity */
    ASSERT_EQ(halo_f32_to_fp16(0x1p-24f), 0x0001);
    ASSERT(isnan(halo_fp16_to_f32(halo_f32_to_fp16(NAN))));
}

static void type_table(void) {
    ASSERT_EQ(halo_type_block(HALO_TYPE_Q4_K), 256);
    ASSERT_EQ(halo_type_block_bytes(HALO_TYPE_Q6_K), 210);
    ASSERT_EQ(halo_type_row_bytes(HALO_TYPE_Q4_0, 64), 36);
    ASSERT_EQ(halo_type_from_name("q4_k"), HALO_TYPE_Q4_K);
    ASSERT_EQ(halo_type_from_name("Q8_0"), HALO_TYPE_Q8_0);
    ASSERT_EQ(halo_type_from_name("q9"), -1);
    ASSERT(strcmp(halo_type_name(13), "q5_K") == 0);
    ASSERT(!halo_type_supported(13));
    ASSERT_EQ(halo_type_block(4), 0); /* removed from GGML */
    ASSERT(strcmp(halo_type_name(999), "unknown") == 0);
}

/* Blocks packed by hand from the layout GGML documents, read back by dequantisation. */
static void layouts_read_back(void) {
    float y[256];
    /* Q4_0: d = 0.5; byte j holds j & 15 (low) and 15 - j (high). */
    unsigned char q40[18] = {0x00, 0x38};
    for (int j = 0; j < 16; j++)
        q40[2 + j] = (unsigned char)(j | (15 - j) << 4);
    halo_dequantize_row(HALO_TYPE_Q4_0, q40, y, 32);
    for (int j = 0; j < 16; j++) {
        ASSERT(y[j] == (float)(j - 8) * 0.5f);
        ASSERT(y[j + 16] == (float)(15 - j - 8) * 0.5f);
    }
    /* Q8_0: d = 0.25, q = 8j - 128. */
    unsigned char q80[34] = {0x00, 0x34};
    for (int j = 0; j < 32; j++)
        q80[2 + j] = (unsigned char)(int8_t)(8 * j - 128);
    halo_dequantize_row(HALO_TYPE_Q8_0, q80, y, 32);
    for (int j = 0; j < 32; j++)
        ASSERT(y[j] == (float)(8 * j - 128) * 0.25f);
    /* Q4_K: d = 1, dmin = 0.5, scales/mins of 6 bits packed into 12 bytes. */
    const int sc[8] = {1, 2, 3, 4, 40, 50, 60, 63}, mn[8] = {5, 6, 7, 8, 33, 34, 35, 36};
    unsigned char q4k[144] = {0x00, 0x3C, 0x00, 0x38};
    unsigned char *s = q4k + 4;
    for (int j = 0; j < 4; j++) {
        s[j] = (unsigned char)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (unsigned char)(mn[j] | (mn[j + 4] >> 4) << 6);
        s[j + 8] = (unsigned char)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
    for (int b = 0; b < 128; b++)
        q4k[16 + b] = (unsigned char)((b % 16) | (15 - b % 16) << 4);
    halo_dequantize_row(HALO_TYPE_Q4_K, q4k, y, 256);
    for (int i = 0; i < 256; i++) {
        int sub = i / 32, chunk = i / 64, l = i % 32, byte = chunk * 32 + l;
        int q = sub % 2 == 0 ? byte % 16 : 15 - byte % 16;
        ASSERT_NEAR(y[i], 1.0f * (float)sc[sub] * (float)q - 0.5f * (float)mn[sub], 1e-6);
    }
    /* Q6_K: d = 0.5, scale of sub-block s = s - 8, level of weight i = 7i mod 64. */
    unsigned char q6k[210] = {0};
    unsigned char *ql = q6k, *qh = q6k + 128;
    int8_t *scales = (int8_t *)(q6k + 192);
    for (int t = 0; t < 16; t++)
        scales[t] = (int8_t)(t - 8);
    q6k[208] = 0x00;
    q6k[209] = 0x38;
    for (int i = 0; i < 256; i++) {
        int L = (7 * i) % 64, half128 = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
        unsigned char *lo = ql + 64 * half128 + l + (quarter % 2) * 32;
        *lo |= (unsigned char)((L & 15) << (quarter >= 2 ? 4 : 0));
        qh[32 * half128 + l] |= (unsigned char)((L >> 4) << (2 * quarter));
    }
    halo_dequantize_row(HALO_TYPE_Q6_K, q6k, y, 256);
    for (int i = 0; i < 256; i++)
        ASSERT(y[i] == 0.5f * (float)(i / 16 - 8) * (float)((7 * i) % 64 - 32));
}

/* Dequantised quantisation stays within what the type can represent. */
static void quantisation_error_is_bounded(void) {
    halo_rng rng;
    halo_rng_init(&rng, 5);

    static float x[N_VEC], y[N_VEC];
    static unsigned char q[N_VEC * 4];
    /* Relative RMS error bounds for uniform data (measured ~0.3, 0.04, 0.07, 0.02 x these). */
    const double bound[N_TYPES] = {1e-3, 0.12, 0.01, 0.06, 0.02};
    for (int t = 0; t < N_TYPES; t++) {
        fill(x, N_VEC, &rng, 3.0f);
        x[17] = 0.0f;
        halo_quantize_row(TYPES[t], x, q, N_VEC);
        halo_dequantize_row(TYPES[t], q, y, N_VEC);
        double e = 0, s = 0;
        for (int i = 0; i < N_VEC; i++) {
            e += ((double)y[i] - (double)x[i]) * ((double)y[i] - (double)x[i]);
            s += (double)x[i] * (double)x[i];
        }
        double rel = sqrt(e / s);
        if (!(rel < bound[t]))
            TEST_FAIL_AT("%s: relative RMS error %g, bound %g", halo_type_name(TYPES[t]), rel,
                         bound[t]);
    }
    /* An all-zero block quantises to zeros in every type. */
    memset(x, 0, sizeof x);
    for (int t = 0; t < N_TYPES; t++) {
        halo_quantize_row(TYPES[t], x, q, 256);
        halo_dequantize_row(TYPES[t], q, y, 256);
        for (int i = 0; i < 256; i++)
            ASSERT(y[i] == 0.0f);
    }
}

static void activations_quantise_as_documented(void) {
    halo_rng rng;
    halo_rng_init(&rng, 9);
    float x[512];
    fill(x, 512, &rng, 2.0f);
    x[3] = -2.5f; /* the largest magnitude of block 0 */

    struct {
        float d;
        int32_t sum8;
        int8_t qs[32];
    } a8[16];

    halo_act_quantize(HALO_ACT_Q8_0, x, a8, 512);
    ASSERT(a8[0].d == halo_fp16_to_f32(halo_f32_to_fp16(2.5f / 127.0f))); /* half precision */
    ASSERT_EQ(a8[0].qs[3], -127);

    struct {
        float d;
        int8_t qs[256];
        int16_t bsums[16];
    } ak[2];

    ASSERT_EQ(sizeof ak[0], halo_act_bytes(HALO_ACT_Q8_K, 256));
    halo_act_quantize(HALO_ACT_Q8_K, x, ak, 512);
    ASSERT_EQ(ak[0].qs[3], -127); /* the largest magnitude maps to -127 (as GGML) */
    for (int b = 0; b < 2; b++)
        for (int s = 0; s < 16; s++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += ak[b].qs[16 * s + l];
            ASSERT_EQ(ak[b].bsums[s], sum);
        }
    for (int i = 0; i < 512; i++)
        ASSERT_NEAR(ak[i / 256].d * (float)ak[i / 256].qs[i % 256], x[i], fabsf(ak[i / 256].d));
}

/* The dot product of row w (type t, n weights) with activations xq in double precision,
   from the dequantised weights and activations. *mag receives the sum of |terms|. */
static double exact_dot(int t, const void *w, const void *xq, const float *x, int n, double *mag) {
    static float wf[N_VEC], xf[N_VEC];
    halo_dequantize_row(t, w, wf, n);
    int f = halo_type_act_format(t);
    if (f == HALO_ACT_Q8_0) {
        const unsigned char *p = xq;
        for (int b = 0; b < n / 32; b++) {
            float d;
            int32_t sum8, sum = 0;
            memcpy(&d, p + 40 * b, 4);
            memcpy(&sum8, p + 40 * b + 4, 4);
            for (int j = 0; j < 32; j++) {
                xf[32 * b + j] = d * (float)(int8_t)p[40 * b + 8 + j];
                sum += (int8_t)p[40 * b + 8 + j];
            }
            ASSERT_EQ(sum8, 8 * sum);
        }
    } else if (f == HALO_ACT_Q8_K) {
        const unsigned char *p = xq;
        for (int b = 0; b < n / 256; b++) {
            float d;
            memcpy(&d, p + 292 * b, 4);
            for (int j = 0; j < 256; j++)
                xf[256 * b + j] = d * (float)(int8_t)p[292 * b + 4 + j];
        }
    } else {
        memcpy(xf, x, (size_t)n * sizeof(float));
    }
    double s = 0;
    *mag = 0;
    for (int i = 0; i < n; i++) {
        s += (double)wf[i] * (double)xf[i];
        *mag += fabs((double)wf[i] * (double)xf[i]);
    }
    return s;
}

static float kernel_dot(const halo_qkernels *k, int t, const void *w, const void *xq,
                        const float *x, int n) {
    int nb = n / halo_type_block(t);
    switch (t) {
    case HALO_TYPE_F16:
        return k->dot_f16(w, x, n);
    case HALO_TYPE_Q4_0:
        return k->dot_q4_0(w, xq, nb);
    case HALO_TYPE_Q8_0:
        return k->dot_q8_0(w, xq, nb);
    case HALO_TYPE_Q4_K:
        return k->dot_q4_K(w, xq, nb);
    default:
        return k->dot_q6_K(w, xq, nb);
    }
}

/* Every table's kernels agree with the exact dot product to float rounding, on random data
   and on extreme values (the largest levels, -128 activations, zero blocks). */
static void kernels_match_the_exact_dot(void) {
    halo_rng rng;
    halo_rng_init(&rng, 11);

    static float w[N_VEC], x[N_VEC];
    static unsigned char q[N_VEC * 4], xq[N_VEC * 4 + 64];
    int tables = 0;
    for (int isa = 0; isa < HALO_ISA_COUNT_; isa++) {
        const halo_qkernels *k = halo_qkernels_get(isa);
        if (!k)
            continue;
        tables++;
        (void)fprintf(stderr, "# kernels: %s\n", k->name);
        for (int t = 0; t < N_TYPES; t++) {
            for (int round = 0; round < 40; round++) {
                int n = round < 4 ? 256 * (round + 1) : N_VEC - 256 * (round % 8);
                fill(w, n, &rng, round % 3 == 0 ? 100.0f : 1.0f);
                fill(x, n, &rng, round % 5 == 0 ? 1e-3f : 4.0f);
                if (round % 7 == 1)
                    memset(x, 0, 256 * sizeof(float)); /* a zero activation block */
                if (round % 7 == 2)
                    for (int i = 0; i < n; i++)
                        x[i] = i % 2 ? -8.0f : 8.0f; /* -127 and 127 in Q8_K */
                halo_quantize_row(TYPES[t], w, q, n);
                if (round % 7 == 3 && TYPES[t] == HALO_TYPE_Q8_0)
                    for (int b = 0; b < n / 32; b++)
                        memset(q + 34 * b + 2, 0x80, 32); /* -128 weights (not from GGML) */
                int f = halo_type_act_format(TYPES[t]);
                halo_act_quantize(f, x, xq, n);
                double mag, exact = exact_dot(TYPES[t], q, xq, x, n, &mag);
                float got = kernel_dot(k, TYPES[t], q, xq, x, n);
                double tol = 2e-6 * mag + 1e-30;
                if (!(fabs((double)got - exact) <= tol))
                    TEST_FAIL_AT("%s %s n=%d round %d: %.9g, exact %.9g (tolerance %g)", k->name,
                                 halo_type_name(TYPES[t]), n, round, (double)got, exact, tol);
                float ref = kernel_dot(halo_qkernels_get(HALO_ISA_SCALAR), TYPES[t], q, xq, x, n);
                if (!(fabs((double)got - (double)ref) <= 2 * tol))
                    TEST_FAIL_AT("%s %s: %.9g, scalar %.9g", k->name, halo_type_name(TYPES[t]),
                                 (double)got, (double)ref);
            }
        }
    }
#if defined(__aarch64__)
    ASSERT(halo_qkernels_get(HALO_ISA_NEON) != NULL); /* NEON is part of every aarch64 */
#endif
    ASSERT(tables >= 1);
    ASSERT(halo_qkernels_best() != NULL);
}

static halo_mat make_mat(int t, int rows, int cols, halo_rng *rng, unsigned char **data);

/* Eight rows interleaved (Q4_0, Q4_K): every table's packed kernel (where it has one) against
   the exact dot product of each row, and packed matrices through halo_mat_vec for windows of
   any rows (groups cut by the window) against the rows' own kernel. */
/* The bandwidth probe's sum of every table: the float sum of its elements, any length. */
static void sums_of_every_table(void) {
    enum {
        N = 1000
    };

    float x[N];
    halo_rng rng;
    halo_rng_init(&rng, 21);
    fill(x, N, &rng, 1.0f);
    for (int isa = 0; isa < HALO_ISA_COUNT_; isa++) {
        const halo_qkernels *k = halo_qkernels_get(isa);
        if (!k)
            continue;
        ASSERT(k->sum_f32 != NULL);
        for (size_t n = 0; n <= N; n += n < 70 ? 1 : 97) {
            double want = 0;
            for (size_t i = 0; i < n; i++)
                want += (double)x[i];
            double got = k->sum_f32(x, n);
            if (!(fabs(got - want) <= 1e-4 * (1.0 + (double)n)))
                TEST_FAIL_AT("%s: sum of %zu floats %g, expected %g", k->name, n, got, want);
        }
    }
}

static void packed_rows(void) {
    halo_rng rng;
    halo_rng_init(&rng, 31);

    enum {
        N = 2560
    };

    static float w[N], x[N];
    static unsigned char q[8 * N], packed[8 * N], xq[4 * N];
    const int types[2] = {HALO_TYPE_Q4_0, HALO_TYPE_Q4_K};
    for (int t = 0; t < 2; t++) {
        int type = types[t], nb = N / halo_type_block(type);
        size_t rb = halo_type_row_bytes(type, N);
        for (int r = 0; r < 8; r++) {
            fill(w, N, &rng, r == 3 ? 50.0f : 1.0f);
            halo_quantize_row(type, w, q + (size_t)r * rb, N);
        }
        fill(x, N, &rng, 2.0f);
        halo_act_quantize(halo_type_act_format(type), x, xq, N);
        if (type == HALO_TYPE_Q4_0)
            halo_pack_q4_0x8(q, rb, nb, packed);
        else
            halo_pack_q4_Kx8(q, rb, nb, packed);
        int tables = 0;
        for (int isa = 0; isa < HALO_ISA_COUNT_; isa++) {
            const halo_qkernels *k = halo_qkernels_get(isa);
            void (*gemv)(const void *, const void *, int, float *) = !k ? NULL
                                                                     : type == HALO_TYPE_Q4_0
                                                                         ? k->gemv_q4_0x8
                                                                         : k->gemv_q4_Kx8;
            if (!gemv)
                continue;
            tables++;
            float out[8];
            gemv(packed, xq, nb, out);
            for (int r = 0; r < 8; r++) {
                double mag, exact = exact_dot(type, q + (size_t)r * rb, xq, x, N, &mag);
                if (!(fabs((double)out[r] - exact) <= 2e-6 * mag))
                    TEST_FAIL_AT("%s packed %s row %d: %.9g, exact %.9g", k->name,
                                 halo_type_name(type), r, (double)out[r], exact);
            }
        }
        ASSERT(tables >= 1); /* the scalar reference has both */
        /* The VNNI kernels compute the AVX2 kernels' integers and floats: equal bit for bit. */
        const halo_qkernels *a2 = halo_qkernels_get(HALO_ISA_AVX2);
        const halo_qkernels *vn = halo_qkernels_get(HALO_ISA_AVX2_VNNI);
        if (a2 && vn) {
            float o2[8], ov[8];
            if (type == HALO_TYPE_Q4_0) {
                a2->gemv_q4_0x8(packed, xq, nb, o2);
                vn->gemv_q4_0x8(packed, xq, nb, ov);
            } else {
                a2->gemv_q4_Kx8(packed, xq, nb, o2);
                vn->gemv_q4_Kx8(packed, xq, nb, ov);
            }
            ASSERT(memcmp(o2, ov, sizeof o2) == 0);
        }

        /* A 40-row matrix, packed and not: windows cutting groups give each row the value
           the packed kernel gives it in a full window; column windows of whole blocks. */
        enum {
            ROWS = 40
        };

        unsigned char *data;
        halo_mat m = make_mat(type, ROWS, N, &rng, &data);
        void *pk = malloc(halo_mat_packed_bytes(type, ROWS, N));
        halo_mat_pack(&m, pk);
        halo_mat mp = m;
        mp.packed = pk;
        float full[ROWS], part[ROWS], plain[ROWS];
        halo_mat_vec(NULL, full, &mp, 0, 0, x, xq, ROWS, N, 0);
        halo_mat_vec(NULL, plain, &m, 0, 0, x, xq, ROWS, N, 0);
        halo_mat_vec(NULL, part, &mp, 5, 0, x, xq, 22, N, 0);
        for (int r = 0; r < ROWS; r++) {
            halo_mat_row(&m, r, w);
            double mag = 0;
            for (int i = 0; i < N; i++)
                mag += fabs((double)w[i] * (double)x[i]);
            if (halo_mat_can_pack(type))
                ASSERT_NEAR(full[r], plain[r], 2e-6 * mag);
            if (r >= 5 && r < 27)
                ASSERT(part[r - 5] == full[r]);
        }
        int bk = halo_type_block(type);
        void *scratch = malloc(halo_mat_scratch_bytes(N));
        const void *wq = halo_mat_prepare(&m, x + 2 * bk, 2 * bk, 4 * bk, scratch);
        halo_mat_vec(NULL, full, &mp, 8, 2 * bk, x + 2 * bk, wq, 16, 4 * bk, 0);
        halo_mat_vec(NULL, plain, &m, 8, 2 * bk, x + 2 * bk, wq, 16, 4 * bk, 0);
        for (int r = 0; r < 16; r++)
            ASSERT_NEAR(full[r], plain[r], 1e-3);
        free(scratch);
        free(pk);
        free(data);
    }
}

/* A matrix of `rows` random rows of type t. */
static halo_mat make_mat(int t, int rows, int cols, halo_rng *rng, unsigned char **data) {
    size_t rb = halo_type_row_bytes(t, cols);
    *data = malloc(rb * (size_t)rows);
    float *w = malloc((size_t)cols * sizeof *w);
    for (int r = 0; r < rows; r++) {
        fill(w, cols, rng, 1.0f);
        halo_quantize_row(t, w, *data + rb * (size_t)r, cols);
    }
    free(w);
    return (halo_mat){.data = *data, .row_bytes = rb, .type = t, .rows = rows, .cols = cols};
}

/* Windows: aligned ones use the kernels, unaligned ones dequantise; both match a float
   reference; the thread count changes nothing. */
static void windows_and_threads(void) {
    halo_rng rng;
    halo_rng_init(&rng, 21);

    enum {
        ROWS = 300,
        COLS = 1024
    };

    static float x[COLS], out1[ROWS], out2[ROWS], wrow[COLS];
    void *scratch = malloc(halo_mat_scratch_bytes(COLS));
    halo_pool *pool = NULL;
    ASSERT_OK(halo_pool_new(&pool, tu_max_threads(2), NULL));
    for (int t = 0; t < N_TYPES; t++) {
        unsigned char *data;
        halo_mat m = make_mat(TYPES[t], ROWS, COLS, &rng, &data);
        fill(x, COLS, &rng, 1.0f);
        int bk = halo_type_block(TYPES[t]);

        struct {
            int col0, cols;
        } win[] = {{0, COLS}, {bk, COLS - 2 * bk}, {bk == 1 ? 3 : bk / 2, bk == 1 ? 100 : bk}};

        for (size_t k = 0; k < sizeof win / sizeof win[0]; k++) {
            int c0 = win[k].col0, n = win[k].cols;
            int aligned = halo_mat_window_aligned(&m, c0, n);
            ASSERT_EQ(aligned, k < 2 || bk == 1);
            const void *xq = halo_mat_prepare(&m, x + c0, c0, n, scratch);
            ASSERT((xq != NULL) == (TYPES[t] != HALO_TYPE_F16));
            halo_mat_vec(NULL, out1, &m, 7, c0, x + c0, xq, ROWS - 7, n, 0);
            halo_mat_vec(pool, out2, &m, 7, c0, x + c0, xq, ROWS - 7, n, 0);
            ASSERT(memcmp(out1, out2, (ROWS - 7) * sizeof(float)) == 0);
            for (int r = 7; r < ROWS; r++) {
                halo_mat_row(&m, r, wrow);
                double s = 0, mag = 0;
                for (int i = 0; i < n; i++) {
                    s += (double)wrow[c0 + i] * (double)x[c0 + i];
                    mag += fabs((double)wrow[c0 + i] * (double)x[c0 + i]);
                }
                /* Quantised activations: about 1/254 of each term's size. */
                double tol = (TYPES[t] != HALO_TYPE_F16 ? 1e-2 : 1e-5) * mag;
                ASSERT_NEAR(out1[r - 7], s, tol);
                /* NULL activations: the dequantising path, float activations */
                float y;
                halo_mat_vec(NULL, &y, &m, r, c0, x + c0, NULL, 1, n, 0);
                ASSERT_NEAR(y, s, 1e-5 * mag);
            }
            /* accumulate adds to what is there */
            for (int r = 0; r < ROWS - 7; r++)
                out2[r] = 1.0f;
            halo_mat_vec(pool, out2, &m, 7, c0, x + c0, xq, ROWS - 7, n, 1);
            for (int r = 0; r < ROWS - 7; r++)
                ASSERT(out2[r] == out1[r] + 1.0f);
        }
        free(data);
    }
    halo_pool_free(pool);
    free(scratch);
}

/* f32 products take small matrices with short rows four rows at a time and larger ones one
   row after the other (core/ops.c): the same results bit for bit, with or without threads and
   for windows of a wider matrix. */
static void f32_rows_one_or_four_at_a_time(void) {
    halo_rng rng;
    halo_rng_init(&rng, 33);

    enum {
        ROWS = 4200, /* ROWS x STRIDE floats: more than 1 MiB, one row at a time */
        STRIDE = 72,
        COLS = 64, /* short rows: four at a time in small windows */
        CHUNK = 12 /* 12 rows: four at a time */
    };

    float *w = malloc((size_t)ROWS * STRIDE * sizeof *w);
    static float x[COLS], big[ROWS], small[ROWS], pooled[ROWS];
    ASSERT(w != NULL);
    fill(w, ROWS * STRIDE, &rng, 1.0f);
    fill(x, COLS, &rng, 1.0f);
    halo_pool *pool = NULL;
    ASSERT_OK(halo_pool_new(&pool, tu_max_threads(2), NULL));
    for (int c0 = 0; c0 <= STRIDE - COLS; c0 += STRIDE - COLS) {
        halo_matvec_window(NULL, big, w + c0, STRIDE, x, ROWS, COLS, 0);
        halo_matvec_window(pool, pooled, w + c0, STRIDE, x, ROWS, COLS, 0);
        for (int r = 0; r < ROWS; r += CHUNK) {
            int n = ROWS - r < CHUNK ? ROWS - r : CHUNK;
            halo_matvec_window(NULL, small + r, w + (size_t)r * STRIDE + c0, STRIDE, x, n, COLS, 0);
        }
        ASSERT(memcmp(big, small, sizeof big) == 0);
        ASSERT(memcmp(big, pooled, sizeof big) == 0);
    }
    halo_pool_free(pool);
    free(w);
}

/* The f32 product's vector paths (AVX2 where the CPU has it: one row or four rows at a time)
   give halo_dot's portable sums bit for bit, for every length mod 16 (the main step, the
   8- and 4-float steps and the scalar tail). */
static void f32_vector_paths_equal_the_portable_dot(void) {
    halo_rng rng;
    halo_rng_init(&rng, 34);

    enum {
        ROWS = 9,
        MAX_COLS = 800
    };

    static float w[ROWS * MAX_COLS], x[MAX_COLS], got[ROWS], want[ROWS];
    fill(w, ROWS * MAX_COLS, &rng, 1.0f);
    fill(x, MAX_COLS, &rng, 1.0f);
    static const int cols[] = {1,  3,  4,  7,  8,  9,  12, 15,  16,  17,  20,  24,
                               28, 31, 32, 33, 40, 47, 64, 100, 255, 256, 771, 800};
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
        int n = cols[k];
        halo_matvec(want, w, x, ROWS, n);
        halo_matvec_window(NULL, got, w, (size_t)n, x, ROWS, n, 0);
        ASSERT(memcmp(got, want, sizeof got) == 0);
        for (int r = 0; r < ROWS; r++)
            ASSERT(halo_dot(w + (size_t)r * (size_t)n, x, n) == want[r]);
    }
}

/* halo_act quantises once per format and follows halo_act_set. */
static void act_cache(void) {
    halo_act a;
    ASSERT_OK(halo_act_init(&a, 512, 1, NULL));
    ASSERT(halo_act_buffer_bytes(&a) > 0);
    float x[512] = {0}, y[512] = {0};
    x[0] = 1.0f;
    y[0] = -1.0f;
    halo_mat k = {.type = HALO_TYPE_Q4_K, .cols = 512}, f = {.type = HALO_TYPE_F32, .cols = 512};
    halo_act_set(&a, x, 512);
    const int8_t *q = halo_act_get(&a, &k);
    ASSERT(q != NULL && halo_act_get(&a, &f) == NULL);
    ASSERT_EQ(q[4], -127);
    halo_act_set(&a, y, 512);
    q = halo_act_get(&a, &k);
    ASSERT_EQ(q[4], -127); /* -1 is the largest magnitude: -127 again, with d = 1/127 */
    float d;
    memcpy(&d, q, sizeof d);
    ASSERT(d == -1.0f / -127.0f);
    halo_act_set_window(&a, y, 100, 300); /* not whole blocks: padded with zeros */
    q = halo_act_get(&a, &k);
    memcpy(&d, q, sizeof d);
    ASSERT(d == -1.0f / -127.0f && q[4 + 44] == -127 && q[4 + 43] == 0);
    halo_act_free(&a);
    halo_act none;
    ASSERT_OK(halo_act_init(&none, 512, 0, NULL));
    halo_act_set(&none, x, 512);
    ASSERT(halo_act_get(&none, &k) == NULL && halo_act_buffer_bytes(&none) == 0);
    halo_act_free(&none);
}

TEST_MAIN(TEST(half_roundtrip_is_exact), TEST(type_table), TEST(layouts_read_back),
          TEST(quantisation_error_is_bounded), TEST(activations_quantise_as_documented),
          TEST(kernels_match_the_exact_dot), TEST(sums_of_every_table), TEST(packed_rows),
          TEST(windows_and_threads), TEST(f32_rows_one_or_four_at_a_time),
          TEST(f32_vector_paths_equal_the_portable_dot), TEST(act_cache))
