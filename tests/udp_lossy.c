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

#include "tests/udp_relay.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void on_term(int sig) {
    (void)sig;
    stop = 1;
}

static uint64_t rng_state;

static double uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

typedef struct lossy {
    double loss;
    long after, forward, relayed, dropped;
} lossy;

/* udp_relay_hook: drops with probability loss once `after` datagrams went to the target. */
static int decide(void *ctx, int to_target, const unsigned char *buf, size_t n) {
    lossy *l = ctx;
    (void)buf;
    (void)n;
    if (to_target)
        l->forward++;
    if (l->forward > l->after && l->loss > 0 && uniform() < l->loss) {
        l->dropped++;
        return 0;
    }
    l->relayed++;
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        (void)fprintf(stderr, "usage: udp_lossy LISTEN_PORT TARGET_PORT LOSS AFTER SECONDS SEED\n");
        return 2;
    }
    int listen_port = atoi(argv[1]), target_port = atoi(argv[2]);
    lossy l = {.loss = atof(argv[3]), .after = atol(argv[4])};
    double seconds = atof(argv[5]);
    rng_state = strtoull(argv[6], NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)sigaction(SIGINT, &sa, NULL);
    udp_relay r;
    printf("port %d\n", udp_relay_open(&r, listen_port, target_port, "udp_lossy"));
    (void)fflush(stdout);
    (void)udp_relay_run(&r, seconds, 100, &stop, decide, &l);
    (void)fprintf(stderr, "relayed %ld, dropped %ld\n", l.relayed, l.dropped);
    return 0;
}
