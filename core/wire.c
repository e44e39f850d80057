/*
 * Wire format encoding and decoding. Fields are written byte by byte, so the format is
 * little-endian on every host and no struct layout is ever sent.
 */
#include "core/wire.h"

#include "core/bytes.h"
#include "core/quant.h"

#include <math.h>
#include <string.h>
#include <zlib.h>

_Static_assert(HALO_WIRE_HEADER_BYTES == 36, "the header layout is fixed");
_Static_assert(sizeof(float) == 4, "binary32 floats");

/* zlib's CRC-32 (the same polynomial and conventions; tables of several bytes at a time) */
uint32_t halo_crc32(uint32_t crc, const void *data, size_t n) {
    return (uint32_t)crc32_z(crc, data, n);
}

/* ==== Messages ==== */

/* The payload encoding without the flags. */
static int base_encoding(unsigned encoding) {
    return (int)(encoding & ~(unsigned)(HALO_WIRE_ELIDED | HALO_WIRE_ANSWER_TWICE));
}

/* The encoding of the values a message carries: -1 when elided. */
static int values_encoding(unsigned encoding) {
    return (encoding & HALO_WIRE_ELIDED) ? -1 : base_encoding(encoding);
}

static size_t payload_bytes(int encoding, uint32_t n_values) {
    if (encoding & HALO_WIRE_ELIDED)
        return 0;
    encoding = base_encoding((unsigned)encoding);
    if (encoding == HALO_ENCODING_F32)
        return (size_t)n_values * 4;
    return ((size_t)n_values + HALO_WIRE_Q8_BLOCK - 1) / HALO_WIRE_Q8_BLOCK *
           HALO_WIRE_Q8_BLOCK_BYTES;
}

size_t halo_wire_size(int encoding, unsigned n_groups, uint32_t n_values) {
    return HALO_WIRE_HEADER_BYTES + 2 * (size_t)n_groups + payload_bytes(encoding, n_values);
}

size_t halo_wire_charged_size(const void *buf, size_t len) {
    const unsigned char *p = buf;
    if (len < HALO_WIRE_HEADER_BYTES || memcmp(p, "HALO", 4) != 0 || !(p[7] & HALO_WIRE_ELIDED) ||
        (p[7] & ~HALO_WIRE_ELIDED) >= HALO_ENCODING_COUNT_)
        return len;
    uint32_t n_values = halo_get_u32(p + 24);
    if (n_values > HALO_WIRE_MAX_VALUES)
        return len;
    return halo_wire_size(p[7] & ~HALO_WIRE_ELIDED, halo_get_u16(p + 22), n_values);
}

static int encoding_ok(unsigned encoding) {
    return base_encoding(encoding) < HALO_ENCODING_COUNT_;
}

enum {
    FP16_EXP_MASK = 0x7c00,  /* binary16's exponent bits: all set is infinity or NaN */
    FP16_MAX_FINITE = 0x7bff /* 65504 */
};

/* The nearest integer to x, halves away from zero (roundf's rule), for |x| <= 127: written
   out, since a call to libm's roundf, fmaxf and fminf per value was 5% of a root's CPU on the
   TinyLlama-shaped model (issue 15; perf). x - trunc(x) is exact for such x. */
static inline int round_q8(float x) {
    int i = (int)x; /* toward zero */
    float f = x - (float)i;
    return i + (f >= 0.5f) - (f <= -0.5f);
}

static void encode_q8(unsigned char *p, const float *v, uint32_t n) {
    for (uint32_t b = 0; b < n; b += HALO_WIRE_Q8_BLOCK) {
        uint32_t k = n - b < HALO_WIRE_Q8_BLOCK ? n - b : HALO_WIRE_Q8_BLOCK;
        float amax = 0.0f;
        for (uint32_t i = 0; i < k; i++) { /* finite values (checked): fmaxf's result */
            float a = fabsf(v[b + i]);
            amax = a > amax ? a : amax;
        }
        /* The scale travels as binary16, so quantise with the rounded scale; past binary16's
           range (amax above ~8.3e6) it is the largest finite one and the levels saturate at
           +-127: lossy, but the receiver decodes finite values (an infinite scale times a
           level 0 would be NaN). */
        uint16_t d16 = halo_f32_to_fp16(amax / 127.0f);
        if ((d16 & FP16_EXP_MASK) == FP16_EXP_MASK)
            d16 = FP16_MAX_FINITE;
        float d = halo_fp16_to_f32(d16);
        float inv = d > 0.0f ? 1.0f / d : 0.0f;
        halo_put_u16(p, d16);
        /* clamped to +-127, then rounded: the same as rounding, then clamping, since the
           bounds are integers and rounding keeps the order */
        for (uint32_t i = 0; i < k; i++) {
            float x = v[b + i] * inv;
            x = x > 127.0f ? 127.0f : x;
            x = x < -127.0f ? -127.0f : x;
            p[2 + i] = (unsigned char)(int8_t)round_q8(x);
        }
        for (uint32_t i = k; i < HALO_WIRE_Q8_BLOCK; i++)
            p[2 + i] = 0;
        p += HALO_WIRE_Q8_BLOCK_BYTES;
    }
}

/* 1 when every block's scale is a finite binary16 (what encode_q8 writes). */
static int q8_scales_finite(const unsigned char *p, uint32_t n) {
    for (uint32_t b = 0; b < n; b += HALO_WIRE_Q8_BLOCK, p += HALO_WIRE_Q8_BLOCK_BYTES)
        if ((halo_get_u16(p) & FP16_EXP_MASK) == FP16_EXP_MASK)
            return 0;
    return 1;
}

static void decode_q8(float *v, const unsigned char *p, uint32_t n) {
    for (uint32_t b = 0; b < n; b += HALO_WIRE_Q8_BLOCK) {
        float d = halo_fp16_to_f32(halo_get_u16(p));
        uint32_t k = n - b < HALO_WIRE_Q8_BLOCK ? n - b : HALO_WIRE_Q8_BLOCK;
        for (uint32_t i = 0; i < k; i++)
            v[b + i] = d * (float)(int8_t)p[2 + i];
        p += HALO_WIRE_Q8_BLOCK_BYTES;
    }
}

int halo_wire_encode(const halo_msg *m, const uint16_t *groups, const float *values, void *buf,
                     size_t cap, size_t *len, halo_err *err) {
    *len = 0;
    if (m->kind == 0 || m->kind >= HALO_MSG_KIND_COUNT_ || m->phase >= HALO_PHASE_COUNT_ ||
        !encoding_ok(m->encoding))
        return HALO_FAIL(err, HALO_ERR_ARG, "wire: kind %u, phase %u or encoding %u invalid",
                         m->kind, m->phase, m->encoding);
    if (m->n_values > HALO_WIRE_MAX_VALUES)
        return HALO_FAIL(err, HALO_ERR_ARG, "wire: %u values exceed the limit %u", m->n_values,
                         HALO_WIRE_MAX_VALUES);
    size_t total = halo_wire_size(m->encoding, m->n_groups, m->n_values);
    if (total > cap)
        return HALO_FAIL(err, HALO_ERR_ARG, "wire: message of %zu bytes, buffer of %zu", total,
                         cap);
    if (values_encoding(m->encoding) == HALO_ENCODING_Q8)
        for (uint32_t i = 0; i < m->n_values; i++)
            if (!isfinite(values[i]))
                return HALO_FAIL(err, HALO_ERR_ARG, "wire: value %u is not finite", i);
    unsigned char *p = buf;
    memcpy(p, "HALO", 4);
    p[4] = HALO_WIRE_VERSION;
    p[5] = m->kind;
    p[6] = m->phase;
    p[7] = m->encoding;
    halo_put_u16(p + 8, m->src);
    halo_put_u16(p + 10, m->dst);
    halo_put_u32(p + 12, m->step);
    halo_put_u32(p + 16, m->pos);
    halo_put_u16(p + 20, m->layer);
    halo_put_u16(p + 22, m->n_groups);
    halo_put_u32(p + 24, m->n_values);
    halo_put_u32(p + 28, (uint32_t)(total - HALO_WIRE_HEADER_BYTES));
    unsigned char *body = p + HALO_WIRE_HEADER_BYTES;
    for (unsigned i = 0; i < m->n_groups; i++)
        halo_put_u16(body + 2 * i, groups[i]);
    unsigned char *payload = body + 2 * (size_t)m->n_groups;
    if (values_encoding(m->encoding) == HALO_ENCODING_F32)
        for (uint32_t i = 0; i < m->n_values; i++)
            halo_put_f32(payload + 4 * (size_t)i, values[i]);
    else if (values_encoding(m->encoding) == HALO_ENCODING_Q8)
        encode_q8(payload, values, m->n_values);
    uint32_t crc = halo_crc32(0, p, 32);
    crc = halo_crc32(crc, body, total - HALO_WIRE_HEADER_BYTES);
    halo_put_u32(p + 32, crc);
    *len = total;
    return HALO_OK;
}

void halo_wire_set_dst(void *buf, size_t len, uint16_t dst) {
    unsigned char *p = buf;
    HALO_ASSERT(len >= HALO_WIRE_HEADER_BYTES);
    uint16_t old = halo_get_u16(p + 10);
    if (old == dst)
        return;
    /* The checksummed bytes: header bytes 0..31, then the body; dst is at 10..11 of them.
       For equal lengths crc(m ^ d) = crc(m) ^ crc(d) ^ crc(zeros), and crc(d) ^ crc(zeros) is
       the CRCs of their first 12 bytes, XORed, shifted over the zeros after them
       (crc32_combine with an empty-message CRC of 0). */
    unsigned char delta[12] = {0}, zeros[12] = {0};
    halo_put_u16(delta + 10, (uint16_t)(old ^ dst));
    size_t after = len - 4 - sizeof delta; /* checksummed bytes after the dst field */
    uLong diff = (uLong)(halo_crc32(0, delta, sizeof delta) ^ halo_crc32(0, zeros, sizeof zeros));
    uint32_t crc = halo_get_u32(p + 32) ^ (uint32_t)crc32_combine(diff, 0, (z_off_t)after);
    halo_put_u16(p + 10, dst);
    halo_put_u32(p + 32, crc);
}

int halo_wire_decode(const void *buf, size_t len, halo_msg *m, uint16_t *groups, size_t max_groups,
                     float *values, size_t max_values, halo_err *err) {
    const unsigned char *p = buf;
    if (len < HALO_WIRE_HEADER_BYTES)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "wire: %zu bytes, shorter than a header", len);
    if (memcmp(p, "HALO", 4) != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "wire: bad magic");
    if (p[4] != HALO_WIRE_VERSION)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "wire: version %u, expected %u", p[4],
                         HALO_WIRE_VERSION);
    halo_msg h = {
        .kind = p[5],
        .phase = p[6],
        .encoding = p[7],
        .src = halo_get_u16(p + 8),
        .dst = halo_get_u16(p + 10),
        .step = halo_get_u32(p + 12),
        .pos = halo_get_u32(p + 16),
        .layer = halo_get_u16(p + 20),
        .n_groups = halo_get_u16(p + 22),
        .n_values = halo_get_u32(p + 24),
    };
    if (h.kind == 0 || h.kind >= HALO_MSG_KIND_COUNT_ || h.phase >= HALO_PHASE_COUNT_ ||
        !encoding_ok(h.encoding))
        return HALO_FAIL(err, HALO_ERR_FORMAT, "wire: kind %u, phase %u or encoding %u invalid",
                         h.kind, h.phase, h.encoding);
    if (h.n_values > HALO_WIRE_MAX_VALUES)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "wire: %u values exceed the limit", h.n_values);
    uint32_t body = halo_get_u32(p + 28);
    size_t total = halo_wire_size(h.encoding, h.n_groups, h.n_values);
    if ((size_t)body + HALO_WIRE_HEADER_BYTES != total || total != len)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "wire: length %zu, body field %u, expected %zu bytes in all", len, body,
                         total);
    uint32_t crc = halo_crc32(0, p, 32);
    crc = halo_crc32(crc, p + HALO_WIRE_HEADER_BYTES, body);
    if (crc != halo_get_u32(p + 32))
        return HALO_FAIL(err, HALO_ERR_FORMAT, "wire: checksum mismatch");
    if (h.n_groups > max_groups || h.n_values > max_values)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "wire: %u groups and %u values exceed the receiver's %zu and %zu",
                         h.n_groups, h.n_values, max_groups, max_values);
    const unsigned char *q = p + HALO_WIRE_HEADER_BYTES;
    if (values_encoding(h.encoding) == HALO_ENCODING_Q8 &&
        !q8_scales_finite(q + 2 * (size_t)h.n_groups, h.n_values))
        return HALO_FAIL(err, HALO_ERR_FORMAT, "wire: an 8-bit block's scale is not finite");
    for (unsigned i = 0; i < h.n_groups; i++)
        groups[i] = halo_get_u16(q + 2 * i);
    q += 2 * (size_t)h.n_groups;
    if (values_encoding(h.encoding) == HALO_ENCODING_F32)
        for (uint32_t i = 0; i < h.n_values; i++)
            values[i] = halo_get_f32(q + 4 * (size_t)i);
    else if (values_encoding(h.encoding) == HALO_ENCODING_Q8)
        decode_q8(values, q, h.n_values);
    *m = h;
    return HALO_OK;
}
