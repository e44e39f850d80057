/*
 * The mesh collective's messages (net/mesh.h): PEERS survives its encoding (addresses,
 * public keys, the placement), anything malformed is not taken for one, a placement of
 * another geometry is refused; PACK survives its encoding; and the pair keys two workers
 * derive from each other's public key agree (one's tx is the other's rx) and differ from
 * every other pair's.
 */
#include "net/mesh.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

/* A placement of 4 devices over 3 layers of 2 attention and 5 FFN groups, weights 1,2,1,3. */
static void make_placement(halo_placement *p) {
    halo_model_config mc = {.dim = 64,
                            .hidden_dim = 160,
                            .n_layers = 3,
                            .n_heads = 4,
                            .n_kv_heads = 2,
                            .vocab_size = 512,
                            .seq_len = 32};
    halo_groups g;
    ASSERT_OK(halo_groups_init(&g, &mc, 32, NULL));
    ASSERT_EQ(g.n_ffn, 5);
    double w[4] = {1, 2, 1, 3};
    ASSERT_OK(halo_placement_init(p, &g, 4, w, NULL));
}

static void peers_survive_their_encoding(void) {
    halo_placement p, q;
    make_placement(&p);
    const char *addrs[4] = {NULL, "127.0.0.1:7001", "[::1]:7002", "10.0.0.4:65535"};
    uint8_t pks[4][HALO_NET_KX_PUBLIC_BYTES];
    for (int d = 0; d < 4; d++)
        for (int i = 0; i < HALO_NET_KX_PUBLIC_BYTES; i++)
            pks[d][i] = (uint8_t)(d * 40 + i);
    size_t len = halo_net_peers_size(4, &p.groups);
    unsigned char *buf = malloc(len);
    ASSERT(buf != NULL);
    halo_net_peers_encode(buf, 0x1122334455667788ull, 2, 4, addrs,
                          (const uint8_t(*)[HALO_NET_KX_PUBLIC_BYTES])pks, &p);
    halo_net_peers v;
    ASSERT(halo_net_peers_decode(&v, buf, len));
    ASSERT(v.session == 0x1122334455667788ull);
    ASSERT_EQ(v.node_idx, 2);
    ASSERT_EQ(v.n_devices, 4);
    for (int d = 1; d < 4; d++) {
        char a[HALO_NET_PEERS_ADDR_BYTES];
        halo_net_peers_addr(&v, d, a, sizeof a);
        ASSERT(strcmp(a, addrs[d]) == 0);
        ASSERT(memcmp(halo_net_peers_pk(&v, d), pks[d], HALO_NET_KX_PUBLIC_BYTES) == 0);
    }
    char small[6];
    halo_net_peers_addr(&v, 1, small, sizeof small); /* cut, still terminated */
    ASSERT(strcmp(small, "127.0") == 0);
    ASSERT_OK(halo_placement_init(&q, &p.groups, 4, NULL, NULL));
    ASSERT_OK(halo_net_peers_placement(&v, &q, NULL));
    size_t na = (size_t)p.groups.n_layers * (size_t)p.groups.n_attn;
    size_t nf = (size_t)p.groups.n_layers * (size_t)p.groups.n_ffn;
    ASSERT(memcmp(q.attn, p.attn, na * sizeof *p.attn) == 0);
    ASSERT(memcmp(q.ffn, p.ffn, nf * sizeof *p.ffn) == 0);
    halo_placement_free(&q);
    /* another geometry (5 devices) is refused with both sides named */
    halo_err err = {0};
    ASSERT_OK(halo_placement_init(&q, &p.groups, 5, NULL, NULL));
    ASSERT_EQ(halo_net_peers_placement(&v, &q, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "for 4 devices");
    halo_placement_free(&q);
    free(buf);
    halo_placement_free(&p);
}

static void peers_decode_refuses_other_bytes(void) {
    halo_placement p;
    make_placement(&p);
    const char *addrs[4] = {NULL, "a:1", "b:2", "c:3"};
    uint8_t pks[4][HALO_NET_KX_PUBLIC_BYTES] = {{0}};
    size_t len = halo_net_peers_size(4, &p.groups);
    unsigned char *buf = malloc(len + 1);
    ASSERT(buf != NULL);
    halo_net_peers_encode(buf, 1, 1, 4, addrs, (const uint8_t(*)[HALO_NET_KX_PUBLIC_BYTES])pks, &p);
    halo_net_peers v;
    ASSERT(halo_net_peers_decode(&v, buf, len));
    ASSERT(!halo_net_peers_decode(&v, buf, len - 1)); /* truncated */
    ASSERT(!halo_net_peers_decode(&v, buf, len + 1)); /* trailing byte */
    ASSERT(!halo_net_peers_decode(&v, buf, 10));
    buf[4] ^= 1; /* version */
    ASSERT(!halo_net_peers_decode(&v, buf, len));
    buf[4] ^= 1;
    buf[6] = 0; /* node 0: the root is nobody's peer list */
    ASSERT(!halo_net_peers_decode(&v, buf, len));
    buf[6] = 4; /* node index beyond n_devices */
    ASSERT(!halo_net_peers_decode(&v, buf, len));
    buf[6] = 1;
    buf[0] = 'J'; /* a JOIN's magic */
    ASSERT(!halo_net_peers_decode(&v, buf, len));
    /* a placement entry naming no device is refused */
    buf[0] = 'P';
    ASSERT(halo_net_peers_decode(&v, buf, len));
    buf[len - 2] = 9;
    halo_placement q;
    ASSERT_OK(halo_placement_init(&q, &p.groups, 4, NULL, NULL));
    ASSERT_EQ(halo_net_peers_placement(&v, &q, NULL), HALO_ERR_ARG);
    halo_placement_free(&q);
    free(buf);
    halo_placement_free(&p);
}

static void pack_survives_its_encoding(void) {
    unsigned char b[HALO_NET_PACK_BYTES];
    halo_net_pack_encode(b, 0xabcdef0123456789ull, 3, 1);
    uint64_t s;
    int node, status;
    ASSERT(halo_net_pack_decode(b, sizeof b, &s, &node, &status));
    ASSERT(s == 0xabcdef0123456789ull);
    ASSERT_EQ(node, 3);
    ASSERT_EQ(status, 1);
    ASSERT(!halo_net_pack_decode(b, sizeof b - 1, &s, &node, &status));
    b[0] = 'X';
    ASSERT(!halo_net_pack_decode(b, sizeof b, &s, &node, &status));
}

/* Workers 1, 2, 3 of a session: the pair keys (lower index as crypto_kx's client) agree. */
static void pair_keys_agree_and_differ_between_pairs(void) {
    uint8_t cluster[HALO_NET_KEY_BYTES];
    memset(cluster, 7, sizeof cluster);
    halo_net_kx kx[4];
    for (int d = 1; d < 4; d++)
        ASSERT_OK(halo_net_kx_new(&kx[d], NULL));
    halo_net_session s[4][4];
    for (int a = 1; a < 4; a++)
        for (int b = 1; b < 4; b++)
            if (a != b)
                ASSERT_OK(
                    halo_net_session_derive(&s[a][b], &kx[a], kx[b].pk, a < b, cluster, 1, NULL));
    for (int a = 1; a < 4; a++)
        for (int b = 1; b < 4; b++) {
            if (a == b)
                continue;
            ASSERT(memcmp(s[a][b].tx, s[b][a].rx, HALO_NET_SESSION_KEY_BYTES) == 0);
            ASSERT(memcmp(s[a][b].tx, s[a][b].rx, HALO_NET_SESSION_KEY_BYTES) != 0);
            int c = 6 - a - b; /* the third worker */
            ASSERT(memcmp(s[a][b].tx, s[a][c].tx, HALO_NET_SESSION_KEY_BYTES) != 0);
        }
    /* another cluster key gives other pair keys */
    halo_net_session o;
    cluster[0] ^= 1;
    ASSERT_OK(halo_net_session_derive(&o, &kx[1], kx[2].pk, 1, cluster, 1, NULL));
    ASSERT(memcmp(o.tx, s[1][2].tx, HALO_NET_SESSION_KEY_BYTES) != 0);
    for (int d = 1; d < 4; d++)
        halo_net_kx_wipe(&kx[d]);
}

TEST_MAIN(TEST(peers_survive_their_encoding), TEST(peers_decode_refuses_other_bytes),
          TEST(pack_survives_its_encoding), TEST(pair_keys_agree_and_differ_between_pairs))
