/*
 * Fuzz target: activation messages on the wire (core/wire.c).
 *
 * The input is a flag byte and one received message; with the flag's bit 0 set the harness
 * stamps the message with its correct CRC-32 first, so the fuzzer reaches the body checks
 * instead of stopping at the checksum. halo_wire_charged_size never fails; halo_wire_decode
 * either refuses it or decodes a header whose counts fit the buffers, and a decoded message
 * re-encodes (with the encoding and values it carried) to no more bytes than the limit.
 */
#include "core/bytes.h"
#include "core/wire.h"
#include "fuzz/fuzz.h"

#include <string.h>

enum {
    MAX_GROUPS = 4096,
    MAX_VALUES = 1 << 16
};

static uint16_t groups[MAX_GROUPS];
static float values[MAX_VALUES];
static unsigned char out[1 << 20];
static unsigned char in[1 << 20];

int LLVMFuzzerTestOneInput(const uint8_t *raw, size_t raw_size) {
    size_t size;
    int flags = fz_flagged(raw, raw_size, in, sizeof in, &size);
    if (flags < 0)
        return 0;
    const unsigned char *data = in;
    if ((flags & 1) && size >= HALO_WIRE_HEADER_BYTES) { /* flag 1: the header's CRC made valid */
        uint32_t crc = halo_crc32(0, in, 32);
        crc = halo_crc32(crc, in + HALO_WIRE_HEADER_BYTES, size - HALO_WIRE_HEADER_BYTES);
        halo_put_u32(in + 32, crc);
    }
    (void)halo_wire_charged_size(data, size);
    halo_msg m;
    halo_err err = {0};
    int rc = halo_wire_decode(data, size, &m, groups, MAX_GROUPS, values, MAX_VALUES, &err);
    if (rc != HALO_OK) {
        FZ_CHECK(rc == HALO_ERR_FORMAT || rc == HALO_ERR_ARG);
        FZ_CHECK(err.msg[0] != '\0');
        return 0;
    }
    FZ_CHECK(m.n_groups <= MAX_GROUPS && m.n_values <= MAX_VALUES);
    size_t len = 0;
    (void)halo_wire_encode(&m, groups, values, out, sizeof out, &len, &err);
    FZ_CHECK(len <= sizeof out);
    return 0;
}
