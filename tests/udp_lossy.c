/*
 * A lossy UDP relay for one link of a socket cluster (issue 15: a link made lossy mid-run,
 * tests/test_net_sched.sh and tools/bench-replan.sh). Not a test by itself.
 *
 *   udp_lossy LISTEN_PORT TARGET_PORT LOSS AFTER SECONDS SEED
 *       relays datagrams between the first client that writes to 127.0.0.1:LISTEN_PORT
 *       (0: any free port) and 127.0.0.1:TARGET_PORT, for at most SECONDS; once AFTER
 *       datagrams have gone from the client to the target, drops every datagram, in either
 *       direction, with probability LOSS (a seeded xorshift stream: the same SEED drops the
 *       same positions). Prints "port N" when ready; on exit (SIGTERM or SECONDS) prints
 *       "relayed R, dropped D" on stderr.
 *
 * Loopback only; every wait is bounded.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

static struct sockaddr_in loop_addr(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int bound_socket(int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = loop_addr(port);
    if (s < 0 || bind(s, (const struct sockaddr *)&a, sizeof a) != 0) {
        perror("udp_lossy: bind");
        exit(1);
    }
    return s;
}

static double mono_s(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state;

static double uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        (void)fprintf(stderr, "usage: udp_lossy LISTEN_PORT TARGET_PORT LOSS AFTER SECONDS SEED\n");
        return 2;
    }
    int listen_port = atoi(argv[1]), target_port = atoi(argv[2]);
    double loss = atof(argv[3]), seconds = atof(argv[5]);
    long after = atol(argv[4]);
    rng_state = strtoull(argv[6], NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)sigaction(SIGINT, &sa, NULL);
    int front = bound_socket(listen_port), back = bound_socket(0);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    (void)getsockname(front, (struct sockaddr *)&me, &ml);
    printf("port %d\n", ntohs(me.sin_port));
    (void)fflush(stdout);
    struct sockaddr_in client, target = loop_addr(target_port);
    int have_client = 0;
    long forward = 0, relayed = 0, dropped = 0;
    static unsigned char buf[65536];
    double end = mono_s() + seconds;
    while (!stop && mono_s() < end) {
        struct pollfd p[2] = {{.fd = front, .events = POLLIN}, {.fd = back, .events = POLLIN}};
        if (poll(p, 2, 100) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & POLLIN))
                continue;
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(p[i].fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
            if (n < 0)
                continue;
            if (i == 0) {
                if (!have_client) {
                    client = from;
                    have_client = 1;
                }
                forward++;
            } else if (!have_client) {
                continue;
            }
            if (forward > after && loss > 0 && uniform() < loss) {
                dropped++;
                continue;
            }
            relayed++;
            if (i == 0)
                (void)sendto(back, buf, (size_t)n, 0, (const struct sockaddr *)&target,
                             sizeof target);
            else
                (void)sendto(front, buf, (size_t)n, 0, (const struct sockaddr *)&client,
                             sizeof client);
        }
    }
    (void)fprintf(stderr, "relayed %ld, dropped %ld\n", relayed, dropped);
    return 0;
}
