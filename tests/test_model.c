/* Checkpoint loading, validation and the random-checkpoint writer. */
#include "core/model.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <stdint.h>

static const char *bundled(void) {
    return tu_src_path("models/stories260K.bin");
}

static void bundled_model_has_documented_shape(void) {
    halo_model *m = NULL;
    halo_err err = {0};
    ASSERT_OK(halo_model_load(&m, bundled(), &err));
    const halo_model_config *c = halo_model_get_config(m);
    ASSERT_EQ(c->dim, 64);
    ASSERT_EQ(c->hidden_dim, 172);
    ASSERT_EQ(c->n_layers, 5);
    ASSERT_EQ(c->n_heads, 8);
    ASSERT_EQ(c->n_kv_heads, 4);
    ASSERT_EQ(c->vocab_size, 512);
    ASSERT_EQ(c->seq_len, 512);
    ASSERT_EQ(c->shared_classifier, 1);
    ASSERT_EQ(halo_model_n_params(m), 260032);
    const halo_weights *w = halo_model_get_weights(m);
    ASSERT(w->wcls == w->token_embedding);
    halo_model_free(m);
}

/* Copies the bundled header with one field replaced and the original payload. */
static const char *with_header_field(int field, int32_t value) {
    size_t n;
    unsigned char *buf = tu_read_file(bundled(), &n);
    memcpy(buf + 4 * field, &value, 4); /* the test machines are little-endian */
    const char *p = tu_tmp_path("hdr.bin");
    tu_write_file(p, buf, n);
    free(buf);
    return p;
}

static void expect_format_error(const char *path, const char *needle) {
    halo_model *m = (halo_model *)1;
    halo_err err = {0};
    int rc = halo_model_load(&m, path, &err);
    ASSERT_EQ(rc, HALO_ERR_FORMAT);
    ASSERT(m == NULL);
    ASSERT_STR_CONTAINS(err.msg, path);
    ASSERT_STR_CONTAINS(err.msg, needle);
}

static void zero_negative_and_inconsistent_fields_are_rejected(void) {
    static const char *names[] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                  "n_kv_heads", "vocab_size", "seq_len"};
    for (int f = 0; f < 7; f++) {
        expect_format_error(with_header_field(f, 0), names[f]);
        if (f != 5) /* a negative vocab_size means "separate classifier" */
            expect_format_error(with_header_field(f, -3), names[f]);
        expect_format_error(with_header_field(f, INT32_MAX), names[f]);
    }
    expect_format_error(with_header_field(3, 7), "multiple of n_heads");    /* 64 % 7 */
    expect_format_error(with_header_field(4, 3), "multiple of n_kv_heads"); /* 8 % 3 */
    expect_format_error(with_header_field(4, 16), "multiple of n_kv_heads");
    expect_format_error(with_header_field(3, 64), "odd"); /* head size 1 */
    expect_format_error(with_header_field(5, INT32_MIN), "vocab_size");
    /* Consistent but describing another size: caught by the size check. */
    expect_format_error(with_header_field(2, 6), "truncated");
    expect_format_error(with_header_field(2, 4), "oversized");
    expect_format_error(with_header_field(5, -512), "truncated"); /* needs a classifier */
}

static void truncated_and_oversized_files_are_rejected(void) {
    size_t n;
    unsigned char *buf = tu_read_file(bundled(), &n);
    const char *p = tu_tmp_path("cut.bin");
    size_t cuts[] = {0, 3, 27, 28, 29, n / 2, n - 16384, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        tu_write_file(p, buf, cuts[i]);
        halo_model *m = NULL;
        halo_err err = {0};
        int rc = halo_model_load(&m, p, &err);
        if (cuts[i] == n - 16384) { /* exactly the file without the legacy RoPE tables */
            ASSERT_OK(rc);
            halo_model_free(m);
            continue;
        }
        ASSERT_EQ(rc, HALO_ERR_FORMAT);
        ASSERT_STR_CONTAINS(err.msg, cuts[i] < 28 ? "header" : "truncated");
    }
    unsigned char *big = calloc(n + 4, 1);
    memcpy(big, buf, n);
    tu_write_file(p, big, n + 4);
    expect_format_error(p, "oversized");
    free(big);
    free(buf);
}

static void missing_file_and_directory_are_io_errors(void) {
    halo_model *m = NULL;
    halo_err err = {0};
    ASSERT_EQ(halo_model_load(&m, "/nonexistent/model.bin", &err), HALO_ERR_IO);
    ASSERT_STR_CONTAINS(err.msg, "/nonexistent/model.bin");
    ASSERT_EQ(halo_model_load(&m, tu_src_path("models"), &err), HALO_ERR_IO);
    ASSERT_STR_CONTAINS(err.msg, "not a regular file");
}

static void random_checkpoints_round_trip_with_separate_classifier(void) {
    halo_model_config cfg = tu_model_shape("gqa");
    const char *p = tu_tmp_path("rand.bin");
    halo_err err = {0};
    ASSERT_OK(halo_model_write_random(p, &cfg, 7, &err));
    halo_model *m = NULL;
    ASSERT_OK(halo_model_load(&m, p, &err));
    const halo_model_config *c = halo_model_get_config(m);
    ASSERT(memcmp(c, &cfg, sizeof cfg) == 0);
    ASSERT_EQ(c->shared_classifier, 0);
    const halo_weights *w = halo_model_get_weights(m);
    ASSERT(w->wcls != w->token_embedding);
    ASSERT_EQ(w->rms_final[0], 1); /* norms are written as ones */
    ASSERT(w->wcls[(size_t)cfg.vocab_size * (size_t)cfg.dim - 1] != 0.0f);
    halo_model_free(m);
}

static void writer_rejects_bad_config_and_leaves_nothing(void) {
    halo_model_config cfg = tu_model_shape("gqa");
    cfg.dim = 100; /* not a multiple of the 6 heads */
    const char *p = tu_tmp_path("never.bin");
    halo_err err = {0};
    ASSERT_EQ(halo_model_write_random(p, &cfg, 1, &err), HALO_ERR_FORMAT);
    FILE *f = fopen(p, "rb");
    ASSERT(f == NULL);
    ASSERT_EQ(halo_model_write_random("/nonexistent/dir/x.bin",
                                      &(halo_model_config){8, 8, 1, 2, 2, 8, 4, 1}, 1, &err),
              HALO_ERR_IO);
}

static void free_accepts_null(void) {
    halo_model_free(NULL);
}

TEST_MAIN(TEST(bundled_model_has_documented_shape),
          TEST(zero_negative_and_inconsistent_fields_are_rejected),
          TEST(truncated_and_oversized_files_are_rejected),
          TEST(missing_file_and_directory_are_io_errors),
          TEST(random_checkpoints_round_trip_with_separate_classifier),
          TEST(writer_rejects_bad_config_and_leaves_nothing), TEST(free_accepts_null))
