/*
 * Addresses and the sockets made from them (net/addr.h). IPv4 and IPv6: the one place that
 * knows the families is here (parse, equal, port and format).
 */
#define _POSIX_C_SOURCE 200809L

#include "net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct sockaddr_in *as_in(const halo_net_addr *a) {
    return (const struct sockaddr_in *)(const void *)&a->ss;
}

static const struct sockaddr_in6 *as_in6(const halo_net_addr *a) {
    return (const struct sockaddr_in6 *)(const void *)&a->ss;
}

static void set_in6(halo_net_addr *out, const struct in6_addr *host, uint16_t port) {
    memset(out, 0, sizeof *out);
    struct sockaddr_in6 *in = (struct sockaddr_in6 *)(void *)&out->ss;
    in->sin6_family = AF_INET6;
    in->sin6_port = htons(port);
    in->sin6_addr = *host;
    out->len = sizeof *in;
}

static void set_in(halo_net_addr *out, struct in_addr host, uint16_t port) {
    memset(out, 0, sizeof *out);
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)&out->ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr = host;
    out->len = sizeof *in;
}

int halo_net_addr_parse(halo_net_addr *out, const char *s, halo_err *err) {
    memset(out, 0, sizeof *out);
    char host[256];
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
        return HALO_FAIL(err, HALO_ERR_ARG, "address '%s': expected host:port", s ? s : "(null)");
    const char *h = s;
    size_t hn = (size_t)(colon - s);
    int bracketed = s[0] == '[';
    if (bracketed) { /* [IPv6]:port */
        if (hn < 3 || s[hn - 1] != ']')
            return HALO_FAIL(err, HALO_ERR_ARG, "address '%s': expected [IPv6 address]:port", s);
        h = s + 1;
        hn -= 2;
    }
    memcpy(host, h, hn);
    host[hn] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
        return HALO_FAIL(err, HALO_ERR_ARG, "address '%s': port not in 0..65535", s);
    struct in_addr ip;
    struct in6_addr ip6;
    if (!bracketed && inet_pton(AF_INET, host, &ip) == 1) {
        set_in(out, ip, (uint16_t)port);
        return HALO_OK;
    }
    if (inet_pton(AF_INET6, host, &ip6) == 1) {
        set_in6(out, &ip6, (uint16_t)port);
        return HALO_OK;
    }
    if (bracketed)
        return HALO_FAIL(err, HALO_ERR_ARG, "address '%s': '%s' is not an IPv6 address", s, host);
    /* a name: IPv4 if it has one, else IPv6 */
    struct addrinfo hints = {.ai_family = AF_UNSPEC}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return HALO_FAIL(err, HALO_ERR_ARG, "address '%s': cannot resolve '%s'", s, host);
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *r = res; r && !pick; r = r->ai_next)
        if (r->ai_family == AF_INET)
            pick = r;
    for (const struct addrinfo *r = res; r && !pick; r = r->ai_next)
        if (r->ai_family == AF_INET6)
            pick = r;
    if (pick && pick->ai_family == AF_INET)
        set_in(out, ((const struct sockaddr_in *)(const void *)pick->ai_addr)->sin_addr,
               (uint16_t)port);
    else if (pick)
        set_in6(out, &((const struct sockaddr_in6 *)(const void *)pick->ai_addr)->sin6_addr,
                (uint16_t)port);
    freeaddrinfo(res);
    if (!pick)
        return HALO_FAIL(err, HALO_ERR_ARG, "address '%s': '%s' has no IPv4 or IPv6 address", s,
                         host);
    return HALO_OK;
}

void halo_net_addr_loopback(halo_net_addr *out, uint16_t port) {
    struct in_addr ip = {.s_addr = htonl(INADDR_LOOPBACK)};
    set_in(out, ip, port);
}

int halo_net_addr_equal(const halo_net_addr *a, const halo_net_addr *b) {
    if (!a->len || a->len != b->len || a->ss.ss_family != b->ss.ss_family)
        return 0;
    if (a->ss.ss_family == AF_INET)
        return as_in(a)->sin_port == as_in(b)->sin_port &&
               as_in(a)->sin_addr.s_addr == as_in(b)->sin_addr.s_addr;
    if (a->ss.ss_family == AF_INET6)
        return as_in6(a)->sin6_port == as_in6(b)->sin6_port &&
               memcmp(&as_in6(a)->sin6_addr, &as_in6(b)->sin6_addr, sizeof(struct in6_addr)) == 0 &&
               as_in6(a)->sin6_scope_id == as_in6(b)->sin6_scope_id;
    return memcmp(&a->ss, &b->ss, a->len) == 0;
}

int halo_net_addr_port(const halo_net_addr *a) {
    if (!a->len)
        return -1;
    if (a->ss.ss_family == AF_INET)
        return ntohs(as_in(a)->sin_port);
    return a->ss.ss_family == AF_INET6 ? ntohs(as_in6(a)->sin6_port) : -1;
}

char *halo_net_addr_format(const halo_net_addr *a, char *buf, size_t cap) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (a->len && a->ss.ss_family == AF_INET) {
        (void)inet_ntop(AF_INET, &as_in(a)->sin_addr, host, sizeof host);
        (void)snprintf(buf, cap, "%s:%u", host, (unsigned)ntohs(as_in(a)->sin_port));
    } else if (a->len && a->ss.ss_family == AF_INET6) {
        (void)inet_ntop(AF_INET6, &as_in6(a)->sin6_addr, host, sizeof host);
        (void)snprintf(buf, cap, "[%s]:%u", host, (unsigned)ntohs(as_in6(a)->sin6_port));
    } else {
        (void)snprintf(buf, cap, "?");
    }
    return buf;
}

int halo_net_addr_sockname(halo_net_addr *out, int fd, halo_err *err) {
    memset(out, 0, sizeof *out);
    socklen_t sl = sizeof out->ss;
    if (getsockname(fd, (struct sockaddr *)&out->ss, &sl) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "getsockname: %s", strerror(errno));
    out->len = sl;
    return HALO_OK;
}

/* Turns the socket option (level, name) on (name 0: none) and makes `s` non-blocking; on
 * failure closes `s` and fails naming `op`. */
static int tune(int s, int level, int name, const char *op, halo_err *err) {
    int one = 1, fl;
    if (name)
        (void)setsockopt(s, level, name, &one, sizeof one);
    if ((fl = fcntl(s, F_GETFL, 0)) < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        (void)close(s);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: %s", op, strerror(e));
    }
    return HALO_OK;
}

/* A new close-on-exec, non-blocking socket for `a` with option (level, name) on. */
static int new_socket(int *fd, const halo_net_addr *a, int sock_type, int level, int name,
                      const char *op, halo_err *err) {
    *fd = -1;
    if (!a->len)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: no address", op);
    int s = socket(a->ss.ss_family, sock_type | SOCK_CLOEXEC, 0);
    if (s < 0)
        return HALO_FAIL(err, HALO_ERR_IO, "socket: %s", strerror(errno));
    int rc = tune(s, level, name, op, err);
    if (rc == HALO_OK)
        *fd = s;
    return rc;
}

int halo_net_addr_bind(int *fd, const halo_net_addr *a, int sock_type, halo_err *err) {
    int s;
    /* SO_REUSEADDR only where it means "rebind a port in TIME_WAIT" (TCP listeners). On a
       datagram socket it lets any local user bind the same port beside us and receive our
       datagrams (issue 18: a worker's port was taken over and a refusal forged). */
    int rc = new_socket(&s, a, sock_type, SOL_SOCKET, sock_type == SOCK_STREAM ? SO_REUSEADDR : 0,
                        "bind", err);
    *fd = -1;
    if (rc != HALO_OK)
        return rc;
    if (bind(s, (const struct sockaddr *)&a->ss, a->len) != 0 ||
        (sock_type == SOCK_STREAM && listen(s, 64) != 0)) {
        int e = errno;
        (void)close(s);
        char text[HALO_NET_ADDR_STR_BYTES];
        return HALO_FAIL(err, HALO_ERR_IO, "bind %s (%s): %s",
                         halo_net_addr_format(a, text, sizeof text),
                         sock_type == SOCK_DGRAM ? "udp" : "tcp", strerror(e));
    }
    *fd = s;
    return HALO_OK;
}

int halo_net_addr_connect(int *fd, int *in_progress, const halo_net_addr *a, halo_err *err) {
    int s;
    *in_progress = 0;
    int rc = new_socket(&s, a, SOCK_STREAM, IPPROTO_TCP, TCP_NODELAY, "connect", err);
    *fd = -1;
    if (rc != HALO_OK)
        return rc;
    rc = connect(s, (const struct sockaddr *)&a->ss, a->len);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        (void)close(s);
        char text[HALO_NET_ADDR_STR_BYTES];
        return HALO_FAIL(err, HALO_ERR_IO, "connect %s: %s",
                         halo_net_addr_format(a, text, sizeof text), strerror(e));
    }
    *fd = s;
    *in_progress = rc != 0;
    return HALO_OK;
}

int halo_net_addr_accept(int *fd, int listen_fd, halo_err *err) {
    *fd = -1;
    int s = accept(listen_fd, NULL, NULL);
    if (s < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK
                   ? HALO_ERR_AGAIN
                   : HALO_FAIL(err, HALO_ERR_IO, "accept: %s", strerror(errno));
    int rc = tune(s, IPPROTO_TCP, TCP_NODELAY, "accept", err);
    if (rc == HALO_OK)
        *fd = s;
    return rc;
}

size_t halo_net_addr_path_payload(const halo_net_addr *a) {
    if (!a->len)
        return 0;
    int v6 = a->ss.ss_family == AF_INET6;
    int s = socket(a->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 0;
    int mtu = 0;
    socklen_t len = sizeof mtu;
    int ok = connect(s, (const struct sockaddr *)&a->ss, a->len) == 0 &&
             getsockopt(s, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &mtu, &len) == 0;
    (void)close(s);
    size_t headers = v6 ? 40 + 8 : 20 + 8;
    if (!ok || mtu <= 0 || (size_t)mtu <= headers)
        return 0;
    size_t payload = (size_t)mtu - headers;
    return payload < 65507 ? payload : 65507;
}
