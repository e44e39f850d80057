/*
 * Addresses and the sockets made from them (net/addr.h), on loopback: parsing and its
 * errors, formatting, comparing, and bind/connect/accept.
 */
#define _DEFAULT_SOURCE /* SO_REUSEPORT */
#define _POSIX_C_SOURCE 200809L

#include "net/addr.h"
#include "tests/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void host_port_parses_and_formats_back(void) {
    halo_net_addr a, b;
    char text[HALO_NET_ADDR_STR_BYTES];
    ASSERT_OK(halo_net_addr_parse(&a, "127.0.0.1:7001", NULL));
    ASSERT_EQ(halo_net_addr_port(&a), 7001);
    ASSERT(strcmp(halo_net_addr_format(&a, text, sizeof text), "127.0.0.1:7001") == 0);
    ASSERT_OK(halo_net_addr_parse(&b, "localhost:7001", NULL)); /* a name */
    ASSERT(halo_net_addr_equal(&a, &b));
    halo_net_addr_loopback(&b, 7002);
    ASSERT(!halo_net_addr_equal(&a, &b));
    halo_net_addr_loopback(&b, 7001);
    ASSERT(halo_net_addr_equal(&a, &b));
    ASSERT_OK(halo_net_addr_parse(&b, "0.0.0.0:0", NULL));
    ASSERT_EQ(halo_net_addr_port(&b), 0);
    ASSERT(!halo_net_addr_equal(&a, &b));
    halo_net_addr none = {0};
    ASSERT(!halo_net_addr_equal(&none, &none)); /* "no address" equals nothing */
    ASSERT_EQ(halo_net_addr_port(&none), -1);
    ASSERT(strcmp(halo_net_addr_format(&none, text, sizeof text), "?") == 0);
}

/* IPv6 in brackets (issue 15): parsed, formatted back in brackets, compared; and bound on
   ::1 when the machine has it. */
static void ipv6_addresses_parse_format_and_bind(void) {
    halo_net_addr a, b;
    char text[HALO_NET_ADDR_STR_BYTES];
    ASSERT_OK(halo_net_addr_parse(&a, "[::1]:7001", NULL));
    ASSERT_EQ(a.ss.ss_family, AF_INET6);
    ASSERT_EQ(halo_net_addr_port(&a), 7001);
    ASSERT(strcmp(halo_net_addr_format(&a, text, sizeof text), "[::1]:7001") == 0);
    ASSERT_OK(halo_net_addr_parse(&b, "::1:7001", NULL)); /* without brackets: last colon */
    ASSERT(halo_net_addr_equal(&a, &b));
    ASSERT_OK(halo_net_addr_parse(&b, "[fe80::1:2]:7001", NULL));
    ASSERT(!halo_net_addr_equal(&a, &b));
    ASSERT_OK(halo_net_addr_parse(&b, "127.0.0.1:7001", NULL));
    ASSERT(!halo_net_addr_equal(&a, &b)); /* another family */
    halo_err err = {0};
    ASSERT_EQ(halo_net_addr_parse(&b, "[127.0.0.1]:7001", &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "is not an IPv6 address");
    ASSERT_EQ(halo_net_addr_parse(&b, "[::1:7001", &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "expected [IPv6 address]:port");
    int fd;
    ASSERT_OK(halo_net_addr_parse(&a, "[::1]:0", NULL));
    if (halo_net_addr_bind(&fd, &a, SOCK_DGRAM, &err) != HALO_OK) {
        (void)fprintf(stderr, "# no ::1 on this machine (%s): bind not checked\n", err.msg);
        return;
    }
    ASSERT_OK(halo_net_addr_sockname(&b, fd, NULL));
    ASSERT_EQ(b.ss.ss_family, AF_INET6);
    ASSERT(halo_net_addr_port(&b) > 0);
    (void)close(fd);
}

static void bad_addresses_are_refused_with_the_text(void) {
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"nowhere", "expected host:port"},        {":7001", "expected host:port"},
        {"127.0.0.1:", "port not in 0..65535"},   {"127.0.0.1:65536", "port not in 0..65535"},
        {"127.0.0.1:-1", "port not in 0..65535"}, {"127.0.0.1:12x", "port not in 0..65535"},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        halo_net_addr a;
        halo_err err = {0};
        ASSERT_EQ(halo_net_addr_parse(&a, bad[i].text, &err), HALO_ERR_ARG);
        ASSERT_STR_CONTAINS(err.msg, bad[i].text);
        ASSERT_STR_CONTAINS(err.msg, bad[i].why);
        ASSERT_EQ(a.len, 0);
    }
    halo_net_addr a;
    ASSERT_EQ(halo_net_addr_parse(&a, NULL, NULL), HALO_ERR_ARG);
}

static void stream_sockets_bind_connect_and_accept(void) {
    halo_net_addr any, bound;
    halo_err err = {0};
    halo_net_addr_loopback(&any, 0);
    int lfd, cfd, afd, in_progress;
    ASSERT_OK(halo_net_addr_bind(&lfd, &any, SOCK_STREAM, &err));
    ASSERT_OK(halo_net_addr_sockname(&bound, lfd, &err));
    ASSERT(halo_net_addr_port(&bound) > 0);
    ASSERT_EQ(halo_net_addr_accept(&afd, lfd, NULL), HALO_ERR_AGAIN); /* nobody yet */
    ASSERT_OK(halo_net_addr_connect(&cfd, &in_progress, &bound, &err));
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    ASSERT_OK(halo_net_addr_accept(&afd, lfd, &err));
    p = (struct pollfd){.fd = cfd, .events = POLLOUT};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    ASSERT_EQ(write(cfd, "ok", 2), 2);
    p = (struct pollfd){.fd = afd, .events = POLLIN};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    char got[2];
    ASSERT_EQ(read(afd, got, 2), 2);
    ASSERT(memcmp(got, "ok", 2) == 0);
    ASSERT_EQ(read(afd, got, 2), -1); /* non-blocking */
    ASSERT(errno == EAGAIN || errno == EWOULDBLOCK);
    /* the port is taken: the error names the address and the kind */
    int fd2;
    ASSERT_EQ(halo_net_addr_bind(&fd2, &bound, SOCK_STREAM, &err), HALO_ERR_IO);
    ASSERT_EQ(fd2, -1);
    char text[HALO_NET_ADDR_STR_BYTES], want[HALO_NET_ADDR_STR_BYTES + 16];
    (void)snprintf(want, sizeof want, "bind %s (tcp)",
                   halo_net_addr_format(&bound, text, sizeof text));
    ASSERT_STR_CONTAINS(err.msg, want);
    ASSERT_OK(close(afd));
    ASSERT_OK(close(cfd));
    ASSERT_OK(close(lfd));
}

static void datagram_socket_binds_a_free_port(void) {
    halo_net_addr any, bound;
    halo_net_addr_loopback(&any, 0);
    int fd;
    ASSERT_OK(halo_net_addr_bind(&fd, &any, SOCK_DGRAM, NULL));
    ASSERT_OK(halo_net_addr_sockname(&bound, fd, NULL));
    ASSERT(halo_net_addr_port(&bound) > 0);
    halo_net_addr_loopback(&any, (uint16_t)halo_net_addr_port(&bound));
    ASSERT(halo_net_addr_equal(&any, &bound));
    ASSERT_OK(close(fd));
    halo_net_addr none = {0};
    ASSERT_EQ(halo_net_addr_bind(&fd, &none, SOCK_DGRAM, NULL), HALO_ERR_ARG);
}

/* What the port takeover of issue 18 did: a second process binds the worker's UDP port with
   SO_REUSEADDR (or SO_REUSEPORT), on the wildcard or a specific address, and receives its
   datagrams. Every such bind must fail with EADDRINUSE. */
static int child_can_bind(uint16_t port, int any_host, int opt) {
    pid_t pid = fork();
    if (pid == 0) {
        int s = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
        if (s < 0)
            _exit(2);
        (void)setsockopt(s, SOL_SOCKET, opt, &one, sizeof one);
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(port)};
        in.sin_addr.s_addr = htonl(any_host ? INADDR_ANY : INADDR_LOOPBACK);
        if (bind(s, (const struct sockaddr *)&in, sizeof in) == 0)
            _exit(1);
        _exit(errno == EADDRINUSE ? 0 : 3);
    }
    int st = 0;
    ASSERT(pid > 0);
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void datagram_port_cannot_be_bound_by_another_process(void) {
    for (int wild = 0; wild <= 1; wild++) {
        halo_net_addr at, bound;
        ASSERT_OK(halo_net_addr_parse(&at, wild ? "0.0.0.0:0" : "127.0.0.1:0", NULL));
        int fd;
        ASSERT_OK(halo_net_addr_bind(&fd, &at, SOCK_DGRAM, NULL));
        ASSERT_OK(halo_net_addr_sockname(&bound, fd, NULL));
        uint16_t port = (uint16_t)halo_net_addr_port(&bound);
        for (int any_host = 0; any_host <= 1; any_host++) {
            ASSERT_EQ(child_can_bind(port, any_host, SO_REUSEADDR), 0);
            ASSERT_EQ(child_can_bind(port, any_host, SO_REUSEPORT), 0);
        }
        /* and our own bind says so, naming the address */
        halo_err err = {0};
        int fd2;
        halo_net_addr_loopback(&at, port);
        ASSERT_EQ(halo_net_addr_bind(&fd2, &at, SOCK_DGRAM, &err), HALO_ERR_IO);
        ASSERT_STR_CONTAINS(err.msg, "(udp)");
        ASSERT_OK(close(fd));
    }
}

/* The loopback interface's MTU from sysfs; 0 when it cannot be read. */
static long lo_mtu(void) {
    FILE *f = fopen("/sys/class/net/lo/mtu", "r");
    long mtu = 0;
    if (f) {
        if (fscanf(f, "%ld", &mtu) != 1)
            mtu = 0;
        (void)fclose(f);
    }
    return mtu;
}

/* Whether this host answers IP_MTU on a connected datagram socket (qemu-user does not
   translate the option: there the transport's 1400-byte fallback is what runs). */
static int ip_mtu_answers(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0), mtu = 0;
    socklen_t len = sizeof mtu;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = s >= 0 && connect(s, (const struct sockaddr *)&a, sizeof a) == 0 &&
             getsockopt(s, IPPROTO_IP, IP_MTU, &mtu, &len) == 0 && mtu > 0;
    if (s >= 0)
        (void)close(s);
    return ok;
}

static void path_payload_is_the_route_mtu_less_headers(void) {
    halo_net_addr none = {0}, v4, v6;
    ASSERT_EQ(halo_net_addr_path_payload(&none), 0);
    ASSERT_OK(halo_net_addr_parse(&v4, "127.0.0.1:9", NULL));
    size_t p4 = halo_net_addr_path_payload(&v4); /* no packet is sent to port 9 */
    long mtu = lo_mtu();
    if (!ip_mtu_answers()) {
        (void)fprintf(stderr, "# IP_MTU is not answered here: the 0 of 'not found'\n");
        ASSERT_EQ(p4, 0);
        return;
    }
    if (mtu > 0) {
        size_t want = (size_t)mtu - 28 < 65507 ? (size_t)mtu - 28 : 65507;
        ASSERT_EQ(p4, want);
    } else {
        ASSERT(p4 == 0 || (p4 >= 548 && p4 <= 65507));
    }
    ASSERT_OK(halo_net_addr_parse(&v6, "[::1]:9", NULL));
    size_t p6 = halo_net_addr_path_payload(&v6); /* 0 where the host has no IPv6 */
    if (p6 && mtu > 0) {
        size_t want = (size_t)mtu - 48 < 65507 ? (size_t)mtu - 48 : 65507;
        ASSERT_EQ(p6, want);
    }
}

TEST_MAIN(TEST(host_port_parses_and_formats_back), TEST(path_payload_is_the_route_mtu_less_headers),
          TEST(ipv6_addresses_parse_format_and_bind), TEST(bad_addresses_are_refused_with_the_text),
          TEST(stream_sockets_bind_connect_and_accept), TEST(datagram_socket_binds_a_free_port),
          TEST(datagram_port_cannot_be_bound_by_another_process))
