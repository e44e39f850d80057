/*
 * Weight storage types and their kernels: the block formats of GGUF files (GGML's F32, F16,
 * Q4_0, Q8_0, Q4_K and Q6_K), conversion to and from float32, and the dot products of a
 * quantised weight row with an activation vector that is itself quantised to 8 bits per
 * block (as llama.cpp does: the integer products inside a block are exact, one float
 * multiply-add per block).
 *
 * Block formats (little-endian, packed; `d`, `dmin` are IEEE half floats):
 *   Q4_0  32 weights, 18 bytes: d, 16 bytes; byte j holds weight j in its low nibble and
 *         weight j + 16 in its high one; w = d * (q - 8).
 *   Q8_0  32 weights, 34 bytes: d, 32 int8 q; w = d * q.
 *   Q4_K  256 weights, 144 bytes: d, dmin, 12 bytes of eight 6-bit scales and eight 6-bit
 *         mins, 128 bytes of nibbles; sub-block j (32 weights) is w = d * sc_j * q - dmin *
 *         m_j; bytes 32c..32c+31 hold sub-block 2c in their low nibbles, 2c+1 in the high.
 *   Q6_K  256 weights, 210 bytes: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs,
 *         16 int8 scales (one per 16 weights), d; w = d * sc * (q - 32), q in 0..63.
 * Activations are quantised per block of 32 (for Q4_0 and Q8_0 weights: scale, 32 int8) or of
 * 256 (for the K types: scale, 256 int8, and the sums of each 16), with GGML's rounding and
 * scales (the 32-block scale is kept at half precision), so that halo's products equal
 * llama.cpp's up to the order of float additions.
 *
 * Kernels come in tables: the scalar reference (always), AVX2+FMA+F16C on x86-64 and NEON
 * on aarch64 (chosen at run time from what the processor reports). The SIMD kernels compute
 * the same integer block sums and differ from the reference only in the order of the float
 * additions across blocks; tests/test_quant.c bounds that difference. Activation
 * quantisation is one portable function, identical bit for bit everywhere. A kernel's result
 * depends only on its inputs, never on which thread runs it.
 *
 * This module holds no state and allocates nothing.
 */
#ifndef HALO_QUANT_H
#define HALO_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* Storage types; the numbers are GGML's (the tensor type field of a GGUF file). */
enum halo_type {
    HALO_TYPE_F32 = 0,
    HALO_TYPE_F16 = 1,
    HALO_TYPE_Q4_0 = 2,
    HALO_TYPE_Q8_0 = 8,
    HALO_TYPE_Q4_K = 12,
    HALO_TYPE_Q6_K = 14,
};

/* Activation formats (what a type's dot product multiplies with). */
enum halo_act_format {
    HALO_ACT_F32 = 0,  /* float32 as it is (F32, F16 weights) */
    HALO_ACT_Q8_0 = 1, /* 8-bit blocks of 32 (Q4_0, Q8_0 weights) */
    HALO_ACT_Q8_K = 2, /* 8-bit blocks of 256 with sums of 16 (Q4_K, Q6_K weights) */
    HALO_ACT_FORMAT_COUNT_ = 3
};

/* 1 when halo computes with `type` (one of enum halo_type), else 0. */
int halo_type_supported(int type);

/* "f32", "f16", "q4_0", "q8_0", "q4_K", "q6_K"; for other GGML types their GGML name, or
   "unknown". Never NULL. */
const char *halo_type_name(int type);

/* The type named `name` (case-insensitive; "q4_k" = "q4_K"), or -1. */
int halo_type_from_name(const char *name);

/*
 * Weights per block and bytes per block of GGML type `type`, including types halo does not
 * compute with (so a file's layout can be checked and its types named); 0 for a type number
 * GGML does not define (or that halo does not know).
 */
int halo_type_block(int type);
size_t halo_type_block_bytes(int type);

/* Bytes of a row of n weights (n a multiple of the block). */
size_t halo_type_row_bytes(int type, int64_t n);

/* The activation format of a supported type. */
int halo_type_act_format(int type);

/* Bytes of n activations (n a multiple of the format's block, or any n for F32) quantised
   in `format`. */
size_t halo_act_bytes(int format, int n);

/* Elements per block of an activation format (1, 32, 256). */
int halo_act_block(int format);

/* IEEE half <-> float32 (round to nearest even; NaN and infinities kept). */
float halo_fp16_to_f32(uint16_t h);
uint16_t halo_f32_to_fp16(float f);

/* Converts n weights of `type` (n a multiple of the block) at src into float32 at dst. */
void halo_dequantize_row(int type, const void *src, float *dst, int64_t n);

/*
 * Quantises n floats (n a multiple of the type's block) into `type` at dst, halo_type_row_bytes
 * bytes. Q4_0 and Q8_0 follow GGML's reference rounding; Q4_K fits each sub-block's scale
 * and minimum by least squares, Q6_K each sub-block's scale by the largest magnitude: valid
 * files of those types, not GGML's bit-exact choices.
 */
void halo_quantize_row(int type, const float *src, void *dst, int64_t n);

/* Quantises n activations into `format` (n a multiple of its block). */
void halo_act_quantize(int format, const float *x, void *dst, int n);

/* Processor instruction sets a kernel table may use. */
enum halo_isa {
    HALO_ISA_SCALAR = 0,
    HALO_ISA_AVX2 = 1, /* x86-64 with AVX2, FMA and F16C */
    HALO_ISA_NEON = 2, /* aarch64 */
    HALO_ISA_COUNT_ = 3
};

/*
 * Dot products of `nb` blocks of a weight row with the matching blocks of an activation
 * vector quantised in the weight type's activation format (f16: n floats, any n).
 */
typedef struct halo_qkernels {
    int isa; /* enum halo_isa */
    const char *name;
    float (*dot_f16)(const void *w, const float *x, int n);
    float (*dot_q4_0)(const void *w, const void *xq, int nb);
    float (*dot_q8_0)(const void *w, const void *xq, int nb);
    float (*dot_q4_K)(const void *w, const void *xq, int nb);
    float (*dot_q6_K)(const void *w, const void *xq, int nb);
    /* Eight Q4_0 rows packed by halo_pack_q4_0x8 (nb blocks each) times Q8_0 activations:
       out[0..8). NULL when the table has no such kernel. */
    void (*gemv_q4_0x8)(const void *w, const void *xq, int nb, float *out);
    /* The same for eight Q4_K rows packed by halo_pack_q4_Kx8, Q8_K activations. */
    void (*gemv_q4_Kx8)(const void *w, const void *xq, int nb, float *out);
    /* The sum of n floats, read with the widest loads the table uses (any order of additions):
       the memory read bandwidth probe of halo bench, so that a model's kernels are not
       compared with a narrower reader than their own. */
    float (*sum_f32)(const float *x, size_t n);
} halo_qkernels;

/* Bytes of eight rows' block (Q4_0: 8 x 18) or super-block (Q4_K: 1184) when packed. */
enum {
    HALO_PACKED_Q4_0_BYTES = 144,
    HALO_PACKED_Q4_K_BYTES = 1184
};

/*
 * Eight Q4_0 rows of nb blocks each (row r at rows + r * row_bytes) interleaved into dst
 * (8 * 18 * nb bytes), block by block: the eight half-float scales, then four 32-byte chunks
 * whose 32-bit lane k holds bytes 4c..4c+3 of row k's block (levels of weights 4c..4c+3 in
 * the low nibbles, 16+4c.. in the high ones). A kernel then dots all eight rows with one
 * broadcast of four activations per lane.
 */
void halo_pack_q4_0x8(const void *rows, size_t row_bytes, int nb, void *dst);

/*
 * Eight Q4_K rows of nb super-blocks interleaved into dst (1184 bytes per super-block): the
 * eight d, the eight dmin (halves), the 6-bit scales unpacked to bytes by sub-block then row
 * (64), the mins by pair of sub-blocks, row, then sub-block (64), and the levels as 32 chunks
 * of 32 bytes, chunk (c, g) holding bytes 4g..4g+3 of row k's 32-byte run c in lane k.
 */
void halo_pack_q4_Kx8(const void *rows, size_t row_bytes, int nb, void *dst);

/* The kernels of `isa`, or NULL when this build or this processor lacks it. */
const halo_qkernels *halo_qkernels_get(int isa);

/* The fastest table this processor runs (SIMD when available, else the reference). */
const halo_qkernels *halo_qkernels_best(void);

#endif /* HALO_QUANT_H */
