/*
 * A minimal test harness (in the manner of libuv's task.h): assertions that print both
 * operands, a table of cases, and a main that runs all cases or the one named in argv[1],
 * printing "ok N - name" / "not ok N - name". Naming a case that does not exist fails.
 */
#ifndef HALO_TEST_H
#define HALO_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

#define TEST_FAIL_AT(...)                                     \
    do {                                                      \
        (void)fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
        (void)fprintf(stderr, __VA_ARGS__);                   \
        (void)fprintf(stderr, "\n");                          \
        abort();                                              \
    } while (0)

#define ASSERT(cond)                                     \
    do {                                                 \
        if (!(cond))                                     \
            TEST_FAIL_AT("assertion failed: %s", #cond); \
    } while (0)

#define ASSERT_EQ(a, b)                                                    \
    do {                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                \
        if (a_ != b_)                                                      \
            TEST_FAIL_AT("%s == %s failed: %lld != %lld", #a, #b, a_, b_); \
    } while (0)

#define ASSERT_NE(a, b)                                             \
    do {                                                            \
        long long a_ = (long long)(a), b_ = (long long)(b);         \
        if (a_ == b_)                                               \
            TEST_FAIL_AT("%s != %s failed: both %lld", #a, #b, a_); \
    } while (0)

#define ASSERT_OK(expr)                                 \
    do {                                                \
        int rc_ = (expr);                               \
        if (rc_ != 0)                                   \
            TEST_FAIL_AT("%s returned %d", #expr, rc_); \
    } while (0)

/* ASSERT_OK for a call that reports through the halo_err `err` (a struct, not a pointer):
   a failure prints the call, its status and err.msg. */
#define ASSERT_OK_ERR(expr, err)                                       \
    do {                                                               \
        int rc_ = (expr);                                              \
        if (rc_ != 0)                                                  \
            TEST_FAIL_AT("%s returned %d: %s", #expr, rc_, (err).msg); \
    } while (0)

#define ASSERT_NEAR(a, b, tol)                                                                   \
    do {                                                                                         \
        double a_ = (double)(a), b_ = (double)(b);                                               \
        if (!(fabs(a_ - b_) <= (double)(tol)))                                                   \
            TEST_FAIL_AT("|%s - %s| <= %g failed: %.9g vs %.9g", #a, #b, (double)(tol), a_, b_); \
    } while (0)

#define ASSERT_STR_CONTAINS(hay, needle)                                 \
    do {                                                                 \
        if (!strstr((hay), (needle)))                                    \
            TEST_FAIL_AT("'%s' does not contain '%s'", (hay), (needle)); \
    } while (0)

static inline int test_main(int argc, char **argv, const test_case *cases, int n) {
    int ran = 0;
    for (int i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        cases[i].fn(); /* a failure aborts the process, so reaching here means it passed */
        (void)printf("ok %d - %s\n", i + 1, cases[i].name);
        (void)fflush(stdout);
        ran++;
    }
    if (ran == 0) {
        (void)fprintf(stderr, "no test case named '%s'\n", argc > 1 ? argv[1] : "");
        return 1;
    }
    return 0;
}

#define TEST_MAIN(...)                                                                 \
    int main(int argc, char **argv) {                                                  \
        static const test_case cases_[] = {__VA_ARGS__};                               \
        return test_main(argc, argv, cases_, (int)(sizeof cases_ / sizeof cases_[0])); \
    }

#define TEST(name) \
    { #name, name }

#endif /* HALO_TEST_H */
