/*
 * The root-worker messages (net/join.h): JOIN and JACK survive their encodings field by
 * field, anything else is not taken for one, and the event log formats a line.
 */
#include "net/join.h"
#include "tests/test.h"

#include <string.h>

static void join_survives_its_encoding(void) {
    halo_net_join j = {.node_idx = 3,
                       .n_devices = 5,
                       .encoding = 1,
                       .ffn_group_size = 96,
                       .model_hash = 0x0123456789abcdefull,
                       .wall_ns = 1700000000123456789ull,
                       .session = 0xfedcba9876543210ull,
                       .loss_rate = 0.02,
                       .delay_ns = 1500000,
                       .loss_seed = 42,
                       .flags = HALO_NET_JOIN_ENCRYPT},
                  d;
    for (int i = 0; i < 32; i++)
        j.kx_pk[i] = (uint8_t)(200 + i);
    unsigned char buf[HALO_NET_JOIN_BYTES];
    halo_net_join_encode(&j, buf);
    ASSERT(memcmp(buf, "JOIN", 4) == 0);
    ASSERT(halo_net_join_decode(&d, buf, sizeof buf));
    ASSERT_EQ(d.node_idx, 3);
    ASSERT_EQ(d.n_devices, 5);
    ASSERT_EQ(d.encoding, 1);
    ASSERT_EQ(d.ffn_group_size, 96);
    ASSERT(d.model_hash == j.model_hash);
    ASSERT(d.wall_ns == j.wall_ns);
    ASSERT(d.session == j.session);
    ASSERT_NEAR(d.loss_rate, 0.02, 1e-9);
    ASSERT_EQ(d.delay_ns, 1500000);
    ASSERT_EQ(d.loss_seed, 42);
    ASSERT(memcmp(d.kx_pk, j.kx_pk, sizeof j.kx_pk) == 0);
    ASSERT_EQ(d.flags, HALO_NET_JOIN_ENCRYPT);
}

static void join_decode_refuses_other_bytes(void) {
    halo_net_join j = {.node_idx = 1, .n_devices = 2, .ffn_group_size = 8}, d;
    unsigned char buf[HALO_NET_JOIN_BYTES + 1];
    halo_net_join_encode(&j, buf);
    ASSERT(!halo_net_join_decode(&d, buf, HALO_NET_JOIN_BYTES - 1));
    ASSERT(!halo_net_join_decode(&d, buf, HALO_NET_JOIN_BYTES + 1));
    buf[4] = 1; /* another version: 1, before the key exchange */
    ASSERT(!halo_net_join_decode(&d, buf, HALO_NET_JOIN_BYTES));
    buf[4] = HALO_NET_JOIN_VERSION;
    buf[0] = 'j';
    ASSERT(!halo_net_join_decode(&d, buf, HALO_NET_JOIN_BYTES));
    /* a loss rate of 1 or more does not survive: the worker would drop everything */
    j.loss_rate = 1.5;
    halo_net_join_encode(&j, buf);
    ASSERT(halo_net_join_decode(&d, buf, HALO_NET_JOIN_BYTES));
    ASSERT_NEAR(d.loss_rate, 0.0, 0.0);
}

static void jack_survives_its_encoding(void) {
    halo_net_jack a = {.status = HALO_NET_JACK_MODEL,
                       .node_idx = 7,
                       .model_hash = 0xaabbccddeeff0011ull,
                       .session = 99},
                  d;
    for (int i = 0; i < 32; i++)
        a.kx_pk[i] = (uint8_t)(7 * i);
    unsigned char buf[HALO_NET_JACK_BYTES];
    halo_net_jack_encode(&a, buf);
    ASSERT(halo_net_jack_decode(&d, buf, sizeof buf));
    ASSERT_EQ(d.status, HALO_NET_JACK_MODEL);
    ASSERT_EQ(d.node_idx, 7);
    ASSERT(d.model_hash == a.model_hash);
    ASSERT_EQ(d.session, 99);
    ASSERT(memcmp(d.kx_pk, a.kx_pk, sizeof a.kx_pk) == 0);
    ASSERT(!halo_net_jack_decode(&d, buf, sizeof buf - 1));
    buf[3] = 'X';
    ASSERT(!halo_net_jack_decode(&d, buf, sizeof buf));
    unsigned char join[HALO_NET_JOIN_BYTES];
    halo_net_join j = {.node_idx = 1, .n_devices = 2};
    halo_net_join_encode(&j, join);
    ASSERT(!halo_net_jack_decode(&d, join, HALO_NET_JACK_BYTES)); /* a JOIN is not a JACK */
}

static void on_line(void *ctx, const char *line) {
    (void)snprintf(ctx, 64, "%s", line);
}

static void log_formats_one_line_and_tolerates_no_sink(void) {
    char got[64] = "";
    halo_net_log(on_line, got, "worker %d (%s) lost", 2, "10.0.0.3:7001");
    ASSERT(strcmp(got, "worker 2 (10.0.0.3:7001) lost") == 0);
    halo_net_log(NULL, NULL, "nobody listens: %d", 1);
}

TEST_MAIN(TEST(join_survives_its_encoding), TEST(join_decode_refuses_other_bytes),
          TEST(jack_survives_its_encoding), TEST(log_formats_one_line_and_tolerates_no_sink))
