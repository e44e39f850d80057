/*
 * Little-endian fixed-width fields of the project's file and wire formats (predictor files,
 * llama2.c checkpoints, wire messages, net frames, the join handshake): one definition of
 * each codec instead of one per format. Byte-by-byte, so they are independent of the host's
 * byte order and alignment; `p` need not be aligned.
 */
#ifndef HALO_BYTES_H
#define HALO_BYTES_H

#include <stdint.h>
#include <string.h>

static inline void halo_put_u16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void halo_put_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline void halo_put_u64(unsigned char *p, uint64_t v) {
    halo_put_u32(p, (uint32_t)v);
    halo_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline void halo_put_i32(unsigned char *p, int32_t v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    halo_put_u32(p, u);
}

static inline void halo_put_f32(unsigned char *p, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    halo_put_u32(p, u);
}

static inline uint16_t halo_get_u16(const unsigned char *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t halo_get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t halo_get_u64(const unsigned char *p) {
    return (uint64_t)halo_get_u32(p) | (uint64_t)halo_get_u32(p + 4) << 32;
}

static inline int32_t halo_get_i32(const unsigned char *p) {
    uint32_t u = halo_get_u32(p);
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static inline float halo_get_f32(const unsigned char *p) {
    uint32_t u = halo_get_u32(p);
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

#endif /* HALO_BYTES_H */
