/*
 * Wire format encoding and decoding. Fields are written byte by byte, so the format is
 * little-endian on every host and no struct layout is ever sent.
 */
#include "core/wire.h"

#include "core/bytes.h"
#include "core/quant.h"

#include <math.h>
#include <string.h>

_Static_assert(HALO_WIRE_HEADER_BYTES == 36, "the header layout is fixed");
_Static_assert(sizeof(float) == 4, "binary32 floats");

static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu, 0xe963a535u,
    0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u, 0x09b64c2bu, 0x7eb17cbdu,
    0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu, 0x1adad47du,
    0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u, 0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu,
    0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u,
    0xa2677172u, 0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u, 0x26d930acu,
    0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
    0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u, 0x2f6f7c87u, 0x58684c11u, 0xc1611dabu,
    0xb6662d3du, 0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu,
    0x9fbfe4a5u, 0xe8b8d433u, 0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu,
    0x086d3d2du, 0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau,
    0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u, 0x4db26158u, 0x3ab551ceu,
    0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au,
    0x346ed9fcu, 0xad678846u, 0xda60b8d0u, 0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
    0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u,
    0xce61e49fu, 0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au, 0xead54739u,
    0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u,
    0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u, 0xf00f9344u, 0x8708a3d2u, 0x1e01f268u,
    0x6906c2feu, 0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u,
    0x10da7a5au, 0x67dd4accu, 0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u,
    0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u, 0x316e8eefu,
    0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u, 0xcc0c7795u, 0xbb0b4703u,
    0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u,
    0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du, 0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au,
    0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu,
    0x0cb61b38u, 0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u, 0x88085ae6u,
    0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
    0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u, 0xa7672661u, 0xd06016f7u, 0x4969474du,
    0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u,
    0x47b2cf7fu, 0x30b5ffe9u, 0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u,
    0xcdd70693u, 0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t halo_crc32(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    return ~crc;
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

static void encode_q8(unsigned char *p, const float *v, uint32_t n) {
    for (uint32_t b = 0; b < n; b += HALO_WIRE_Q8_BLOCK) {
        uint32_t k = n - b < HALO_WIRE_Q8_BLOCK ? n - b : HALO_WIRE_Q8_BLOCK;
        float amax = 0.0f;
        for (uint32_t i = 0; i < k; i++)
            amax = fmaxf(amax, fabsf(v[b + i]));
        /* The scale travels as binary16, so quantise with the rounded scale. */
        uint16_t d16 = halo_f32_to_fp16(amax / 127.0f);
        float d = halo_fp16_to_f32(d16);
        float inv = d > 0.0f ? 1.0f / d : 0.0f;
        halo_put_u16(p, d16);
        for (uint32_t i = 0; i < HALO_WIRE_Q8_BLOCK; i++) {
            float q = i < k ? roundf(v[b + i] * inv) : 0.0f;
            q = fminf(127.0f, fmaxf(-127.0f, q));
            p[2 + i] = (unsigned char)(int8_t)q;
        }
        p += HALO_WIRE_Q8_BLOCK_BYTES;
    }
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
