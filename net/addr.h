/*
 * Network addresses of the socket transports and the sockets made from them: parsing
 * "host:port", formatting, comparing, and the three ways a socket comes to be (bound for
 * receiving or listening, connected, accepted), each non-blocking and close-on-exec.
 *
 * An address is a `struct sockaddr_storage` and its length, so that the transport never
 * looks inside one: only this module knows the address family: IPv4 ("10.0.0.2:7001") or
 * IPv6 ("[::1]:7001"; issue 15). All nodes of one cluster use one family.
 *
 * This module does no I/O on the sockets it makes (net/transport.h reads and writes them)
 * and keeps no state.
 */
#ifndef HALO_NET_ADDR_H
#define HALO_NET_ADDR_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A socket address; plain data, copy freely. A zeroed one is "no address". */
typedef struct halo_net_addr {
    struct sockaddr_storage ss; /* the socket address (AF_INET or AF_INET6) */
    socklen_t len;              /* bytes of ss in use; 0 = no address */
} halo_net_addr;

/* Longest text halo_net_addr_format writes, with its NUL. */
#define HALO_NET_ADDR_STR_BYTES 64

/*
 * Parses "host:port": host is an IPv4 dotted quad, an IPv6 address in brackets ("[::1]:7001";
 * without brackets the text after the last colon is the port) or a name (its IPv4 address
 * if it has one, else its IPv6 address); port is 0..65535 (0: any free port, when binding).
 * *out is "no address" on failure. Errors: HALO_ERR_ARG (the message quotes the text and says
 * what is wrong).
 */
int halo_net_addr_parse(halo_net_addr *out, const char *s, halo_err *err);

/* Sets *out to the loopback address (127.0.0.1) with `port`. */
void halo_net_addr_loopback(halo_net_addr *out, uint16_t port);

/* 1 if both are addresses of the same family, host and port; 0 otherwise (or if either is
   "no address"). */
int halo_net_addr_equal(const halo_net_addr *a, const halo_net_addr *b);

/* The port of `a`; -1 for "no address". */
int halo_net_addr_port(const halo_net_addr *a);

/* Writes "host:port" ("[v6]:port" for IPv6) into buf (capacity cap, NUL-terminated, cut if
   too small; "?" for no address) and returns buf. */
char *halo_net_addr_format(const halo_net_addr *a, char *buf, size_t cap);

/* The address socket `fd` is bound to (getsockname). Errors: HALO_ERR_IO. */
int halo_net_addr_sockname(halo_net_addr *out, int fd, halo_err *err);

/*
 * Makes a non-blocking socket of a's family, of `sock_type` (SOCK_DGRAM or SOCK_STREAM),
 * binds it to `a` and, for SOCK_STREAM, listens (backlog 64). Only a stream socket gets
 * SO_REUSEADDR (restart over TIME_WAIT); a datagram socket's port is exclusive: no other
 * socket, of this process or another user's, can bind it beside ours (issue 18). *fd
 * receives it (the caller closes it), -1 on failure. Errors: HALO_ERR_ARG (no address),
 * HALO_ERR_IO ("bind host:port (udp|tcp): errno text").
 */
int halo_net_addr_bind(int *fd, const halo_net_addr *a, int sock_type, halo_err *err);

/*
 * Starts a non-blocking TCP connection to `a` (TCP_NODELAY set). *fd receives the socket
 * (the caller closes it) and *in_progress 1 while the connection is being made (poll for
 * POLLOUT, then read SO_ERROR), 0 if it is already made. Errors: HALO_ERR_ARG (no address),
 * HALO_ERR_IO (socket or connect failed; *fd is -1).
 */
int halo_net_addr_connect(int *fd, int *in_progress, const halo_net_addr *a, halo_err *err);

/*
 * Accepts one connection on the listening socket `listen_fd` and makes it non-blocking with
 * TCP_NODELAY. *fd receives it (the caller closes it). Errors: HALO_ERR_AGAIN (nothing to
 * accept now), HALO_ERR_IO.
 */
int halo_net_addr_accept(int *fd, int listen_fd, halo_err *err);

/*
 * The largest UDP payload one datagram to `a` carries without IP fragmentation: the MTU of
 * the kernel's route to `a` (IP_MTU or IPV6_MTU of a datagram socket connected to it, no
 * packet sent) less the IP and UDP headers, at most 65507; 0 when it cannot be found.
 * Loopback gives 65507, an Ethernet route 1472 (IPv4) or 1452 (IPv6).
 */
size_t halo_net_addr_path_payload(const halo_net_addr *a);

#endif /* HALO_NET_ADDR_H */
