/*
 * Strict value parsing (core/parse.h): values out of range are reported as out of range,
 * naming the value and the limits; text that is not a number is reported as such.
 */
#include "core/parse.h"
#include "tests/test.h"

static void expect_number_error(const char *s, double lo, double hi, const char *needle) {
    double v = -1;
    halo_err err = {0};
    ASSERT_EQ(halo_parse_number(s, lo, 0, hi, 0, &v, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, needle);
    ASSERT_NEAR(v, -1, 0); /* untouched */
}

static void expect_integer_error(const char *s, long long lo, long long hi, const char *needle) {
    long long v = -1;
    halo_err err = {0};
    ASSERT_EQ(halo_parse_integer(s, lo, hi, &v, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, needle);
    ASSERT_EQ(v, -1);
}

/* Issue 18: 1e400 was "expected a number, got '1e400'"; it is a number, out of range. */
static void numbers_beyond_a_double_are_out_of_range(void) {
    expect_number_error("1e400", 0, 1e6, "1e400 is out of range: not in [0, 1e+06]");
    expect_number_error("-1e999", -5, 5, "-1e999 is out of range: not in [-5, 5]");
    expect_number_error("1e-400", 0.5, 2, "1e-400 is out of range: not in [0.5, 2]");
    expect_integer_error("1e400", 1, 1024, "1e400 is out of range: not in [1, 1024]");
    expect_integer_error("99999999999999999999999", 1, 1024,
                         "99999999999999999999999 is not in [1, 1024]");
    uint64_t u = 7;
    halo_err err = {0};
    ASSERT_EQ(halo_parse_u64("99999999999999999999999", &u, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "99999999999999999999999 is out of range: not in [0, 2^64)");
    ASSERT_EQ(u, 7);
}

static void values_inside_and_outside_the_limits(void) {
    double v;
    halo_err err = {0};
    ASSERT_OK(halo_parse_number("2.5e2", 0, 0, 1e6, 0, &v, &err));
    ASSERT_NEAR(v, 250, 0);
    expect_number_error("1e7", 0, 1e6, "1e7 is not in [0, 1e+06]");
    expect_integer_error("2048", 1, 1024, "2048 is not in [1, 1024]");
    long long i;
    ASSERT_OK(halo_parse_integer("1e3", 1, 1024, &i, &err));
    ASSERT_EQ(i, 1000);
}

static void text_that_is_not_a_number_says_so(void) {
    expect_number_error("abc", 0, 1, "expected a number, got 'abc'");
    expect_number_error("nan", 0, 1, "expected a number, got 'nan'");
    expect_number_error("inf", 0, 1, "expected a number, got 'inf'");
    expect_number_error("1e", 0, 1, "expected a number, got '1e'");
    expect_integer_error("2.5", 0, 10, "expected an integer, got '2.5'");
    uint64_t u;
    halo_err err = {0};
    ASSERT_EQ(halo_parse_u64("-1", &u, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "expected an integer in [0, 2^64), got '-1'");
}

static void name_chars_are_ascii_letters_digits_dash_underscore_dot(void) {
    int n = 0;
    for (int c = 1; c < 256; c++)
        n += halo_parse_name_char((char)c);
    ASSERT_EQ(n, 26 + 26 + 10 + 3);
    ASSERT(halo_parse_name_char('a') && halo_parse_name_char('Z') && halo_parse_name_char('9'));
    ASSERT(halo_parse_name_char('-') && halo_parse_name_char('_') && halo_parse_name_char('.'));
    ASSERT(!halo_parse_name_char('/') && !halo_parse_name_char(' ') && !halo_parse_name_char('\0'));
}

TEST_MAIN(TEST(numbers_beyond_a_double_are_out_of_range),
          TEST(values_inside_and_outside_the_limits), TEST(text_that_is_not_a_number_says_so),
          TEST(name_chars_are_ascii_letters_digits_dash_underscore_dot))
