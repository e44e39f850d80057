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

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in loop_addr(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static double mono_s(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bound_socket(int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = loop_addr(port);
    if (s < 0 || bind(s, (const struct sockaddr *)&a, sizeof a) != 0) {
        perror("udp_replay: bind");
        exit(1);
    }
    return s;
}

static int record(int listen_port, int target_port, const char *path, double seconds) {
    int front = bound_socket(listen_port), back = bound_socket(0);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    struct sockaddr_in a, client, target = loop_addr(target_port);
    socklen_t al = sizeof a;
    (void)getsockname(front, (struct sockaddr *)&a, &al);
    (void)printf("%d\n", ntohs(a.sin_port));
    (void)fflush(stdout);
    int have_client = 0;
    static unsigned char buf[70000];
    double end = mono_s() + seconds;
    while (mono_s() < end) {
        struct pollfd p[2] = {{.fd = front, .events = POLLIN}, {.fd = back, .events = POLLIN}};
        if (poll(p, 2, 50) <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t r = recvfrom(front, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
            if (r > 0) {
                client = from;
                have_client = 1;
                unsigned char len[4] = {(unsigned char)r, (unsigned char)(r >> 8),
                                        (unsigned char)(r >> 16), (unsigned char)(r >> 24)};
                if (fwrite(len, 1, 4, f) != 4 || fwrite(buf, 1, (size_t)r, f) != (size_t)r ||
                    fflush(f) != 0)
                    return 1;
                (void)sendto(back, buf, (size_t)r, 0, (const struct sockaddr *)&target,
                             sizeof target);
            }
        }
        if (p[1].revents & POLLIN) {
            ssize_t r = recv(back, buf, sizeof buf, 0);
            if (r > 0 && have_client)
                (void)sendto(front, buf, (size_t)r, 0, (const struct sockaddr *)&client,
                             sizeof client);
        }
    }
    return fclose(f) == 0 ? 0 : 1;
}

static int replay(const char *path, int target_port, int wait_ms) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    int s = bound_socket(0);
    struct sockaddr_in target = loop_addr(target_port);
    static unsigned char buf[70000];
    unsigned char len[4];
    long n_sent = 0, b_sent = 0, n_back = 0, b_back = 0, control = 0, other = 0;
    while (fread(len, 1, 4, f) == 4) {
        size_t n =
            (size_t)len[0] | (size_t)len[1] << 8 | (size_t)len[2] << 16 | (size_t)len[3] << 24;
        if (n > sizeof buf || fread(buf, 1, n, f) != n)
            break;
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
    double end = mono_s() + wait_ms / 1000.0;
    while (mono_s() < end) {
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
    unsigned char len[4];
    long count[256] = {0};
    while (fread(len, 1, 4, f) == 4) {
        size_t n =
            (size_t)len[0] | (size_t)len[1] << 8 | (size_t)len[2] << 16 | (size_t)len[3] << 24;
        if (n > sizeof buf || fread(buf, 1, n, f) != n)
            break;
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
