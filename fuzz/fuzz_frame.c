/*
 * Fuzz target: network frames and their reassembly (net/frame.c).
 *
 * Two halves per input. (1) The input as one received datagram: halo_net_frame_open must
 * refuse it or give a header consistent with its length (forging the tag is not the
 * fuzzer's job). (2) The input as a script of fragments a peer holding the key could send:
 * records of type (with the parity and lossy flags in its upper bits), src, dst, u16 sequence
 * step, fragment index and count, u16 message bytes, u16 offset and u8 payload length, then
 * the payload. Each is sealed under the key, opened, passed through a replay window per
 * sender and added to that sender's reassembly, as the transport does; a completed (or
 * repaired) message has exactly the announced length (issue 18: a zero-byte multi-fragment
 * message did memcpy(NULL, ..., 0)).
 */
#include "fuzz/fuzz.h"
#include "net/frame.h"
#include "net/key.h"

#include <string.h>

enum {
    N_NODES = 4,
    REC_BYTES = 12
};

static uint8_t key[HALO_NET_KEY_BYTES];
static unsigned char frame[HALO_NET_MAX_FRAME_BYTES];

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    for (int i = 0; i < HALO_NET_KEY_BYTES; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    /* Initialises libsodium (halo_net_seal_fragment needs it). */
    FZ_CHECK(halo_net_seal_frame(key, HALO_NET_FRAME_DATA, 0, 1, 0, "", 0, frame, sizeof frame) >
             0);
    return 0;
}

static void open_raw(const uint8_t *data, size_t size) {
    halo_net_frame h;
    int v = halo_net_frame_open(key, data, size, HALO_NET_MAX_FRAME_BYTES, N_NODES, &h);
    FZ_CHECK(v >= HALO_NET_VERDICT_OK && v <= HALO_NET_VERDICT_BAD_AUTH);
    if (v == HALO_NET_VERDICT_OK)
        FZ_CHECK(h.payload_bytes + HALO_NET_OVERHEAD_BYTES == size);
    if (size >= HALO_NET_HEADER_BYTES)
        (void)halo_net_frame_wire_bytes(data);
    (void)halo_net_frame_is_refusal(data, size);
}

static void script(const uint8_t *data, size_t size) {
    halo_net_reasm r[N_NODES];
    halo_net_replay w[N_NODES];
    uint64_t seq[N_NODES] = {0};
    for (int i = 0; i < N_NODES; i++) {
        halo_net_reasm_init(&r[i]);
        halo_net_replay_init(&w[i]);
    }
    size_t at = 0;
    while (at + REC_BYTES <= size) {
        const uint8_t *p = data + at;
        int type = 1 + p[0] % 4, src = p[1] % N_NODES, dst = p[2] % N_NODES;
        seq[src] += (uint64_t)(p[3] | p[4] << 8) % 70; /* 0: a replay; >= 64: beyond the window */
        unsigned idx = p[5] % 8, count = p[6] % 8;
        uint32_t msg_bytes = (uint32_t)(p[7] | p[8] << 8), offset = (uint32_t)(p[9] | p[10] << 8);
        size_t len = p[11];
        at += REC_BYTES;
        if (len > size - at)
            len = size - at;
        const uint8_t *payload = data + at;
        at += len;
        /* p[0]'s upper bits: the parity and lossy flags (issue 15's parity frames) */
        halo_net_frame out = {.type = type,
                              .src = src,
                              .dst = dst,
                              .frag_idx = idx,
                              .frag_count = count,
                              .payload_bytes = len,
                              .seq = seq[src],
                              .msg_bytes = msg_bytes,
                              .offset_bytes = offset,
                              .parity = (p[0] >> 2) & 1,
                              .lossy = (p[0] >> 3) & 1};
        size_t n = halo_net_frame_seal(key, &out, payload, frame, sizeof frame);
        if (n == 0)
            continue;
        halo_net_frame h;
        if (halo_net_frame_open(key, frame, n, HALO_NET_MAX_FRAME_BYTES, N_NODES, &h) !=
            HALO_NET_VERDICT_OK)
            continue;
        FZ_CHECK(h.src == src && h.payload_bytes == len);
        if (!halo_net_replay_accept(&w[src], h.seq))
            continue;
        const unsigned char *msg;
        int abandoned;
        int res = halo_net_reasm_add(&r[src], &h, frame + HALO_NET_HEADER_BYTES, &msg, &abandoned);
        FZ_CHECK(res >= HALO_NET_REASM_MORE && res <= HALO_NET_REASM_REPAIRED);
        if ((res == HALO_NET_REASM_DONE || res == HALO_NET_REASM_REPAIRED) && h.msg_bytes > 0) {
            FZ_CHECK(msg != NULL);
            volatile unsigned char sink = msg[0] ^ msg[h.msg_bytes - 1];
            (void)sink;
        }
    }
    for (int i = 0; i < N_NODES; i++)
        halo_net_reasm_free(&r[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    open_raw(data, size);
    script(data, size);
    return 0;
}
