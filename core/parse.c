/*
 * Strict value parsing (core/parse.h).
 */
#include "core/parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int looks_numeric(const char *s) {
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return 0;
    return 1;
}

int halo_parse_double(const char *s, double *out) {
    if (!looks_numeric(s))
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* 1 when s is written as a decimal number but is beyond a double's range (1e400, -1e999,
   1e-400): a value out of range, not a value that is not a number (issue 18). */
static int out_of_double_range(const char *s) {
    if (!looks_numeric(s))
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    return end != s && !*end && (errno == ERANGE || !isfinite(v));
}

int halo_parse_number(const char *s, double lo, int lo_open, double hi, int hi_open, double *out,
                      halo_err *err) {
    double v;
    if (!halo_parse_double(s, &v)) {
        if (out_of_double_range(s))
            return HALO_FAIL(err, HALO_ERR_ARG, "%s is out of range: not in %c%g, %g%c", s,
                             lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
        return HALO_FAIL(err, HALO_ERR_ARG, "expected a number, got '%s'", s);
    }
    int below = lo_open ? !(v > lo) : !(v >= lo);
    int above = hi_open ? !(v < hi) : !(v <= hi);
    if (below || above) {
        if (isinf(hi))
            return HALO_FAIL(err, HALO_ERR_ARG, "%s is not %s %g", s, lo_open ? ">" : ">=", lo);
        return HALO_FAIL(err, HALO_ERR_ARG, "%s is not in %c%g, %g%c", s, lo_open ? '(' : '[', lo,
                         hi, hi_open ? ')' : ']');
    }
    *out = v;
    return HALO_OK;
}

int halo_parse_integer(const char *s, long long lo, long long hi, long long *out, halo_err *err) {
    double d;
    if (!halo_parse_double(s, &d)) {
        if (out_of_double_range(s))
            return HALO_FAIL(err, HALO_ERR_ARG, "%s is out of range: not in [%lld, %lld]", s, lo,
                             hi);
        return HALO_FAIL(err, HALO_ERR_ARG, "expected an integer, got '%s'", s);
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE) {
        /* not plain digits: accept an integral number in exponent form */
        if (d != floor(d))
            return HALO_FAIL(err, HALO_ERR_ARG, "expected an integer, got '%s'", s);
        if (fabs(d) > 9.0e15)
            return HALO_FAIL(err, HALO_ERR_ARG, "%s is not in [%lld, %lld]", s, lo, hi);
        v = (long long)d;
    }
    if (v < lo || v > hi)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s is not in [%lld, %lld]", s, lo, hi);
    *out = v;
    return HALO_OK;
}

int halo_parse_u64(const char *s, uint64_t *out, halo_err *err) {
    int ok = *s != '\0';
    for (const char *p = s; ok && *p; p++)
        ok = *p >= '0' && *p <= '9';
    char *end;
    errno = 0;
    unsigned long long v = ok ? strtoull(s, &end, 10) : 0;
    if (ok && errno == ERANGE)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s is out of range: not in [0, 2^64)", s);
    if (!ok)
        return HALO_FAIL(err, HALO_ERR_ARG, "expected an integer in [0, 2^64), got '%s'", s);
    *out = (uint64_t)v;
    return HALO_OK;
}

int halo_parse_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

int halo_parse_bool(const char *s, int *out, halo_err *err) {
    static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False",
                                                                           "FALSE"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = 1;
            return HALO_OK;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = 0;
            return HALO_OK;
        }
    }
    return HALO_FAIL(err, HALO_ERR_ARG, "expected true or false, got '%s'", s);
}

int halo_parse_enum(const char *s, const char *const *names, int *out, halo_err *err) {
    char list[200] = "";
    size_t used = 0;
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return HALO_OK;
        }
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    return HALO_FAIL(err, HALO_ERR_ARG, "'%s' is not one of %s", s, list);
}

int halo_parse_list_count(const char *s, const char *end, double lo, double hi, int integer) {
    int n = 0;
    while (s < end) {
        char num[64];
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        size_t len = (size_t)(stop - s);
        if (len == 0 || len >= sizeof num)
            return -1;
        memcpy(num, s, len);
        num[len] = '\0';
        double v;
        if (!halo_parse_double(num, &v) || v < lo || v > hi || (integer && v != floor(v)))
            return -1;
        n++;
        s = comma ? comma + 1 : end;
        if (comma && s == end)
            return -1;
    }
    return n;
}
