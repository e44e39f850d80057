/*
 * SHA-256 of the results database's provenance hashes against FIPS 180-4 / NIST vectors,
 * including inputs that straddle the 55/56/64-byte padding boundaries and chunked updates.
 */
#include "results/sha256.h"
#include "tests/test.h"

static void str_is(const char *in, const char *want) {
    char hex[65];
    halo_sha256_str(in, hex);
    if (strcmp(hex, want) != 0)
        TEST_FAIL_AT("sha256('%.20s...') = %s, want %s", in, hex, want);
}

static void known_vectors_match(void) {
    str_is("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    str_is("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    str_is("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    str_is("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmno"
           "pqrlmnopqrsmnopqrstnopqrstu",
           "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void chunked_updates_equal_one_update(void) {
    char buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (char)('a' + i % 26);
    for (size_t n = 0; n <= 200; n++) {
        char a[65], b[65];
        halo_sha256 s;
        halo_sha256_init(&s);
        halo_sha256_update(&s, buf, n);
        halo_sha256_hex(&s, a);
        halo_sha256_init(&s);
        for (size_t i = 0; i < n; i += 7)
            halo_sha256_update(&s, buf + i, n - i < 7 ? n - i : 7);
        halo_sha256_hex(&s, b);
        ASSERT(strcmp(a, b) == 0);
    }
}

static void million_a(void) {
    halo_sha256 s;
    halo_sha256_init(&s);
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 1000; i++)
        halo_sha256_update(&s, chunk, sizeof chunk);
    char hex[65];
    halo_sha256_hex(&s, hex);
    ASSERT(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

static void missing_file_names_it(void) {
    char hex[65];
    halo_err err = {0};
    ASSERT_EQ(halo_sha256_file("/nonexistent/x", hex, &err), HALO_ERR_IO);
    ASSERT(strstr(err.msg, "/nonexistent/x") != NULL);
    /* only regular files are hashed: a directory is refused at once, by name */
    err = (halo_err){0};
    ASSERT_EQ(halo_sha256_file("/", hex, &err), HALO_ERR_IO);
    ASSERT(strstr(err.msg, "not a regular file") != NULL);
}

TEST_MAIN(TEST(known_vectors_match), TEST(chunked_updates_equal_one_update), TEST(million_a),
          TEST(missing_file_names_it))
