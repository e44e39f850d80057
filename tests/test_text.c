/*
 * Bounded text assembly (core/text.h): pieces append in order, what does not fit is cut
 * with the text still NUL-terminated, and a full or empty buffer is left alone.
 */
#include "core/text.h"
#include "tests/test.h"

#include <string.h>

static void pieces_append_in_order(void) {
    char buf[32] = "";
    size_t len = 0;
    halo_text_appendf(buf, sizeof buf, &len, "attn %d", 4);
    halo_text_appendf(buf, sizeof buf, &len, ",%d", 0);
    halo_text_appendf(buf, sizeof buf, &len, "%s", "");
    ASSERT_EQ(strcmp(buf, "attn 4,0"), 0);
    ASSERT_EQ(len, strlen(buf));
}

static void what_does_not_fit_is_cut(void) {
    char buf[8];
    size_t len = 0;
    halo_text_appendf(buf, sizeof buf, &len, "%s", "abcde");
    halo_text_appendf(buf, sizeof buf, &len, "%s", "fghij");
    ASSERT_EQ(strcmp(buf, "abcdefg"), 0);
    ASSERT_EQ(len, 7);
    /* full: later pieces change nothing */
    halo_text_appendf(buf, sizeof buf, &len, "%s", "x");
    ASSERT_EQ(strcmp(buf, "abcdefg"), 0);
    ASSERT_EQ(len, 7);
}

static void a_zero_capacity_is_left_alone(void) {
    char c = 'z';
    size_t len = 0;
    halo_text_appendf(&c, 0, &len, "%s", "abc");
    ASSERT_EQ(c, 'z');
    ASSERT_EQ(len, 0);
}

TEST_MAIN(TEST(pieces_append_in_order), TEST(what_does_not_fit_is_cut),
          TEST(a_zero_capacity_is_left_alone))
