/*
 * A recording UDP relay and a replayer, for the session-replay attack of issue 18
 * (tests/test_net.sh replay). Not a test by itself.
 *
 *   udp_replay record LISTEN_PORT TARGET_PORT FILE SECONDS
 *       relays datagrams between the first client that writes to 127.0.0.1:LISTEN_PORT and
 *       127.0.0.1:TARGET_PORT for SECONDS, appending every client->target datagram to FILE
 *       (each as a 4-byte little-endian length and the bytes); prints its port when ready.
 *   udp_replay replay FILE TARGET_PORT WAIT_MS
 *       sends every datagram of FILE to 127.0.0.1:TARGET_PORT from a fresh socket, then
 *       listens WAIT_MS and prints "sent N B, back M B; control C, other O": datagrams and
 *       bytes sent, received, and how many received were CONTROL frames (type 2) or anything
 *       else.
 *   udp_replay types FILE
 *       prints how many recorded frames carry each type byte ("0x81 480"; 0x80 is the
 *       session flag, 0x40 authenticated-only).
 *
 * Loopback only; every wait is bounded.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/bytes.h"
#include "tests/udp_relay.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* udp_relay_hook: appends every client -> target datagram to the FILE in ctx. */
static int append(void *ctx, int to_target, const unsigned char *buf, size_t n) {
    FILE *f = ctx;
    unsigned char len[4];
    halo_put_u32(len, (uint32_t)n);
    if (!to_target)
        return 1;
    return fwrite(len, 1, 4, f) == 4 && fwrite(buf, 1, n, f) == n && fflush(f) == 0 ? 1 : -1;
}

static int record(int listen_port, int target_port, const char *path, double seconds) {
    udp_relay r;
    int port = udp_relay_open(&r, listen_port, target_port, "udp_replay");
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    (void)printf("%d\n", port);
    (void)fflush(stdout);
    if (udp_relay_run(&r, seconds, 50, NULL, append, f) != 0)
        return 1;
    return fclose(f) == 0 ? 0 : 1;
}

/* The next datagram of a recorded FILE (4-byte little-endian length, the bytes) into buf of
   cap bytes; 0 at the end of the file or at a record that does not fit. */
static int next_record(FILE *f, unsigned char *buf, size_t cap, size_t *n) {
    unsigned char len[4];
    if (fread(len, 1, 4, f) != 4)
        return 0;
    *n = halo_get_u32(len);
    return *n <= cap && fread(buf, 1, *n, f) == *n;
}

static int replay(const char *path, int target_port, int wait_ms) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    int s = udp_relay_socket(0, "udp_replay");
    struct sockaddr_in target = udp_relay_loop_addr(target_port);
    static unsigned char buf[70000];
    size_t n;
    long n_sent = 0, b_sent = 0, n_back = 0, b_back = 0, control = 0, other = 0;
    while (next_record(f, buf, sizeof buf, &n)) {
        if (sendto(s, buf, n, 0, (const struct sockaddr *)&target, sizeof target) == (ssize_t)n) {
            n_sent++;
            b_sent += (long)n;
        }
        /* paced a little: the receiver's socket buffer is not the thing under test */
        if (n_sent % 64 == 0) {
            struct timespec ts = {0, 2000000};
            (void)nanosleep(&ts, NULL);
        }
    }
    (void)fclose(f);
    double end = udp_relay_now_s() + wait_ms / 1000.0;
    while (udp_relay_now_s() < end) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = recv(s, buf, sizeof buf, 0);
        if (r <= 0)
            continue;
        n_back++;
        b_back += r;
        if (r >= 6 && memcmp(buf, "HNET", 4) == 0 && (buf[5] & 0x3f) == 2)
            control++;
        else
            other++;
    }
    (void)printf("sent %ld %ld, back %ld %ld; control %ld, other %ld\n", n_sent, b_sent, n_back,
                 b_back, control, other);
    return 0;
}

static int types(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    static unsigned char buf[70000];
    size_t n;
    long count[256] = {0};
    while (next_record(f, buf, sizeof buf, &n)) {
        if (n >= 6 && memcmp(buf, "HNET", 4) == 0)
            count[buf[5]]++;
    }
    (void)fclose(f);
    for (int t = 0; t < 256; t++)
        if (count[t])
            (void)printf("0x%02x %ld\n", t, count[t]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "types") == 0)
        return types(argv[2]);
    if (argc == 6 && strcmp(argv[1], "record") == 0)
        return record(atoi(argv[2]), atoi(argv[3]), argv[4], atof(argv[5]));
    if (argc == 5 && strcmp(argv[1], "replay") == 0)
        return replay(argv[2], atoi(argv[3]), atoi(argv[4]));
    (void)fprintf(stderr, "usage: udp_replay record LISTEN_PORT TARGET_PORT FILE SECONDS\n"
                          "       udp_replay replay FILE TARGET_PORT WAIT_MS\n");
    return 2;
}
