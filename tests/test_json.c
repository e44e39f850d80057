/*
 * JSON numbers that are never NaN or Inf (core/json.h; issue 18: `eval --json` printed
 * "nll": -nan, invalid JSON, and exited 0). The printer prints finite values as printf would,
 * null otherwise, and the guard turns the first non-finite value into an error naming it.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/json.h"
#include "tests/test.h"

#include <math.h>

/* What halo_json_num prints for v, into buf. */
static const char *printed(double v, int style, int digits, halo_json_guard *g, char *buf,
                           size_t cap) {
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    ASSERT(f != NULL);
    halo_json_num(f, v, style, digits, "x", g);
    ASSERT_EQ(fclose(f), 0);
    (void)snprintf(buf, cap, "%s", mem);
    free(mem);
    return buf;
}

static void finite_values_print_as_printf_would(void) {
    char buf[64], want[64];
    halo_json_guard g = {0};
    const double vs[] = {0.0, -0.0, 1.5, -2.25e-7, 123456.789012345, 1e300, -1e-300};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        (void)snprintf(want, sizeof want, "%.6f", vs[i]);
        ASSERT_STR_CONTAINS(printed(vs[i], HALO_JSON_FIXED, 6, &g, buf, sizeof buf), want);
        ASSERT_EQ(strlen(buf), strlen(want));
        (void)snprintf(want, sizeof want, "%.10g", vs[i]);
        ASSERT_STR_CONTAINS(printed(vs[i], HALO_JSON_GENERAL, 10, &g, buf, sizeof buf), want);
        ASSERT_EQ(strlen(buf), strlen(want));
    }
    ASSERT_EQ(g.n_bad, 0);
    ASSERT_OK(halo_json_guard_check(&g, "test --json", NULL));
}

static void nan_and_inf_print_as_null_and_fail_naming_the_field(void) {
    char buf[64];
    halo_json_guard g = {0};
    const double bad[] = {NAN, -NAN, HUGE_VAL, -HUGE_VAL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_STR_CONTAINS(printed(bad[i], HALO_JSON_FIXED, 6, NULL, buf, sizeof buf), "null");
        ASSERT_EQ(strlen(buf), 4);
        ASSERT_STR_CONTAINS(printed(bad[i], HALO_JSON_GENERAL, 10, NULL, buf, sizeof buf), "null");
    }
    /* the first one is named, the others counted */
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    ASSERT(f != NULL);
    halo_json_num(f, 1.0, HALO_JSON_FIXED, 3, "ok_ms", &g);
    halo_json_num(f, NAN, HALO_JSON_FIXED, 6, "nll", &g);
    halo_json_num(f, HUGE_VAL, HALO_JSON_FIXED, 6, "perplexity", &g);
    ASSERT_EQ(fclose(f), 0);
    ASSERT_STR_CONTAINS(mem, "1.000nullnull");
    free(mem);
    ASSERT_EQ(g.n_bad, 2);
    halo_err err = {0};
    ASSERT_EQ(halo_json_guard_check(&g, "eval --json", &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(
        err.msg, "eval --json: nll is NaN (and 1 more values not finite): not a JSON number");
    halo_json_guard one = {0};
    halo_json_num(stderr, -HUGE_VAL, HALO_JSON_GENERAL, 10, "mean_ms", &one);
    (void)fputc('\n', stderr);
    ASSERT_EQ(halo_json_guard_check(&one, "sim --json", &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "sim --json: mean_ms is -Inf: not a JSON number");
}

TEST_MAIN(TEST(finite_values_print_as_printf_would),
          TEST(nan_and_inf_print_as_null_and_fail_naming_the_field))
