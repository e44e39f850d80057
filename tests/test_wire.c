/* The wire format: round trips, the 8-bit encoding's error bound, and fuzzed decoding. */
#include "core/bytes.h"
#include "core/quant.h"
#include "core/rng.h"
#include "core/wire.h"
#include "tests/test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

static halo_msg sample_header(int encoding, uint16_t n_groups, uint32_t n_values) {
    return (halo_msg){.kind = HALO_MSG_PARTIAL,
                      .phase = HALO_PHASE_FFN,
                      .encoding = encoding,
                      .src = 3,
                      .dst = 0,
                      .step = 70000,
                      .pos = 9,
                      .layer = 12,
                      .n_groups = n_groups,
                      .n_values = n_values};
}

/* Recomputes a message's CRC (bytes 32..35: of the header before it and the payload after). */
static void fix_crc(unsigned char *buf, size_t len) {
    halo_put_u32(buf + 32, halo_crc32(halo_crc32(0, buf, 32), buf + 36, len - 36));
}

static void f32_messages_round_trip_exactly(void) {
    uint16_t groups[3] = {0, 7, 65535};
    float values[100];
    halo_rng rng;
    halo_rng_init(&rng, 1);
    for (int i = 0; i < 100; i++)
        values[i] = (halo_rng_f32(&rng) - 0.5f) * 1e3f;
    values[5] = -0.0f;
    values[6] = INFINITY;
    halo_msg m = sample_header(HALO_ENCODING_F32, 3, 100);
    unsigned char buf[1024];
    size_t len;
    ASSERT_OK(halo_wire_encode(&m, groups, values, buf, sizeof buf, &len, NULL));
    ASSERT_EQ(len, halo_wire_size(HALO_ENCODING_F32, 3, 100));
    ASSERT_EQ(len, 36 + 6 + 400);
    ASSERT(memcmp(buf, "HALO", 4) == 0);
    ASSERT_EQ(buf[12] | buf[13] << 8 | buf[14] << 16, 70000); /* little-endian step */
    halo_msg d;
    uint16_t g[8];
    float v[128];
    ASSERT_OK(halo_wire_decode(buf, len, &d, g, 8, v, 128, NULL));
    ASSERT_EQ(d.kind, HALO_MSG_PARTIAL);
    ASSERT_EQ(d.phase, HALO_PHASE_FFN);
    ASSERT_EQ(d.src, 3);
    ASSERT_EQ(d.step, 70000);
    ASSERT_EQ(d.pos, 9);
    ASSERT_EQ(d.layer, 12);
    ASSERT_EQ(d.n_groups, 3);
    ASSERT_EQ(g[2], 65535);
    ASSERT(memcmp(v, values, sizeof values) == 0);
}

/* The levels of the 8-bit encoding as the format defines them: scale d = amax / 127 rounded
   to binary16 (at most its largest finite value, 65504), level = roundf(v / d) (halves away
   from zero) clamped to +-127, written here
   with libm's functions to check the encoder's own rounding against. */
static void q8_reference(unsigned char *p, const float *v, uint32_t n) {
    for (uint32_t b = 0; b < n; b += 32, p += 34) {
        uint32_t k = n - b < 32 ? n - b : 32;
        float amax = 0.0f;
        for (uint32_t i = 0; i < k; i++)
            amax = fmaxf(amax, fabsf(v[b + i]));
        uint16_t d16 = halo_f32_to_fp16(amax / 127.0f);
        if ((d16 & 0x7c00) == 0x7c00) /* past binary16's range: its largest finite value */
            d16 = 0x7bff;
        float d = halo_fp16_to_f32(d16), inv = d > 0.0f ? 1.0f / d : 0.0f;
        p[0] = (unsigned char)(d16 & 0xff);
        p[1] = (unsigned char)(d16 >> 8);
        for (uint32_t i = 0; i < 32; i++)
            p[2 + i] = (unsigned char)(int8_t)(i < k ? fminf(127.0f,
                                                             fmaxf(-127.0f, roundf(v[b + i] * inv)))
                                                     : 0.0f);
    }
}

static void q8_levels_round_halves_away_from_zero(void) {
    enum {
        N = 32 * 40 + 5
    };

    static float values[N];
    halo_rng rng;
    halo_rng_init(&rng, 5);
    for (int b = 0; b < N; b += 32) {
        int blk = b / 32;
        for (int i = b; i < N && i < b + 32; i++) {
            int j = i - b;
            if (blk % 4 == 0) /* exact halves: amax 127 x 2^-e gives the scale 2^-e exactly */
                values[i] = ldexpf(j == 0 ? 127.0f : (float)(j - 16) + 0.5f, -(blk % 9));
            else if (blk % 4 == 1) /* one step either side of a half */
                values[i] =
                    j == 0 ? 127.0f : nextafterf((float)(j - 16) + 0.5f, (j & 1) ? 1e9f : -1e9f);
            else /* random, from tiny to large magnitudes */
                values[i] = (halo_rng_f32(&rng) - 0.5f) * ldexpf(1.0f, blk % 30 - 20);
        }
    }
    values[32 * 7 + 3] = 0.0f;
    values[32 * 9 + 1] = -0.0f;
    for (int i = 32 * 11; i < 32 * 12; i++) /* an all-zero block: scale 0, levels 0 */
        values[i] = 0.0f;
    values[32 * 13] = 3e38f;   /* a scale beyond binary16: 65504, the levels saturate */
    values[32 * 14] = 1e-9f;   /* a scale below binary16's subnormals: 0 */
    values[32 * 15] = 1.0e-5f; /* a subnormal binary16 scale: levels past 127, clamped */
    for (int i = 32 * 15 + 1; i < 32 * 16; i++)
        values[i] = (i & 1 ? 1.0e-5f : -1.0e-5f) * (float)(i % 7) / 6.0f;
    halo_msg m = sample_header(HALO_ENCODING_Q8, 0, N);
    static unsigned char buf[36 + 41 * 34], want[41 * 34];
    size_t len;
    ASSERT_OK(halo_wire_encode(&m, NULL, values, buf, sizeof buf, &len, NULL));
    ASSERT_EQ(len, sizeof buf);
    q8_reference(want, values, N);
    for (size_t i = 0; i < sizeof want; i++)
        if (buf[36 + i] != want[i]) {
            fprintf(stderr, "  byte %zu of the payload (block %zu): %d, expected %d\n", i, i / 34,
                    (int8_t)buf[36 + i], (int8_t)want[i]);
            ASSERT(!"q8 levels differ from roundf's");
        }
    /* every block decodes to finite values, the saturated one included */
    static float back[N];
    halo_msg d;
    ASSERT_OK(halo_wire_decode(buf, len, &d, NULL, 0, back, N, NULL));
    for (int i = 0; i < N; i++)
        ASSERT(isfinite(back[i]));
    ASSERT_NEAR(back[32 * 13], 127.0f * 65504.0f, 1.0f);
    /* a scale that is not finite (no encoder writes one) is refused, checksum and all right */
    buf[36 + 34 * 2] = 0x00;
    buf[36 + 34 * 2 + 1] = 0x7c;
    fix_crc(buf, len);
    halo_err err = {0};
    ASSERT_EQ(halo_wire_decode(buf, len, &d, NULL, 0, back, N, &err), HALO_ERR_FORMAT);
    ASSERT(strstr(err.msg, "scale") != NULL);
}

static void q8_messages_are_within_half_a_step(void) {
    enum {
        N = 77
    }; /* two full blocks and a partial one */

    float values[N], v[N];
    halo_rng rng;
    halo_rng_init(&rng, 2);
    for (int i = 0; i < N; i++)
        values[i] = (halo_rng_f32(&rng) - 0.5f) * (i < 32 ? 1e-3f : 10.0f);
    values[40] = 0.0f;
    halo_msg m = sample_header(HALO_ENCODING_Q8, 0, N);
    unsigned char buf[512];
    size_t len;
    ASSERT_OK(halo_wire_encode(&m, NULL, values, buf, sizeof buf, &len, NULL));
    ASSERT_EQ(len, 36 + 3 * 34);
    halo_msg d;
    ASSERT_OK(halo_wire_decode(buf, len, &d, NULL, 0, v, N, NULL));
    for (int b = 0; b < N; b += 32) {
        float amax = 0;
        for (int i = b; i < N && i < b + 32; i++)
            amax = fmaxf(amax, fabsf(values[i]));
        float step = amax / 127.0f;
        for (int i = b; i < N && i < b + 32; i++)
            ASSERT_NEAR(v[i], values[i], step * 0.5f * 1.01f + 1e-12f);
    }
    ASSERT_EQ(v[40], 0);
    float bad[1] = {NAN};
    m.n_values = 1;
    ASSERT_EQ(halo_wire_encode(&m, NULL, bad, buf, sizeof buf, &len, NULL), HALO_ERR_ARG);
}

static void crc32_matches_the_standard_check_value(void) {
    ASSERT_EQ(halo_crc32(0, "123456789", 9), 0xcbf43926u);
    ASSERT_EQ(halo_crc32(halo_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
}

static size_t valid_message(unsigned char *buf, size_t cap, int encoding) {
    uint16_t groups[2] = {1, 2};
    float values[40];
    for (int i = 0; i < 40; i++)
        values[i] = (float)i * 0.25f;
    halo_msg m = sample_header(encoding, 2, 40);
    size_t len;
    ASSERT_OK(halo_wire_encode(&m, groups, values, buf, cap, &len, NULL));
    return len;
}

static void expect_format(const unsigned char *buf, size_t len, const char *needle) {
    halo_msg d;
    uint16_t g[4];
    float v[64];
    halo_err err = {0};
    ASSERT_EQ(halo_wire_decode(buf, len, &d, g, 4, v, 64, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, needle);
}

static void malformed_messages_are_rejected_with_a_reason(void) {
    unsigned char buf[512], bad[512];
    size_t len = valid_message(buf, sizeof buf, HALO_ENCODING_F32);
    expect_format(buf, 0, "shorter");
    expect_format(buf, 35, "shorter");
    expect_format(buf, len - 1, "length");
    memcpy(bad, buf, len);
    bad[0] = 'X';
    expect_format(bad, len, "magic");
    memcpy(bad, buf, len);
    bad[4] = 2;
    expect_format(bad, len, "version");
    memcpy(bad, buf, len);
    bad[5] = 9;
    expect_format(bad, len, "kind");
    memcpy(bad, buf, len);
    bad[7] = 7;
    expect_format(bad, len, "encoding");
    memcpy(bad, buf, len);
    bad[24] = 0xff, bad[25] = 0xff, bad[26] = 0xff, bad[27] = 0xff; /* absurd n_values */
    expect_format(bad, len, "values exceed");
    memcpy(bad, buf, len);
    bad[28] ^= 1; /* body length disagrees */
    expect_format(bad, len, "length");
    memcpy(bad, buf, len);
    bad[len - 1] ^= 0x10; /* payload bit flip */
    expect_format(bad, len, "checksum");
    /* Well-formed but larger than the receiver's buffers: an argument error, not a crash. */
    halo_msg d;
    float v[8];
    uint16_t g[4];
    ASSERT_EQ(halo_wire_decode(buf, len, &d, g, 4, v, 8, NULL), HALO_ERR_ARG);
    ASSERT_EQ(halo_wire_decode(buf, len, &d, g, 1, v, 64, NULL), HALO_ERR_ARG);
}

static void fuzzed_messages_never_crash(void) {
    unsigned char orig[512], buf[600];
    halo_rng rng;
    halo_rng_init(&rng, 99);
    long ok = 0, rejected = 0;
    for (int round = 0; round < 200000; round++) {
        int enc = round & 1;
        size_t len = valid_message(orig, sizeof orig, enc);
        memcpy(buf, orig, len);
        switch (halo_rng_u64(&rng) % 4) {
        case 0: /* flip bits */
            for (int k = 0; k < 1 + (int)(halo_rng_u64(&rng) % 4); k++)
                buf[halo_rng_u64(&rng) % len] ^= (unsigned char)(1u << (halo_rng_u64(&rng) % 8));
            break;
        case 1: /* truncate or extend with garbage */
            len = (size_t)(halo_rng_u64(&rng) % sizeof buf);
            for (size_t i = 36; i < len; i++)
                if (halo_rng_u64(&rng) % 8 == 0)
                    buf[i] = (unsigned char)halo_rng_u64(&rng);
            break;
        case 2: /* random header fields, checksum fixed up so decoding goes deeper */
            for (int k = 5; k < 32; k++)
                if (halo_rng_u64(&rng) % 3 == 0)
                    buf[k] = (unsigned char)halo_rng_u64(&rng);
            fix_crc(buf, len);
            break;
        default: /* pure noise */
            len = (size_t)(halo_rng_u64(&rng) % sizeof buf);
            for (size_t i = 0; i < len; i++)
                buf[i] = (unsigned char)halo_rng_u64(&rng);
            if (len >= 4)
                memcpy(buf, "HALO", 4);
        }
        halo_msg d;
        uint16_t g[70000 / 1000];
        float v[64];
        int rc = halo_wire_decode(buf, len, &d, g, 70, v, 64, NULL);
        ASSERT(rc == HALO_OK || rc == HALO_ERR_FORMAT || rc == HALO_ERR_ARG);
        if (rc == HALO_OK) {
            ASSERT(d.n_values <= 64 && d.n_groups <= 70);
            ok++;
        } else {
            rejected++;
        }
    }
    ASSERT(ok > 0 && rejected > 0);
}

static void elided_payloads_are_charged_their_full_size(void) {
    uint16_t groups[3] = {1, 2, 3};
    halo_msg m = sample_header(HALO_ENCODING_Q8 | HALO_WIRE_ELIDED, 3, 4096);
    unsigned char buf[64];
    size_t len;
    ASSERT_OK(halo_wire_encode(&m, groups, NULL, buf, sizeof buf, &len, NULL));
    ASSERT_EQ(len, 36 + 6);
    ASSERT_EQ(halo_wire_charged_size(buf, len), halo_wire_size(HALO_ENCODING_Q8, 3, 4096));
    ASSERT_EQ(halo_wire_charged_size(buf, len), 36 + 6 + 128 * 34);
    halo_msg d;
    uint16_t g[4];
    float v[1];
    ASSERT_OK(halo_wire_decode(buf, len, &d, g, 4, v, 4096, NULL));
    ASSERT_EQ(d.n_values, 4096);
    ASSERT_EQ(d.encoding, HALO_ENCODING_Q8 | HALO_WIRE_ELIDED);
    unsigned char plain[512];
    size_t plain_len = valid_message(plain, sizeof plain, HALO_ENCODING_F32);
    ASSERT_EQ(halo_wire_charged_size(plain, plain_len), plain_len);
    ASSERT_EQ(halo_wire_charged_size("junk", 4), 4);
}

/* The answer-twice flag travels beside the encoding and changes nothing of the payload. */
static void answer_twice_flag_keeps_the_payload(void) {
    for (int enc = 0; enc < 2; enc++) {
        unsigned char plain[512], flagged[512];
        size_t a = valid_message(plain, sizeof plain, enc);
        size_t b = valid_message(flagged, sizeof flagged, enc | HALO_WIRE_ANSWER_TWICE);
        ASSERT_EQ(a, b);
        ASSERT(memcmp(plain + 36, flagged + 36, a - 36) == 0);
        halo_msg d;
        uint16_t g[4];
        float v[64];
        ASSERT_OK(halo_wire_decode(flagged, b, &d, g, 4, v, 64, NULL));
        ASSERT_EQ(d.encoding, enc | HALO_WIRE_ANSWER_TWICE);
        ASSERT_EQ(d.n_values, 40);
        ASSERT_NEAR(v[39], 39 * 0.25, enc == HALO_ENCODING_F32 ? 0 : 0.1);
    }
}

/* Re-addressing an encoded message gives exactly what encoding it for the other node gives
   (the checksum included), for both encodings, many sizes and every pair of small nodes. */
static void set_dst_equals_a_fresh_encoding(void) {
    halo_rng rng;
    halo_rng_init(&rng, 7);
    static float values[3000];
    for (int i = 0; i < 3000; i++)
        values[i] = (halo_rng_f32(&rng) - 0.5f) * 10.0f;
    uint16_t groups[5] = {1, 2, 3, 40, 41};
    static unsigned char a[16384], b[16384];
    const uint32_t counts[] = {0, 1, 31, 32, 768, 3000};
    for (int enc = 0; enc < 2; enc++)
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
            for (uint16_t from = 0; from < 5; from++)
                for (uint16_t to = 0; to < 5; to++) {
                    halo_msg m = sample_header(enc, (uint16_t)(c % 6), counts[c]);
                    size_t la, lb;
                    m.dst = from;
                    ASSERT_OK(halo_wire_encode(&m, groups, values, a, sizeof a, &la, NULL));
                    m.dst = to;
                    ASSERT_OK(halo_wire_encode(&m, groups, values, b, sizeof b, &lb, NULL));
                    halo_wire_set_dst(a, la, to);
                    ASSERT_EQ(la, lb);
                    ASSERT(memcmp(a, b, la) == 0);
                }
    /* a large node index, and back */
    halo_msg m = sample_header(HALO_ENCODING_F32, 2, 768);
    size_t la, lb;
    ASSERT_OK(halo_wire_encode(&m, groups, values, a, sizeof a, &la, NULL));
    memcpy(b, a, la);
    halo_wire_set_dst(a, la, 65535);
    halo_msg d;
    uint16_t g[4];
    static float v[768];
    ASSERT_OK(halo_wire_decode(a, la, &d, g, 4, v, 768, NULL));
    ASSERT_EQ(d.dst, 65535);
    halo_wire_set_dst(a, la, 0);
    lb = la;
    ASSERT(memcmp(a, b, lb) == 0);
}

TEST_MAIN(TEST(elided_payloads_are_charged_their_full_size), TEST(f32_messages_round_trip_exactly),
          TEST(q8_messages_are_within_half_a_step), TEST(q8_levels_round_halves_away_from_zero),
          TEST(crc32_matches_the_standard_check_value),
          TEST(malformed_messages_are_rejected_with_a_reason), TEST(fuzzed_messages_never_crash),
          TEST(answer_twice_flag_keeps_the_payload), TEST(set_dst_equals_a_fresh_encoding))
