/*
 * The loopback UDP relay shared by tests/udp_lossy.c and tests/udp_replay.c (see
 * udp_relay.h). Not a test by itself.
 */
#define _POSIX_C_SOURCE 200809L

#include "tests/udp_relay.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct sockaddr_in udp_relay_loop_addr(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int udp_relay_socket(int port, const char *who) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = udp_relay_loop_addr(port);
    if (s < 0 || bind(s, (const struct sockaddr *)&a, sizeof a) != 0) {
        (void)fprintf(stderr, "%s: ", who);
        perror("bind");
        exit(1);
    }
    return s;
}

double udp_relay_now_s(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int udp_relay_open(udp_relay *r, int listen_port, int target_port, const char *who) {
    memset(r, 0, sizeof *r);
    r->front = udp_relay_socket(listen_port, who);
    r->back = udp_relay_socket(0, who);
    r->target = udp_relay_loop_addr(target_port);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    (void)getsockname(r->front, (struct sockaddr *)&me, &ml);
    return ntohs(me.sin_port);
}

int udp_relay_run(udp_relay *r, double seconds, int poll_ms, const volatile sig_atomic_t *stop,
                  udp_relay_hook *hook, void *ctx) {
    static unsigned char buf[65536];
    double end = udp_relay_now_s() + seconds;
    while (!(stop && *stop) && udp_relay_now_s() < end) {
        struct pollfd p[2] = {{.fd = r->front, .events = POLLIN},
                              {.fd = r->back, .events = POLLIN}};
        if (poll(p, 2, poll_ms) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & POLLIN))
                continue;
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(p[i].fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
            if (n < 0)
                continue;
            if (i == 0 && !r->have_client) {
                r->client = from;
                r->have_client = 1;
            } else if (i == 1 && !r->have_client) {
                continue;
            }
            int verdict = hook(ctx, i == 0, buf, (size_t)n);
            if (verdict < 0)
                return 1;
            if (verdict == 0)
                continue;
            if (i == 0)
                (void)sendto(r->back, buf, (size_t)n, 0, (const struct sockaddr *)&r->target,
                             sizeof r->target);
            else
                (void)sendto(r->front, buf, (size_t)n, 0, (const struct sockaddr *)&r->client,
                             sizeof r->client);
        }
    }
    return 0;
}
