/*
 * The NEON kernels of core/quant.h (aarch64, where NEON is always present). Base ARMv8-A
 * only (no dot-product extension, which the Raspberry Pi 4's Cortex-A72 lacks): 8-bit
 * products widen to 16 bits (vmull_s8), pairs add into 32-bit lanes (vpadalq_s16), so the
 * integer block sums are the reference's exactly; scaled block sums accumulate in four float
 * lanes with fused multiply-adds.
 */
#include "core/ops.h"
#include "core/quant_impl.h"

#if defined(__aarch64__)

#include <arm_neon.h>

static inline float half(const uint16_t *p) {
    uint16_t h = ld_half(p);
    float16x4_t v = vreinterpret_f16_u16(vdup_n_u16(h));
    return vgetq_lane_f32(vcvt_f32_f16(v), 0);
}

/* acc + the products of 16 signed bytes, pairwise in 32-bit lanes. */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_s8(vget_high_s8(a), vget_high_s8(b)));
}

static float neon_dot_f16(const void *w, const float *x, int n) {
    const unsigned char *p = w;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t h = vld1q_u16((const uint16_t *)(const void *)(p + 2 * i));
        float16x8_t hf = vreinterpretq_f16_u16(h);
        acc0 = vfmaq_f32(acc0, vcvt_f32_f16(vget_low_f16(hf)), vld1q_f32(x + i));
        acc1 = vfmaq_f32(acc1, vcvt_high_f32_f16(hf), vld1q_f32(x + i + 4));
    }
    return dot_f16_tail(p, x, i, n, vaddvq_f32(vaddq_f32(acc0, acc1)));
}

static float neon_dot_q4_0(const void *vw, const void *vx, int nb) {
    const block_q4_0 *w = vw;
    const act_q8_0 *x = vx;
    const uint8x16_t low = vdupq_n_u8(0xF);
    const int8x16_t eight = vdupq_n_s8(8);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < nb; i++) {
        uint8x16_t raw = vld1q_u8(w[i].qs);
        int8x16_t q0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, low)), eight);
        int8x16_t q1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight);
        int32x4_t s = vdupq_n_s32(0);
        s = dot16(s, q0, vld1q_s8(x[i].qs));
        s = dot16(s, q1, vld1q_s8(x[i].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), half(&w[i].d) * x[i].d);
    }
    return vaddvq_f32(acc);
}

static float neon_dot_q8_0(const void *vw, const void *vx, int nb) {
    const block_q8_0 *w = vw;
    const act_q8_0 *x = vx;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < nb; i++) {
        int32x4_t s = vdupq_n_s32(0);
        s = dot16(s, vld1q_s8(w[i].qs), vld1q_s8(x[i].qs));
        s = dot16(s, vld1q_s8(w[i].qs + 16), vld1q_s8(x[i].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), half(&w[i].d) * x[i].d);
    }
    return vaddvq_f32(acc);
}

static float neon_dot_q4_K(const void *vw, const void *vx, int nb) {
    const block_q4_K *w = vw;
    const act_q8_K *x = vx;
    const uint8x16_t low = vdupq_n_u8(0xF);
    float32x4_t acc = vdupq_n_f32(0.0f), acc_m = vdupq_n_f32(0.0f);
    for (int i = 0; i < nb; i++) {
        float d = x[i].d * half(&w[i].d), dmin = -x[i].d * half(&w[i].dmin);
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++)
            q4_K_scale_min(j, w[i].scales, &sc[j], &mn[j]);
        int16x8_t b0 = vld1q_s16(x[i].bsums), b1 = vld1q_s16(x[i].bsums + 8);
        int16x8_t pair = vpaddq_s16(b0, b1);
        int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
        int32x4_t prod = vmull_s16(vget_low_s16(mins), vget_low_s16(pair));
        prod = vmlal_s16(prod, vget_high_s16(mins), vget_high_s16(pair));
        acc_m = vfmaq_n_f32(acc_m, vcvtq_f32_s32(prod), dmin);

        const uint8_t *q4 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int j = 0; j < QK_K / 64; j++, q4 += 32, q8 += 64) {
            uint8x16_t r0 = vld1q_u8(q4), r1 = vld1q_u8(q4 + 16);
            int32x4_t sl = vdupq_n_s32(0), sh = vdupq_n_s32(0);
            sl = dot16(sl, vreinterpretq_s8_u8(vandq_u8(r0, low)), vld1q_s8(q8));
            sl = dot16(sl, vreinterpretq_s8_u8(vandq_u8(r1, low)), vld1q_s8(q8 + 16));
            sh = dot16(sh, vreinterpretq_s8_u8(vshrq_n_u8(r0, 4)), vld1q_s8(q8 + 32));
            sh = dot16(sh, vreinterpretq_s8_u8(vshrq_n_u8(r1, 4)), vld1q_s8(q8 + 48));
            sumi = vmlaq_n_s32(sumi, sl, sc[2 * j]);
            sumi = vmlaq_n_s32(sumi, sh, sc[2 * j + 1]);
        }
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(sumi), d);
    }
    return vaddvq_f32(acc) + vaddvq_f32(acc_m);
}

static float neon_dot_q6_K(const void *vw, const void *vx, int nb) {
    const block_q6_K *w = vw;
    const act_q8_K *x = vx;
    const uint8x16_t low = vdupq_n_u8(0xF), three = vdupq_n_u8(3);
    const int8x16_t m32 = vdupq_n_s8(32);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < nb; i++) {
        float d = x[i].d * half(&w[i].d);
        const uint8_t *ql = w[i].ql, *qh = w[i].qh;
        const int8_t *sc = w[i].scales, *q8 = x[i].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int c = 0; c < QK_K / 128; c++, ql += 64, qh += 32, sc += 8, q8 += 128) {
            for (int half16 = 0; half16 < 2; half16++) { /* weights l = 16 * half16 .. + 15 */
                int o = 16 * half16;
                uint8x16_t l0 = vld1q_u8(ql + o), l1 = vld1q_u8(ql + 32 + o);
                uint8x16_t h = vld1q_u8(qh + o);
                uint8x16_t u0 = vorrq_u8(vandq_u8(l0, low), vshlq_n_u8(vandq_u8(h, three), 4));
                uint8x16_t u1 =
                    vorrq_u8(vandq_u8(l1, low), vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 2), three), 4));
                uint8x16_t u2 =
                    vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 4), three), 4));
                uint8x16_t u3 = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(h, 6), 4));
                int32x4_t s0 =
                    dot16(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(u0), m32), vld1q_s8(q8 + o));
                int32x4_t s1 = dot16(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(u1), m32),
                                     vld1q_s8(q8 + 32 + o));
                int32x4_t s2 = dot16(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(u2), m32),
                                     vld1q_s8(q8 + 64 + o));
                int32x4_t s3 = dot16(vdupq_n_s32(0), vsubq_s8(vreinterpretq_s8_u8(u3), m32),
                                     vld1q_s8(q8 + 96 + o));
                sumi = vmlaq_n_s32(sumi, s0, sc[half16]);
                sumi = vmlaq_n_s32(sumi, s1, sc[2 + half16]);
                sumi = vmlaq_n_s32(sumi, s2, sc[4 + half16]);
                sumi = vmlaq_n_s32(sumi, s3, sc[6 + half16]);
            }
        }
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(sumi), d);
    }
    return vaddvq_f32(acc);
}

static const halo_qkernels NEON = {
    .isa = HALO_ISA_NEON,
    .name = "neon",
    .dot_f16 = neon_dot_f16,
    .dot_q4_0 = neon_dot_q4_0,
    .dot_q8_0 = neon_dot_q8_0,
    .dot_q4_K = neon_dot_q4_K,
    .dot_q6_K = neon_dot_q6_K,
    .gemv_q4_0x8 = NULL,
    .gemv_q4_Kx8 = NULL,
    .sum_f32 = halo_sum, /* 16-byte vectors: NEON's width */
};

const halo_qkernels *halo_qkernels_neon_table(void) {
    return &NEON;
}

#else

const halo_qkernels *halo_qkernels_neon_table(void) {
    return NULL;
}

#endif
