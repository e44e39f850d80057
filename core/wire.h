/*
 * The versioned wire format of every message between nodes.
 *
 * A message is a fixed 36-byte header, then `n_groups` little-endian uint16 group ids, then
 * the payload of `n_values` floats in one of two encodings:
 *   F32: 4 bytes per value, IEEE-754 binary32, little-endian;
 *   Q8:  blocks of 32 values, each a binary16 scale d followed by 32 int8 q (value = d * q):
 *        34 bytes per block, the last block zero-padded (like ggml's Q8_0).
 *
 * Header (all fields little-endian):
 *   off size field
 *     0    4 magic "HALO"
 *     4    1 version (HALO_WIRE_VERSION)
 *     5    1 kind (enum halo_msg_kind)
 *     6    1 phase (enum halo_phase)
 *     7    1 encoding (enum halo_encoding)
 *     8    2 src node
 *    10    2 dst node
 *    12    4 step (the root's token counter: grows by one per token, across sequences)
 *    16    4 pos (position of the token in its sequence; step - pos identifies the sequence)
 *    20    2 layer
 *    22    2 n_groups
 *    24    4 n_values
 *    28    4 body bytes (group ids + payload)
 *    32    4 CRC-32 (IEEE) of bytes 0..31 and the body
 *
 * Decoding checks everything (magic, version, enums, sizes, checksum) before reading the
 * body, so no input can make it read or write out of bounds. Pure functions; no state.
 */
#ifndef HALO_WIRE_H
#define HALO_WIRE_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

#define HALO_WIRE_VERSION        1
#define HALO_WIRE_HEADER_BYTES   36
#define HALO_WIRE_MAX_VALUES     (1u << 24)
#define HALO_WIRE_Q8_BLOCK       32
#define HALO_WIRE_Q8_BLOCK_BYTES 34

/*
 * Flag in the encoding byte: the payload is elided (shape-only simulation, where no
 * numerics run). Such a message carries the header and group ids only; a simulator charges
 * it the size it would have with the payload (halo_wire_charged_size). Decoding leaves the
 * values untouched.
 */
#define HALO_WIRE_ELIDED 0x80

/*
 * Flag in the encoding byte of an ACTIVATION: the root sends this device redundant copies
 * (its exchanges failed lately): the device sends its answer to the first copy twice, so the
 * answer direction is as redundant as the request direction (a device that received one
 * copy of two would otherwise answer once). Repeated requests do not carry it.
 */
#define HALO_WIRE_ANSWER_TWICE 0x40

enum halo_msg_kind {
    HALO_MSG_ACTIVATION = 1, /* root -> device: normalised layer input, groups to compute */
    HALO_MSG_PARTIAL = 2,    /* device -> root (star), or -> every peer (mesh): sum of the
                                partial sums of the listed groups */
    HALO_MSG_STATE = 3,      /* mesh: root -> device: the residual stream at a token's start
                                (dim values, layer 0) */
    HALO_MSG_LOGITS = 4,     /* mesh: device -> root: its slice of the classifier's output
                                (n_values logits; layer holds the device's slice index) */
    HALO_MSG_KIND_COUNT_ = 5 /* one past the last kind (validation only) */
};

enum halo_phase {
    HALO_PHASE_ATTN = 0, /* attention block of a layer */
    HALO_PHASE_FFN = 1,  /* feed-forward block of a layer */
    HALO_PHASE_COUNT_ = 2
};

enum halo_encoding {
    HALO_ENCODING_F32 = 0,
    HALO_ENCODING_Q8 = 1,
    HALO_ENCODING_COUNT_ = 2
};

typedef struct halo_msg {
    uint8_t kind;     /* enum halo_msg_kind */
    uint8_t phase;    /* enum halo_phase */
    uint8_t encoding; /* enum halo_encoding */
    uint16_t src;     /* sending node */
    uint16_t dst;     /* receiving node */
    uint32_t step;    /* token counter of the root, across sequences */
    uint32_t pos;     /* position in the sequence */
    uint16_t layer;
    uint16_t n_groups; /* group ids in the message */
    uint32_t n_values; /* floats in the payload */
} halo_msg;

/* Bytes of a message with these sizes, header included (an elided payload counts 0). */
size_t halo_wire_size(int encoding, unsigned n_groups, uint32_t n_values);

/*
 * Size a network charges for the message in buf[0..len): `len`, or for an elided message
 * the size it would have with its payload. Never fails (garbage is charged its length).
 */
size_t halo_wire_charged_size(const void *buf, size_t len);

/*
 * Encodes header `m`, `m->n_groups` ids from `groups` and `m->n_values` floats from
 * `values` into `buf` (capacity `cap`). *len receives the size. Errors: HALO_ERR_ARG (bad
 * enum, too many values, non-finite value with Q8, buffer too small).
 */
int halo_wire_encode(const halo_msg *m, const uint16_t *groups, const float *values, void *buf,
                     size_t cap, size_t *len, halo_err *err);

/*
 * Checks and decodes the message in buf[0..len). On success *m holds the header, `groups`
 * (capacity max_groups) the group ids and `values` (capacity max_values) the floats.
 * Errors: HALO_ERR_FORMAT for anything malformed (the message names what), HALO_ERR_ARG
 * when the message is well-formed but larger than the caller's buffers.
 */
int halo_wire_decode(const void *buf, size_t len, halo_msg *m, uint16_t *groups, size_t max_groups,
                     float *values, size_t max_values, halo_err *err);

/*
 * Re-addresses the encoded message buf[0..len) (as halo_wire_encode wrote it) to node `dst`:
 * writes the dst field and updates the checksum without reading the body (CRC-32 is affine
 * in the message bits: the change of two header bytes moves into the checksum through
 * crc32_combine). The result is byte for byte what halo_wire_encode writes for the same
 * message addressed to `dst`, so one encoding serves every peer of a broadcast (the mesh
 * collective sends one partial sum to every peer). len must be halo_wire_encode's *len.
 */
void halo_wire_set_dst(void *buf, size_t len, uint16_t dst);

/* CRC-32 (IEEE 802.3) of data[0..n), continuing from `crc` (start with 0). */
uint32_t halo_crc32(uint32_t crc, const void *data, size_t n);

#endif /* HALO_WIRE_H */
