/*
 * halo_frame_bench: CPU time to seal and open one frame of the socket transports, per payload
 * size, for the three ways a frame can be protected (docs/net.md, "Frames"): under the
 * cluster key (HMAC-SHA512-256, before issue 18 and still for JOIN/JACK), as an encrypted
 * session frame (ChaCha20-Poly1305) and as an authenticated-only session frame. What one
 * token costs follows from the frames a token moves (the root's "root transport" line).
 *
 *   halo_frame_bench [SIZE...]     (default: 64 256 1336 4096 bytes of payload)
 *
 * Prints one row per size: CPU ns per seal+open for each, best of 5 repetitions of a loop
 * that runs about 0.2 s of CPU time. One thread; nothing else.
 */
#define _POSIX_C_SOURCE 200809L

#include "net/frame.h"
#include "net/session.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_THREAD_CPUTIME_ID,
                        &ts); /* CPU, not wall: preemption on a shared machine does not count */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned char frame[HALO_NET_MAX_FRAME_BYTES];
static unsigned char payload[HALO_NET_MAX_PAYLOAD_BYTES];
static unsigned char plain[HALO_NET_MAX_PAYLOAD_BYTES];

/* ns per seal + open of a `size`-byte payload: mode 0 cluster key, 1 encrypted, 2 auth-only */
static double bench(int mode, size_t size, const uint8_t *key, const halo_net_session *tx,
                    const halo_net_session *rx) {
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        long iters = 0;
        double t0 = now_s(), t = t0;
        while (t - t0 < 0.2) {
            for (int i = 0; i < 256; i++) {
                halo_net_frame h = {.type = HALO_NET_FRAME_DATA,
                                    .src = 1,
                                    .dst = 0,
                                    .frag_count = 1,
                                    .payload_bytes = size,
                                    .seq = (uint64_t)iters + 1,
                                    .msg_bytes = (uint32_t)size};
                size_t n = mode == 0 ? halo_net_frame_seal(key, &h, payload, frame, sizeof frame)
                                     : halo_net_frame_seal_session(tx->tx, mode == 1, &h, payload,
                                                                   frame, sizeof frame);
                halo_net_frame got;
                const unsigned char *p;
                int v = mode == 0
                            ? halo_net_frame_open(key, frame, n, n, 2, &got)
                            : halo_net_frame_open_session(rx->rx, frame, n, n, 2, plain, &p, &got);
                if (v != HALO_NET_VERDICT_OK) {
                    (void)fprintf(stderr, "frame_bench: a frame did not open\n");
                    exit(1);
                }
                iters++;
            }
            t = now_s();
        }
        double ns = (t - t0) * 1e9 / (double)iters;
        best = ns < best ? ns : best;
    }
    return best;
}

int main(int argc, char **argv) {
    if (sodium_init() < 0)
        return 1;
    uint8_t key[HALO_NET_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    randombytes_buf(payload, sizeof payload);
    halo_net_kx a, b;
    halo_net_session sa, sb, ca, cb;
    if (halo_net_kx_new(&a, NULL) || halo_net_kx_new(&b, NULL) ||
        halo_net_session_derive(&sa, &a, b.pk, 1, key, 1, NULL) ||
        halo_net_session_derive(&sb, &b, a.pk, 0, key, 1, NULL) ||
        halo_net_session_derive(&ca, &a, b.pk, 1, key, 0, NULL) ||
        halo_net_session_derive(&cb, &b, a.pk, 0, key, 0, NULL))
        return 1;
    static const size_t defaults[] = {64, 256, 1336, 4096};
    int n = argc > 1 ? argc - 1 : 4;
    (void)printf("| payload bytes | cluster key (HMAC-SHA512-256) ns | encrypted session ns | "
                 "authenticated-only session ns |\n|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        size_t size = argc > 1 ? (size_t)strtoul(argv[i + 1], NULL, 10) : defaults[i];
        if (size > HALO_NET_MAX_PAYLOAD_BYTES)
            size = HALO_NET_MAX_PAYLOAD_BYTES;
        (void)printf("| %zu | %.0f | %.0f | %.0f |\n", size, bench(0, size, key, NULL, NULL),
                     bench(1, size, key, &sa, &sb), bench(2, size, key, &ca, &cb));
    }
    return 0;
}
