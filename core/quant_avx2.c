/*
 * The AVX2 + FMA + F16C kernels of core/quant.h (x86-64). The whole file is compiled for
 * those extensions (the pragma below), and nothing in it runs unless halo_qkernels_get found
 * them on the processor. Each kernel computes the reference's integer block sums exactly
 * (8-bit products summed in 16-bit pairs that cannot overflow, then in 32-bit lanes) and
 * accumulates the scaled block sums in eight float lanes with fused multiply-adds. Every
 * kernel clears the upper halves of the vector registers before it returns (the compiler
 * inserts that only at -O2): callers run SSE code and libm, which dirty upper halves slow.
 */
#include "core/quant_impl.h"

#if defined(__x86_64__)

/* clang (the fuzz preset) ignores GCC's target pragmas: its own attribute pragma, after the
   intrinsics' header, does the same. */
#if defined(__clang__)
#include <immintrin.h>
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,f16c")

#include <immintrin.h>
#endif

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hsum4(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float half(const uint16_t *p) {
    return _cvtsh_ss(ld_half(p));
}

/* Signed 8-bit x signed 8-bit products, summed to eight 32-bit lanes (|x| <= 128 handled:
   _mm256_sign_epi8 of -128 is 0x80, read as 128 by maddubs). */
static inline __m256i dot_i8(__m256i x, __m256i y) {
    __m256i ax = _mm256_sign_epi8(x, x);
    __m256i sy = _mm256_sign_epi8(y, x);
    __m256i p16 = _mm256_maddubs_epi16(ax, sy);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

static float avx2_dot_f16(const void *w, const float *x, int n) {
    const unsigned char *p = w;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i)));
        __m256 w1 =
            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i + 16)));
        acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
    }
    float s = dot_f16_tail(p, x, i, n, hsum8(_mm256_add_ps(acc0, acc1)));
    _mm256_zeroupper();
    return s;
}

/* One Q4_0 block's levels as 32 unsigned bytes (0..15), element order. */
static inline __m256i q4_0_levels(const block_q4_0 *b) {
    __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)b->qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0xF));
}

/* Sum of (q - 8) * y over one block, spread over eight 32-bit lanes: the unsigned levels
   multiply the activations directly (maddubs: at most 2 * 15 * 127 per pair, no saturation)
   and 8 * sum(y), stored with the activations, comes off lane 0. */
static inline __m256i q4_0_block(const void *vw, const act_q8_0 *x) {
    __m256i y = _mm256_loadu_si256((const __m256i *)(const void *)x->qs);
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q4_0_levels(vw), y), _mm256_set1_epi16(1));
    return _mm256_sub_epi32(p, _mm256_castsi128_si256(_mm_cvtsi32_si128(x->sum8)));
}

/* Sum of q * y over one Q8_0 block, spread over eight 32-bit lanes. */
static inline __m256i q8_0_block(const void *vw, const act_q8_0 *x) {
    const block_q8_0 *w = vw;
    return dot_i8(_mm256_loadu_si256((const __m256i *)(const void *)w->qs),
                  _mm256_loadu_si256((const __m256i *)(const void *)x->qs));
}

/* The integer sums of one weight block at w with its activations x, spread over eight
   32-bit lanes (q4_0_block, q8_0_block). */
typedef __m256i q_0_block_fn(const void *w, const act_q8_0 *x);

/* acc plus the block at w's integer sums times its half scale (the first two bytes of Q4_0
   and Q8_0 blocks) times the activations' scale. */
static inline __m256 q_0_block_acc(const unsigned char *w, const act_q8_0 *x, q_0_block_fn *sums,
                                   __m256 acc) {
    float d = half((const uint16_t *)(const void *)w) * x->d;
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sums(w, x)), acc);
}

/* The dot of nb weight blocks of block_bytes each (Q4_0 or Q8_0, by `sums`) with their
   activations. Two blocks per step into two accumulators: the fused multiply-adds of
   consecutive blocks do not wait for each other. Inlined into each kernel; at -O2 `sums`
   is inlined too. */
static inline float dot_q_0(const void *vw, size_t block_bytes, const act_q8_0 *x, int nb,
                            q_0_block_fn *sums) {
    const unsigned char *w = vw;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        acc0 = q_0_block_acc(w + (size_t)i * block_bytes, &x[i], sums, acc0);
        acc1 = q_0_block_acc(w + (size_t)(i + 1) * block_bytes, &x[i + 1], sums, acc1);
    }
    if (i < nb)
        acc0 = q_0_block_acc(w + (size_t)i * block_bytes, &x[i], sums, acc0);
    float s = hsum8(_mm256_add_ps(acc0, acc1));
    _mm256_zeroupper();
    return s;
}

static float avx2_dot_q4_0(const void *vw, const void *vx, int nb) {
    return dot_q_0(vw, sizeof(block_q4_0), vx, nb, q4_0_block);
}

static float avx2_dot_q8_0(const void *vw, const void *vx, int nb) {
    return dot_q_0(vw, sizeof(block_q8_0), vx, nb, q8_0_block);
}

/* A Q4_K block's eight 6-bit scales and eight 6-bit mins as 16 bytes (scales first), by
   word operations on the 12 packed bytes (the same values as q4_K_scale_min). */
static inline __m128i q4_K_scales_mins(const uint8_t *packed) {
    uint32_t u[4];
    memcpy(u, packed, 12);
    const uint32_t m6 = 0x3f3f3f3fu, m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    u[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);
    uint32_t mins_lo = u[1] & m6;
    u[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);
    u[2] = mins_lo;
    u[0] &= m6;
    return _mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]);
}

static float avx2_dot_q4_K(const void *vw, const void *vx, int nb) {
    const block_q4_K *w = vw;
    const act_q8_K *x = vx;
    const __m256i low = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int i = 0; i < nb; i++) {
        float d = x[i].d * half(&w[i].d), dmin = -x[i].d * half(&w[i].dmin);
        __m256i sm = _mm256_cvtepu8_epi16(q4_K_scales_mins(w[i].scales)); /* 8 scales, 8 mins */
        /* The minimums: sum over sub-blocks of m_j times the activation sum of its 32. */
        __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)x[i].bsums);
        __m128i pair = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), pair);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
        /* Scale j broadcast to every 16-bit lane: shuffle its two bytes everywhere. */
        __m128i sc128 = _mm256_castsi256_si128(sm);
        __m256i scales = _mm256_set_m128i(sc128, sc128);
        const uint8_t *q4 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < QK_K / 64; j++, q4 += 32, q8 += 64) {
            __m256i sl =
                _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(0x0100 + 0x0202 * 2 * j)));
            __m256i sh = _mm256_shuffle_epi8(
                scales, _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * j + 1))));
            __m256i bits = _mm256_loadu_si256((const __m256i *)(const void *)q4);
            __m256i ql = _mm256_and_si256(bits, low);
            __m256i qh = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low);
            __m256i yl = _mm256_loadu_si256((const __m256i *)(const void *)q8);
            __m256i yh = _mm256_loadu_si256((const __m256i *)(const void *)(q8 + 32));
            __m256i pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(ql, yl));
            __m256i ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(qh, yh));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    float s = hsum8(acc) + hsum4(acc_m);
    _mm256_zeroupper();
    return s;
}

/* Two 16-bit scales: lanes 0..7 get a, lanes 8..15 get b (the two 16-weight sub-blocks of a
   32-byte vector's maddubs result). */
static inline __m256i two_scales(int8_t a, int8_t b) {
    return _mm256_set_m128i(_mm_set1_epi16(b), _mm_set1_epi16(a));
}

static float avx2_dot_q6_K(const void *vw, const void *vx, int nb) {
    const block_q6_K *w = vw;
    const act_q8_K *x = vx;
    const __m256i low = _mm256_set1_epi8(0xF), three = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        float d = x[i].d * half(&w[i].d);
        const uint8_t *ql = w[i].ql, *qh = w[i].qh;
        const int8_t *sc = w[i].scales, *q8 = x[i].qs;
        /* The -32 offset: 32 * sum over sub-blocks of sc_s times the activation sum of its 16. */
        __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)x[i].bsums);
        __m256i scs = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)sc));
        __m256i off = _mm256_madd_epi16(bs, scs);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < QK_K / 128; c++, ql += 64, qh += 32, sc += 8, q8 += 128) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32));
            __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)qh);
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, low),
                                         _mm256_slli_epi16(_mm256_and_si256(h, three), 4));
            __m256i q1 = _mm256_or_si256(
                _mm256_and_si256(l1, low),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), three), 4));
            __m256i q2 = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), three), 4));
            __m256i q3 = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), three), 4));
            __m256i p0 =
                _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)(const void *)q8));
            __m256i p1 = _mm256_maddubs_epi16(
                q1, _mm256_loadu_si256((const __m256i *)(const void *)(q8 + 32)));
            __m256i p2 = _mm256_maddubs_epi16(
                q2, _mm256_loadu_si256((const __m256i *)(const void *)(q8 + 64)));
            __m256i p3 = _mm256_maddubs_epi16(
                q3, _mm256_loadu_si256((const __m256i *)(const void *)(q8 + 96)));
            p0 = _mm256_madd_epi16(two_scales(sc[0], sc[1]), p0);
            p1 = _mm256_madd_epi16(two_scales(sc[2], sc[3]), p1);
            p2 = _mm256_madd_epi16(two_scales(sc[4], sc[5]), p2);
            p3 = _mm256_madd_epi16(two_scales(sc[6], sc[7]), p3);
            sumi = _mm256_add_epi32(
                sumi, _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3)));
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(off, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    float s = hsum8(acc);
    _mm256_zeroupper();
    return s;
}

/* ==== What the packed kernels of both instruction sets share ==== */

/* Four activations p[0..3] broadcast to every 32-bit lane. */
static inline __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* One Q4_0x8 block's eight row sums (the levels' products with the activations, 8 * sum(y)
   not yet taken off) scaled by the rows' and the activations' scales, added to acc. */
static inline __m256 q4_0x8_block_acc(const unsigned char *w, const act_q8_0 *xb, __m256i sum,
                                      __m256 acc) {
    sum = _mm256_sub_epi32(sum, _mm256_set1_epi32(xb->sum8));
    __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)w)),
                             _mm256_set1_ps(xb->d));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), d, acc);
}

/* sumi plus the 32-bit sums lo and hi of run c's two sub-blocks times the eight rows' scales
   of those sub-blocks. */
static inline __m256i q4_Kx8_scaled(const unsigned char *w, int c, __m256i lo, __m256i hi,
                                    __m256i sumi) {
    __m256i sl =
        _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(w + 32 + 16 * c)));
    __m256i sh =
        _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(w + 40 + 16 * c)));
    sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(lo, sl));
    return _mm256_add_epi32(sumi, _mm256_mullo_epi32(hi, sh));
}

/* One Q4_Kx8 block's scaled sums sumi times the rows' and the activations' scales, less the
   rows' minimums times the activations' sums of each sub-block pair (one madd per pair),
   added to acc. */
static inline __m256 q4_Kx8_block_acc(const unsigned char *w, const act_q8_K *xb, __m256i sumi,
                                      __m256 acc) {
    __m256i summ = _mm256_setzero_si256();
    for (int i = 0; i < 4; i++) {
        int16_t pair[2] = {(int16_t)(xb->bsums[4 * i] + xb->bsums[4 * i + 1]),
                           (int16_t)(xb->bsums[4 * i + 2] + xb->bsums[4 * i + 3])};
        int32_t p32;
        memcpy(&p32, pair, 4);
        __m256i mins =
            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(w + 96 + 16 * i)));
        summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mins, _mm256_set1_epi32(p32)));
    }
    __m256 dy = _mm256_set1_ps(xb->d);
    __m256 d =
        _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)w)), dy);
    __m256 dm = _mm256_mul_ps(
        _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(w + 16))), dy);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), d, acc);
    return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(summ), dm, acc);
}

/* The levels of eight packed rows at p (32 bytes, four per row: lane k for row k), as
   unsigned bytes 0..15: the low nibbles into *lo, the high nibbles into *hi. */
static inline void q4x8_levels(const unsigned char *p, __m256i *lo, __m256i *hi) {
    const __m256i low = _mm256_set1_epi8(0xF);
    __m256i raw = _mm256_loadu_si256((const __m256i *)(const void *)p);
    *lo = _mm256_and_si256(raw, low);
    *hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
}

/* One Q4_0x8 block's eight integer row sums with its 32 activations y (8 * sum(y) not yet
   taken off), lane k for row k: the step in which the instruction sets differ. */
typedef __m256i q4_0x8_sums_fn(const unsigned char *w, const int8_t *y);

/* Eight packed Q4_0 rows at once: lane k of every vector belongs to row k. Per block, the
   rows' integer sums come from `sums`; 8 * sum(y) comes off every lane; the eight rows'
   scales convert as one vector. Each row's blocks add in order, one fused multiply-add per
   block, as the reference does. Inlined into each instruction set's kernel; at -O2 `sums`
   is inlined too. */
static inline void gemv_q4_0x8(const void *vw, const void *vx, int nb, float *out,
                               q4_0x8_sums_fn *sums) {
    const unsigned char *w = vw;
    const act_q8_0 *x = vx;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, w += 8 * sizeof(block_q4_0))
        acc = q4_0x8_block_acc(w, &x[b], sums(w, x[b].qs), acc);
    _mm256_storeu_ps(out, acc);
    _mm256_zeroupper();
}

/* Run c of a Q4_Kx8 block (32 bytes of each row: two sub-blocks) with the block's 256
   activations y: the eight rows' 32-bit sums of the first sub-block into *lo and of the
   second into *hi, lane k for row k. The step in which the instruction sets differ. */
typedef void q4_Kx8_run_fn(const unsigned char *w, int c, const int8_t *y, __m256i *lo,
                           __m256i *hi);

/* Eight packed Q4_K rows at once, lane k for row k. Per run of each block, the two
   sub-blocks' sums from `run` times the eight rows' scales of those sub-blocks; then the
   minimums: the rows' mins of two sub-blocks times the activations' sums of those
   sub-blocks, one madd per pair (q4_Kx8_block_acc). Inlined as gemv_q4_0x8 is. */
static inline void gemv_q4_Kx8(const void *vw, const void *vx, int nb, float *out,
                               q4_Kx8_run_fn *run) {
    const unsigned char *w = vw;
    const act_q8_K *x = vx;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, w += HALO_PACKED_Q4_K_BYTES) {
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i lo, hi;
            run(w, c, x[b].qs, &lo, &hi);
            sumi = q4_Kx8_scaled(w, c, lo, hi, sumi);
        }
        acc = q4_Kx8_block_acc(w, &x[b], sumi, acc);
    }
    _mm256_storeu_ps(out, acc);
    _mm256_zeroupper();
}

/* AVX2: per 32-byte load of a Q4_0x8 block, the levels (low and high nibbles) each multiply
   one broadcast group of four activations; the two products add in 16 bits, then into
   32-bit lanes. */
static inline __m256i avx2_q4_0x8_sums(const unsigned char *w, const int8_t *y) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i sum = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i lo, hi;
        q4x8_levels(w + 16 + 32 * c, &lo, &hi);
        __m256i plo = _mm256_maddubs_epi16(lo, bcast4(y + 4 * c));
        __m256i phi = _mm256_maddubs_epi16(hi, bcast4(y + 16 + 4 * c));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_add_epi16(plo, phi), ones));
    }
    return sum;
}

/* AVX2: eight loads give all eight rows' levels of run c's two sub-blocks; each group of
   four levels multiplies one broadcast group of four activations, the eight products of a
   sub-block add in 16 bits (at most 8 * 2 * 15 * 127 = 30480), then into 32-bit lanes. */
static inline void avx2_q4_Kx8_run(const unsigned char *w, int c, const int8_t *y, __m256i *lo,
                                   __m256i *hi) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i slo = _mm256_setzero_si256(), shi = _mm256_setzero_si256();
    for (int g = 0; g < 8; g++) {
        __m256i ql, qh;
        q4x8_levels(w + 160 + 32 * (8 * c + g), &ql, &qh);
        slo = _mm256_add_epi16(slo, _mm256_maddubs_epi16(ql, bcast4(y + 64 * c + 4 * g)));
        shi = _mm256_add_epi16(shi, _mm256_maddubs_epi16(qh, bcast4(y + 64 * c + 32 + 4 * g)));
    }
    *lo = _mm256_madd_epi16(slo, ones);
    *hi = _mm256_madd_epi16(shi, ones);
}

static void avx2_gemv_q4_0x8(const void *vw, const void *vx, int nb, float *out) {
    gemv_q4_0x8(vw, vx, nb, out, avx2_q4_0x8_sums);
}

static void avx2_gemv_q4_Kx8(const void *vw, const void *vx, int nb, float *out) {
    gemv_q4_Kx8(vw, vx, nb, out, avx2_q4_Kx8_run);
}

/* Four 32-byte loads per step into four accumulators, then a scalar tail. */
static float avx2_sum_f32(const float *x, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    }
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        s += x[i];
    _mm256_zeroupper();
    return s;
}

/*
 * The packed kernels again with AVX-512 VNNI's vpdpbusd on 256-bit vectors (AVX512VL): one
 * instruction multiplies four unsigned levels with four signed activations and adds them to
 * a 32-bit lane, where AVX2 needs maddubs, an add and a madd. The integer sums are exact in
 * both (AVX2's 16-bit partial sums cannot saturate: see above), and the float operations are
 * the same in the same order, so the results equal the AVX2 kernels' bit for bit.
 */
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")
#endif

/* VNNI: one vpdpbusd per 32-byte load and nibble half of a Q4_0x8 block. */
static inline __m256i vnni_q4_0x8_sums(const unsigned char *w, const int8_t *y) {
    __m256i sum = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i lo, hi;
        q4x8_levels(w + 16 + 32 * c, &lo, &hi);
        sum = _mm256_dpbusd_epi32(sum, lo, bcast4(y + 4 * c));
        sum = _mm256_dpbusd_epi32(sum, hi, bcast4(y + 16 + 4 * c));
    }
    return sum;
}

/* VNNI: run c's two sub-blocks summed straight into 32-bit lanes, one vpdpbusd per load and
   sub-block. */
static inline void vnni_q4_Kx8_run(const unsigned char *w, int c, const int8_t *y, __m256i *lo,
                                   __m256i *hi) {
    __m256i slo = _mm256_setzero_si256(), shi = _mm256_setzero_si256();
    for (int g = 0; g < 8; g++) {
        __m256i ql, qh;
        q4x8_levels(w + 160 + 32 * (8 * c + g), &ql, &qh);
        slo = _mm256_dpbusd_epi32(slo, ql, bcast4(y + 64 * c + 4 * g));
        shi = _mm256_dpbusd_epi32(shi, qh, bcast4(y + 64 * c + 32 + 4 * g));
    }
    *lo = slo;
    *hi = shi;
}

static void vnni_gemv_q4_0x8(const void *vw, const void *vx, int nb, float *out) {
    gemv_q4_0x8(vw, vx, nb, out, vnni_q4_0x8_sums);
}

static void vnni_gemv_q4_Kx8(const void *vw, const void *vx, int nb, float *out) {
    gemv_q4_Kx8(vw, vx, nb, out, vnni_q4_Kx8_run);
}

#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC pop_options
#endif

/* The AVX2 kernels' table with the packed kernels given (the VNNI table differs in those). */
#define AVX2_TABLE(isa_, name_, gemv_q4_0x8_, gemv_q4_Kx8_)                                    \
    {                                                                                          \
        .isa = (isa_), .name = (name_), .dot_f16 = avx2_dot_f16, .dot_q4_0 = avx2_dot_q4_0,    \
        .dot_q8_0 = avx2_dot_q8_0, .dot_q4_K = avx2_dot_q4_K, .dot_q6_K = avx2_dot_q6_K,       \
        .gemv_q4_0x8 = (gemv_q4_0x8_), .gemv_q4_Kx8 = (gemv_q4_Kx8_), .sum_f32 = avx2_sum_f32, \
    }

static const halo_qkernels AVX2 =
    AVX2_TABLE(HALO_ISA_AVX2, "avx2", avx2_gemv_q4_0x8, avx2_gemv_q4_Kx8);

const halo_qkernels *halo_qkernels_avx2_table(void) {
    return &AVX2;
}

static const halo_qkernels AVX2_VNNI =
    AVX2_TABLE(HALO_ISA_AVX2_VNNI, "avx2+vnni", vnni_gemv_q4_0x8, vnni_gemv_q4_Kx8);

const halo_qkernels *halo_qkernels_avx2_vnni_table(void) {
    return &AVX2_VNNI;
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else

const halo_qkernels *halo_qkernels_avx2_table(void) {
    return NULL;
}

const halo_qkernels *halo_qkernels_avx2_vnni_table(void) {
    return NULL;
}

#endif
