/*
 * Internal to core/quant*.c: the block layouts of core/quant.h as C structs, and the kernel
 * tables of each instruction set. Not for use outside the quant module.
 */
#ifndef HALO_QUANT_IMPL_H
#define HALO_QUANT_IMPL_H

#include "core/quant.h"

#include <stdint.h>
#include <string.h>

enum {
    QK4_0 = 32,
    QK8_0 = 32,
    QK_K = 256,
    K_SCALE_BYTES = 12
};

/* Weight blocks (GGML's layouts). Halves are read with ld_half: a block is 2-byte aligned
   in a well-formed file, but a column window or an odd file alignment need not be. */
typedef struct block_q4_0 {
    uint16_t d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;

typedef struct block_q8_0 {
    uint16_t d;
    int8_t qs[QK8_0];
} block_q8_0;

typedef struct block_q4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_BYTES];
    uint8_t qs[QK_K / 2];
} block_q4_K;

typedef struct block_q6_K {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_K;

/* Activation blocks (halo's own: a float scale saves a conversion per block). */
typedef struct act_q8_0 {
    float d;
    int32_t sum8; /* 8 * the sum of qs: the offset of Q4_0's levels (q - 8), for kernels that
                     multiply the unsigned levels */
    int8_t qs[QK8_0];
} act_q8_0;

typedef struct act_q8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} act_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(act_q8_0) == 40, "q8_0 activation block");
_Static_assert(sizeof(act_q8_K) == 292, "q8_K activation block");

static inline uint16_t ld_half(const uint16_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Element i of the F16 vector at p (any alignment) as a float; the conversion is exact. */
static inline float f16_at(const unsigned char *p, int64_t i) {
    uint16_t h;
    memcpy(&h, p + 2 * i, sizeof h);
    return halo_fp16_to_f32(h);
}

/* s plus the products of the F16 weights p[i..n) with x[i..n), added one at a time in
   order: the scalar tail of every F16 dot kernel (after its vector or unrolled steps). */
static inline float dot_f16_tail(const unsigned char *p, const float *x, int i, int n, float s) {
    for (; i < n; i++)
        s += f16_at(p, i) * x[i];
    return s;
}

/* Sub-block j's 6-bit scale and minimum of a Q4_K block (GGML's packing). */
static inline void q4_K_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The tables of the SIMD files (NULL when the build has none). */
const halo_qkernels *halo_qkernels_avx2_table(void);
const halo_qkernels *halo_qkernels_avx2_vnni_table(void);
const halo_qkernels *halo_qkernels_neon_table(void);

#endif /* HALO_QUANT_IMPL_H */
