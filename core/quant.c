/*
 * Storage types: the type table, half floats, row conversion in both directions, activation
 * quantisation, the scalar reference kernels and the choice of a kernel table. The SIMD
 * tables are in quant_avx2.c and quant_neon.c.
 */
#include "core/quant.h"

#include "core/ops.h"
#include "core/quant_impl.h"
#include "core/status.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* ==== Types ==== */

typedef struct type_info {
    const char *name;
    int block;
    int block_bytes;
} type_info;

/* GGML's types by number (ggml.h, enum ggml_type); removed numbers have no entry. */
static const type_info TYPES[] = {
    [0] = {"f32", 1, 4},         [1] = {"f16", 1, 2},         [2] = {"q4_0", 32, 18},
    [3] = {"q4_1", 32, 20},      [6] = {"q5_0", 32, 22},      [7] = {"q5_1", 32, 24},
    [8] = {"q8_0", 32, 34},      [9] = {"q8_1", 32, 36},      [10] = {"q2_K", 256, 84},
    [11] = {"q3_K", 256, 110},   [12] = {"q4_K", 256, 144},   [13] = {"q5_K", 256, 176},
    [14] = {"q6_K", 256, 210},   [15] = {"q8_K", 256, 292},   [16] = {"iq2_xxs", 256, 66},
    [17] = {"iq2_xs", 256, 74},  [18] = {"iq3_xxs", 256, 98}, [19] = {"iq1_s", 256, 50},
    [20] = {"iq4_nl", 32, 18},   [21] = {"iq3_s", 256, 110},  [22] = {"iq2_s", 256, 82},
    [23] = {"iq4_xs", 256, 136}, [24] = {"i8", 1, 1},         [25] = {"i16", 1, 2},
    [26] = {"i32", 1, 4},        [27] = {"i64", 1, 8},        [28] = {"f64", 1, 8},
    [29] = {"iq1_m", 256, 56},   [30] = {"bf16", 1, 2},       [34] = {"tq1_0", 256, 54},
    [35] = {"tq2_0", 256, 66},
};

enum {
    N_TYPES = sizeof TYPES / sizeof TYPES[0]
};

static const type_info *info(int type) {
    if (type < 0 || type >= N_TYPES || !TYPES[type].name)
        return NULL;
    return &TYPES[type];
}

const char *halo_type_name(int type) {
    const type_info *t = info(type);
    return t ? t->name : "unknown";
}

int halo_type_from_name(const char *name) {
    for (int i = 0; i < N_TYPES; i++)
        if (TYPES[i].name && strcasecmp(TYPES[i].name, name) == 0)
            return i;
    return -1;
}

int halo_type_block(int type) {
    const type_info *t = info(type);
    return t ? t->block : 0;
}

size_t halo_type_block_bytes(int type) {
    const type_info *t = info(type);
    return t ? (size_t)t->block_bytes : 0;
}

size_t halo_type_row_bytes(int type, int64_t n) {
    const type_info *t = info(type);
    if (!t)
        return 0;
    return (size_t)(n / t->block) * (size_t)t->block_bytes;
}

int halo_act_block(int format) {
    return format == HALO_ACT_Q8_0 ? QK8_0 : format == HALO_ACT_Q8_K ? QK_K : 1;
}

size_t halo_act_bytes(int format, int n) {
    switch (format) {
    case HALO_ACT_Q8_0:
        return (size_t)(n / QK8_0) * sizeof(act_q8_0);
    case HALO_ACT_Q8_K:
        return (size_t)(n / QK_K) * sizeof(act_q8_K);
    default:
        return (size_t)n * sizeof(float);
    }
}

/* ==== Half floats ==== */

static inline float f32_from_bits(uint32_t w) {
    float f;
    memcpy(&f, &w, sizeof f);
    return f;
}

static inline uint32_t f32_bits(float f) {
    uint32_t w;
    memcpy(&w, &f, sizeof w);
    return w;
}

/* Exact conversions by exponent arithmetic in float32 (no branches on the value's class
   beyond subnormals). */
float halo_fp16_to_f32(uint16_t h) {
    uint32_t w = (uint32_t)h << 16;
    uint32_t sign = w & 0x80000000u;
    uint32_t two_w = w + w;
    float normalized = f32_from_bits((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
    float denormalized = f32_from_bits((two_w >> 17) | (126u << 23)) - 0.5f;
    uint32_t result = sign | (two_w < (1u << 27) ? f32_bits(denormalized) : f32_bits(normalized));
    return f32_from_bits(result);
}

uint16_t halo_f32_to_fp16(float f) {
    float base = (fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    uint32_t w = f32_bits(f);
    uint32_t shl1_w = w + w;
    uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u)
        bias = 0x71000000u;
    base = f32_from_bits((bias >> 1) + 0x07800000u) + base;
    uint32_t bits = f32_bits(base);
    uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    uint32_t mantissa_bits = bits & 0x00000FFFu;
    uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float half(const uint16_t *p) {
    return halo_fp16_to_f32(ld_half(p));
}

/* ==== Dequantisation ==== */

static void dequant_q4_0(const void *vb, float *y, int64_t nb) {
    const block_q4_0 *b = vb;
    for (int64_t i = 0; i < nb; i++, y += QK4_0) {
        float d = half(&b[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((b[i].qs[j] & 0xF) - 8) * d;
            y[j + QK4_0 / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q8_0(const void *vb, float *y, int64_t nb) {
    const block_q8_0 *b = vb;
    for (int64_t i = 0; i < nb; i++, y += QK8_0) {
        float d = half(&b[i].d);
        for (int j = 0; j < QK8_0; j++)
            y[j] = (float)b[i].qs[j] * d;
    }
}

static void dequant_q4_K(const void *vb, float *y, int64_t nb) {
    const block_q4_K *b = vb;
    for (int64_t i = 0; i < nb; i++) {
        float d = half(&b[i].d), dmin = half(&b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < QK_K / 64; j++, q += 32) {
            uint8_t sc, m;
            q4_K_scale_min(2 * j, b[i].scales, &sc, &m);
            float d1 = d * (float)sc, m1 = dmin * (float)m;
            q4_K_scale_min(2 * j + 1, b[i].scales, &sc, &m);
            float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void dequant_q6_K(const void *vb, float *y, int64_t nb) {
    const block_q6_K *b = vb;
    for (int64_t i = 0; i < nb; i++) {
        float d = half(&b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int c = 0; c < QK_K / 128; c++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

static void dequant_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void dequant_f16(const void *src, float *dst, int64_t n) {
    const unsigned char *p = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = f16_at(p, i);
}

/* ==== Quantisation of weights ==== */

/* Round to nearest, ties to even, for |v| < 2^22 (every use here): adding 1.5 * 2^23 leaves
   the integer in the low mantissa bits (GGML's nearest_int). A library call (lrintf) per
   element cost more than the rest of activation quantisation. */
static inline int nearest(float v) {
    float f = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* Larger and smaller of two floats without a library call (NaN in b is ignored). */
static inline float max_f(float a, float b) {
    return b > a ? b : a;
}

static inline float min_f(float a, float b) {
    return b < a ? b : a;
}

static void quant_q8_0(const float *x, void *vy, int64_t nb) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < nb; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++)
            amax = max_f(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = halo_f32_to_fp16(d);
        memcpy(&y[i].d, &h, sizeof h);
        for (int j = 0; j < QK8_0; j++)
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

static void quant_q4_0(const float *x, void *vy, int64_t nb) {
    block_q4_0 *y = vy;
    for (int64_t i = 0; i < nb; i++, x += QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = halo_f32_to_fp16(d);
        memcpy(&y[i].d, &h, sizeof h);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = (int)(int8_t)(x[j] * id + 8.5f), q1 = (int)(int8_t)(x[j + 16] * id + 8.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

static inline int clampi(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* Scale and (non-positive) minimum of 32 values for levels 0..15, by least squares on the
   levels that min/max rounding gives (two refinements). *scale >= 0, *min <= 0. */
static void fit_scale_min(const float *x, float *scale, float *min) {
    float mn = x[0], mx = x[0];
    for (int i = 1; i < 32; i++) {
        mn = min_f(mn, x[i]);
        mx = max_f(mx, x[i]);
    }
    if (mn > 0.0f)
        mn = 0.0f;
    if (mx <= mn) {
        *scale = 0.0f;
        *min = mn;
        return;
    }
    float s = (mx - mn) / 15.0f;
    for (int it = 0; it < 2; it++) {
        float is = 1.0f / s;
        double sl = 0, sll = 0, sx = 0, slx = 0;
        for (int i = 0; i < 32; i++) {
            int l = clampi(nearest((x[i] - mn) * is), 0, 15);
            sl += l;
            sll += (double)l * l;
            sx += (double)x[i];
            slx += (double)l * (double)x[i];
        }
        double det = 32.0 * sll - sl * sl;
        if (det <= 0)
            break;
        double ns = (32.0 * slx - sl * sx) / det, nm = (sll * sx - sl * slx) / det;
        if (nm > 0) {
            nm = 0;
            ns = sll > 0 ? slx / sll : 0;
        }
        if (!(ns > 0))
            break;
        s = (float)ns;
        mn = (float)nm;
    }
    *scale = s;
    *min = mn;
}

static void quant_q4_K(const float *x, void *vy, int64_t nb) {
    block_q4_K *y = vy;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float scales[8], mins[8], max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < 8; j++) {
            float mn;
            fit_scale_min(x + 32 * j, &scales[j], &mn);
            mins[j] = -mn;
            max_scale = max_f(max_scale, scales[j]);
            max_min = max_f(max_min, mins[j]);
        }
        float d = max_scale / 63.0f, dmin = max_min / 63.0f;
        uint16_t hd = halo_f32_to_fp16(d), hm = halo_f32_to_fp16(dmin);
        memcpy(&y[i].d, &hd, sizeof hd);
        memcpy(&y[i].dmin, &hm, sizeof hm);
        float dq = halo_fp16_to_f32(hd), mq = halo_fp16_to_f32(hm);
        uint8_t ls[8], lm[8];
        for (int j = 0; j < 8; j++) {
            ls[j] = (uint8_t)(dq > 0.0f ? clampi(nearest(scales[j] / dq), 0, 63) : 0);
            lm[j] = (uint8_t)(mq > 0.0f ? clampi(nearest(mins[j] / mq), 0, 63) : 0);
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                y[i].scales[j] = ls[j];
                y[i].scales[j + 4] = lm[j];
            } else {
                y[i].scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
                y[i].scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
                y[i].scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
            }
        }
        uint8_t L[QK_K];
        for (int j = 0; j < 8; j++) {
            float dl = dq * (float)ls[j], dm = mq * (float)lm[j];
            for (int l = 0; l < 32; l++)
                L[32 * j + l] =
                    (uint8_t)(dl > 0.0f ? clampi(nearest((x[32 * j + l] + dm) / dl), 0, 15) : 0);
        }
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++)
                q[l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
    }
}

static void quant_q6_K(const float *x, void *vy, int64_t nb) {
    block_q6_K *y = vy;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float scales[16], max_scale = 0.0f, max_abs_scale = 0.0f;
        for (int s = 0; s < 16; s++) {
            float amax = 0.0f, max = 0.0f;
            for (int l = 0; l < 16; l++) {
                if (amax < fabsf(x[16 * s + l])) {
                    amax = fabsf(x[16 * s + l]);
                    max = x[16 * s + l];
                }
            }
            scales[s] = max / -32.0f;
            if (fabsf(scales[s]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[s]);
                max_scale = scales[s];
            }
        }
        memset(&y[i], 0, sizeof y[i]);
        uint8_t L[QK_K];
        if (max_abs_scale == 0.0f) {
            memset(L, 32, sizeof L);
        } else {
            float iscale = -128.0f / max_scale;
            uint16_t hd = halo_f32_to_fp16(1.0f / iscale);
            memcpy(&y[i].d, &hd, sizeof hd);
            float dq = halo_fp16_to_f32(hd);
            for (int s = 0; s < 16; s++) {
                int sc = nearest(iscale * scales[s]);
                y[i].scales[s] = (int8_t)(sc > 127 ? 127 : sc);
                float dl = dq * (float)y[i].scales[s];
                for (int l = 0; l < 16; l++)
                    L[16 * s + l] =
                        (uint8_t)(dl != 0.0f ? clampi(nearest(x[16 * s + l] / dl), -32, 31) + 32
                                             : 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
                uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | q3 << 4);
                ql[l + 32] = (uint8_t)(q2 | q4 << 4);
                qh[l] = (uint8_t)((L[j + l] >> 4) | (L[j + l + 32] >> 4) << 2 |
                                  (L[j + l + 64] >> 4) << 4 | (L[j + l + 96] >> 4) << 6);
            }
        }
    }
}

static void quant_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void quant_f16(const float *src, void *dst, int64_t n) {
    unsigned char *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = halo_f32_to_fp16(src[i]);
        memcpy(p + 2 * i, &h, sizeof h);
    }
}

/* ==== Rows of the types computed with ==== */

/* The types halo computes with: the conversion of their blocks in both directions and the
   activation format their kernels take (one entry per type, instead of one switch per
   question). */
typedef struct type_ops {
    void (*to_float)(const void *src, float *dst, int64_t n_blocks);
    void (*from_float)(const float *src, void *dst, int64_t n_blocks);
    int act_format; /* enum halo_act_format */
} type_ops;

static const type_ops OPS[] = {
    [HALO_TYPE_F32] = {dequant_f32, quant_f32, HALO_ACT_F32},
    [HALO_TYPE_F16] = {dequant_f16, quant_f16, HALO_ACT_F32},
    [HALO_TYPE_Q4_0] = {dequant_q4_0, quant_q4_0, HALO_ACT_Q8_0},
    [HALO_TYPE_Q8_0] = {dequant_q8_0, quant_q8_0, HALO_ACT_Q8_0},
    [HALO_TYPE_Q4_K] = {dequant_q4_K, quant_q4_K, HALO_ACT_Q8_K},
    [HALO_TYPE_Q6_K] = {dequant_q6_K, quant_q6_K, HALO_ACT_Q8_K},
};

/* The entry of a supported type, else NULL. */
static const type_ops *ops_of(int type) {
    if (type < 0 || type >= (int)(sizeof OPS / sizeof OPS[0]) || !OPS[type].to_float)
        return NULL;
    return &OPS[type];
}

int halo_type_supported(int type) {
    return ops_of(type) != NULL;
}

int halo_type_act_format(int type) {
    const type_ops *o = ops_of(type);
    return o ? o->act_format : HALO_ACT_F32;
}

void halo_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    const type_ops *o = ops_of(type);
    if (!o)
        HALO_ASSERT(!"dequantize: unsupported type");
    o->to_float(src, dst, n / halo_type_block(type));
}

void halo_quantize_row(int type, const float *src, void *dst, int64_t n) {
    const type_ops *o = ops_of(type);
    if (!o)
        HALO_ASSERT(!"quantize: unsupported type");
    o->from_float(src, dst, n / halo_type_block(type));
}

/* ==== Quantisation of activations ==== */

void halo_act_quantize(int format, const float *x, void *dst, int n) {
    if (format == HALO_ACT_Q8_0) {
        /* As GGML's x86 quantizer: levels round(x * 127 / amax) (to even), and the scale
           amax / 127 kept at half precision, so products match llama.cpp's exactly. */
        act_q8_0 *y = dst;
        for (int i = 0; i < n / QK8_0; i++, x += QK8_0) {
            float amax = 0.0f;
            for (int j = 0; j < QK8_0; j++)
                amax = max_f(amax, fabsf(x[j]));
            float id = amax != 0.0f ? 127.0f / amax : 0.0f;
            y[i].d = halo_fp16_to_f32(halo_f32_to_fp16(amax / 127.0f));
            int sum = 0;
            for (int j = 0; j < QK8_0; j++) {
                y[i].qs[j] = (int8_t)nearest(x[j] * id);
                sum += y[i].qs[j];
            }
            y[i].sum8 = 8 * sum;
        }
    } else if (format == HALO_ACT_Q8_K) {
        act_q8_K *y = dst;
        for (int i = 0; i < n / QK_K; i++, x += QK_K) {
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < QK_K; j++) {
                if (amax < fabsf(x[j])) {
                    amax = fabsf(x[j]);
                    max = x[j];
                }
            }
            if (amax == 0.0f) {
                memset(&y[i], 0, sizeof y[i]);
                continue;
            }
            float iscale = -127.0f / max; /* GGML's choice: levels -127..127 */
            for (int j = 0; j < QK_K; j++) {
                int v = nearest(iscale * x[j]);
                y[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
            }
            for (int s = 0; s < QK_K / 16; s++) {
                int sum = 0;
                for (int l = 0; l < 16; l++)
                    sum += y[i].qs[16 * s + l];
                y[i].bsums[s] = (int16_t)sum;
            }
            y[i].d = 1.0f / iscale;
        }
    } else {
        memcpy(dst, x, (size_t)n * sizeof(float));
    }
}

/* ==== Reference kernels ==== */

static float ref_dot_f16(const void *w, const float *x, int n) {
    const unsigned char *p = w;
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += f16_at(p, i + k) * x[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    return dot_f16_tail(p, x, i, n, s);
}

static float ref_dot_q4_0(const void *vw, const void *vx, int nb) {
    const block_q4_0 *w = vw;
    const act_q8_0 *x = vx;
    float s = 0.0f;
    for (int i = 0; i < nb; i++) {
        int sum = 0;
        for (int j = 0; j < QK4_0 / 2; j++)
            sum +=
                ((w[i].qs[j] & 0xF) - 8) * x[i].qs[j] + ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + 16];
        s += (float)sum * (half(&w[i].d) * x[i].d);
    }
    return s;
}

static float ref_dot_q8_0(const void *vw, const void *vx, int nb) {
    const block_q8_0 *w = vw;
    const act_q8_0 *x = vx;
    float s = 0.0f;
    for (int i = 0; i < nb; i++) {
        int sum = 0;
        for (int j = 0; j < QK8_0; j++)
            sum += w[i].qs[j] * x[i].qs[j];
        s += (float)sum * (half(&w[i].d) * x[i].d);
    }
    return s;
}

static float ref_dot_q4_K(const void *vw, const void *vx, int nb) {
    const block_q4_K *w = vw;
    const act_q8_K *x = vx;
    float s = 0.0f;
    for (int i = 0; i < nb; i++) {
        int sumi = 0, summ = 0;
        const uint8_t *q = w[i].qs;
        const int8_t *y = x[i].qs;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            q4_K_scale_min(j, w[i].scales, &sc, &m);
            const uint8_t *qj = q + 32 * (j / 2);
            int sum = 0;
            for (int l = 0; l < 32; l++)
                sum += (j % 2 ? qj[l] >> 4 : qj[l] & 0xF) * y[32 * j + l];
            sumi += sc * sum;
            summ += m * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
        }
        s += x[i].d * half(&w[i].d) * (float)sumi - x[i].d * half(&w[i].dmin) * (float)summ;
    }
    return s;
}

static float ref_dot_q6_K(const void *vw, const void *vx, int nb) {
    const block_q6_K *w = vw;
    const act_q8_K *x = vx;
    float s = 0.0f;
    for (int i = 0; i < nb; i++) {
        int sumi = 0;
        const uint8_t *ql = w[i].ql, *qh = w[i].qh;
        const int8_t *sc = w[i].scales, *y = x[i].qs;
        for (int c = 0; c < QK_K / 128; c++, ql += 64, qh += 32, sc += 8, y += 128) {
            int sub[8] = {0};
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                sub[is] += (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32) * y[l];
                sub[is + 2] += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * y[l + 32];
                sub[is + 4] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * y[l + 64];
                sub[is + 6] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * y[l + 96];
            }
            for (int k = 0; k < 8; k++)
                sumi += sc[k] * sub[k];
        }
        s += x[i].d * half(&w[i].d) * (float)sumi;
    }
    return s;
}

void halo_pack_q4_0x8(const void *rows, size_t row_bytes, int nb, void *dst) {
    const unsigned char *src = rows;
    unsigned char *o = dst;
    for (int b = 0; b < nb; b++) {
        for (int r = 0; r < 8; r++) {
            const block_q4_0 *blk =
                (const block_q4_0 *)(const void *)(src + (size_t)r * row_bytes) + b;
            memcpy(o + 2 * r, &blk->d, 2);
            for (int c = 0; c < 4; c++)
                memcpy(o + 16 + 32 * c + 4 * r, blk->qs + 4 * c, 4);
        }
        o += 8 * sizeof(block_q4_0);
    }
}

/* The packed layout read back as eight rows' blocks: the reference of the packed kernels. */
static void ref_gemv_q4_0x8(const void *vw, const void *vx, int nb, float *out) {
    const unsigned char *w = vw;
    const act_q8_0 *x = vx;
    for (int r = 0; r < 8; r++) {
        float s = 0.0f;
        for (int b = 0; b < nb; b++) {
            const unsigned char *blk = w + (size_t)b * 8 * sizeof(block_q4_0);
            uint16_t d;
            memcpy(&d, blk + 2 * r, 2);
            int sum = 0;
            for (int c = 0; c < 4; c++)
                for (int e = 0; e < 4; e++) {
                    uint8_t q = blk[16 + 32 * c + 4 * r + e];
                    sum += ((q & 0xF) - 8) * x[b].qs[4 * c + e] +
                           ((q >> 4) - 8) * x[b].qs[16 + 4 * c + e];
                }
            s += (float)sum * (halo_fp16_to_f32(d) * x[b].d);
        }
        out[r] = s;
    }
}

void halo_pack_q4_Kx8(const void *rows, size_t row_bytes, int nb, void *dst) {
    const unsigned char *src = rows;
    unsigned char *o = dst;
    for (int b = 0; b < nb; b++, o += HALO_PACKED_Q4_K_BYTES) {
        for (int r = 0; r < 8; r++) {
            const block_q4_K *blk =
                (const block_q4_K *)(const void *)(src + (size_t)r * row_bytes) + b;
            memcpy(o + 2 * r, &blk->d, 2);
            memcpy(o + 16 + 2 * r, &blk->dmin, 2);
            for (int j = 0; j < 8; j++) {
                uint8_t sc, m;
                q4_K_scale_min(j, blk->scales, &sc, &m);
                o[32 + 8 * j + r] = sc;
                o[96 + 16 * (j / 2) + 2 * r + j % 2] = m;
            }
            for (int c = 0; c < 4; c++)
                for (int g = 0; g < 8; g++)
                    memcpy(o + 160 + 32 * (8 * c + g) + 4 * r, blk->qs + 32 * c + 4 * g, 4);
        }
    }
}

static void ref_gemv_q4_Kx8(const void *vw, const void *vx, int nb, float *out) {
    const unsigned char *w = vw;
    const act_q8_K *x = vx;
    for (int r = 0; r < 8; r++) {
        float s = 0.0f;
        for (int b = 0; b < nb; b++) {
            const unsigned char *blk = w + (size_t)b * HALO_PACKED_Q4_K_BYTES;
            uint16_t d, dmin;
            memcpy(&d, blk + 2 * r, 2);
            memcpy(&dmin, blk + 16 + 2 * r, 2);
            int sumi = 0, summ = 0;
            for (int j = 0; j < 8; j++) {
                int c = j / 2, sum = 0;
                for (int g = 0; g < 8; g++)
                    for (int e = 0; e < 4; e++) {
                        uint8_t q = blk[160 + 32 * (8 * c + g) + 4 * r + e];
                        sum += (j % 2 ? q >> 4 : q & 0xF) * x[b].qs[32 * j + 4 * g + e];
                    }
                sumi += blk[32 + 8 * j + r] * sum;
                summ += blk[96 + 16 * (j / 2) + 2 * r + j % 2] *
                        (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
            }
            s += x[b].d * halo_fp16_to_f32(d) * (float)sumi -
                 x[b].d * halo_fp16_to_f32(dmin) * (float)summ;
        }
        out[r] = s;
    }
}

static const halo_qkernels REF = {
    .isa = HALO_ISA_SCALAR,
    .name = "scalar",
    .dot_f16 = ref_dot_f16,
    .dot_q4_0 = ref_dot_q4_0,
    .dot_q8_0 = ref_dot_q8_0,
    .dot_q4_K = ref_dot_q4_K,
    .dot_q6_K = ref_dot_q6_K,
    .gemv_q4_0x8 = ref_gemv_q4_0x8,
    .gemv_q4_Kx8 = ref_gemv_q4_Kx8,
    .sum_f32 = halo_sum,
};

#if defined(__x86_64__)
/* F16C from CPUID.1:ECX (clang 14's __builtin_cpu_supports does not know "f16c"; the fuzz
   preset builds with clang). */
static int has_f16c(void) {
    /* CPUID traps to the hypervisor in a virtual machine: on this project's 2-core VM one
       call cost so much that, asked once per matrix product (halo_qkernels_best), it took
       97% of `halo calibrate` on a q4_0 model. The answer never changes: asked once. */
    static atomic_int known; /* 0: not asked yet; 1: no; 2: yes */
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (!v) {
        unsigned a, b, c, d;
        v = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) ? 2 : 1;
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v == 2;
}
#endif

const halo_qkernels *halo_qkernels_get(int isa) {
    switch (isa) {
    case HALO_ISA_SCALAR:
        return &REF;
    case HALO_ISA_AVX2:
#if defined(__x86_64__)
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())
            return halo_qkernels_avx2_table();
#endif
        return NULL;
    case HALO_ISA_NEON:
        return halo_qkernels_neon_table();
    case HALO_ISA_AVX2_VNNI:
#if defined(__x86_64__)
        if (halo_qkernels_get(HALO_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
            return halo_qkernels_avx2_vnni_table();
#endif
        return NULL;
    default:
        return NULL;
    }
}

const halo_qkernels *halo_qkernels_best(void) {
    /* asked by every matrix product: found once (a race finds the same table twice) */
    static _Atomic(const halo_qkernels *) best;
    const halo_qkernels *k = atomic_load_explicit(&best, memory_order_acquire);
    if (k)
        return k;
    k = &REF;
    for (int isa = HALO_ISA_COUNT_ - 1; isa > HALO_ISA_SCALAR; isa--) {
        const halo_qkernels *t = halo_qkernels_get(isa);
        if (t) {
            k = t;
            break;
        }
    }
    atomic_store_explicit(&best, k, memory_order_release);
    return k;
}
