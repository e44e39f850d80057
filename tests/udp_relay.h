/*
 * The loopback UDP relay that the test helpers udp_lossy (a link made lossy mid-run) and
 * udp_replay (recording a session for the replay attack) put between a client and a
 * target: sockets, the relay loop with a per-datagram hook, a monotonic clock. Not a test
 * by itself; loopback only, every wait bounded. Failing to bind a socket ends the process
 * (these are throwaway helper programs, not library code).
 */
#ifndef HALO_TESTS_UDP_RELAY_H
#define HALO_TESTS_UDP_RELAY_H

#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>

/* 127.0.0.1:port. */
struct sockaddr_in udp_relay_loop_addr(int port);

/* A UDP socket bound to 127.0.0.1:port (0: any free port); on failure prints "WHO: bind" and
   exits with status 1. */
int udp_relay_socket(int port, const char *who);

/* Monotonic wall-clock time in seconds. */
double udp_relay_now_s(void);

typedef struct udp_relay {
    int front;                 /* bound to the listening port: the client writes here */
    int back;                  /* bound to a free port: talks to the target */
    struct sockaddr_in target; /* 127.0.0.1:TARGET_PORT */
    struct sockaddr_in client; /* the first client that wrote to front (once have_client) */
    int have_client;
} udp_relay;

/* Opens the two sockets (udp_relay_socket, naming `who`); returns front's port. */
int udp_relay_open(udp_relay *r, int listen_port, int target_port, const char *who);

/* Decides on one datagram of n bytes (buf borrowed for the call): to_target is 1 for
   client -> target, 0 for target -> client. Returns 1 to forward it, 0 to drop it, -1 to
   end the relay with a failure. */
typedef int udp_relay_hook(void *ctx, int to_target, const unsigned char *buf, size_t n);

/* Relays datagrams between the first client and the target until `seconds` pass or *stop
   (may be NULL) is set, polling every poll_ms; datagrams from the target before any client
   wrote are dropped unseen. Returns 0, or 1 when the hook returned -1. */
int udp_relay_run(udp_relay *r, double seconds, int poll_ms, const volatile sig_atomic_t *stop,
                  udp_relay_hook *hook, void *ctx);

#endif
