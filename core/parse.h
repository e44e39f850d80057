/*
 * Strict parsing of values written as text (command-line arguments, scalars of scenario and
 * cluster files): the whole text must be the value, numbers must be finite, and messages
 * say what was expected and what was found ("1.5 is not in (0, 1]"), without naming the
 * option or key: the caller puts that in front (halo_err_prefix).
 */
#ifndef HALO_PARSE_H
#define HALO_PARSE_H

#include "core/status.h"

#include <stdint.h>

/* 1 and *out when s is a finite decimal number (digits, sign, '.', exponent); else 0. */
int halo_parse_double(const char *s, double *out);

/* A number in the range [lo, hi], a bound excluded when its _open flag is set; hi may be
   INFINITY. Errors: HALO_ERR_ARG. */
int halo_parse_number(const char *s, double lo, int lo_open, double hi, int hi_open, double *out,
                      halo_err *err);

/* An integer in [lo, hi]; an integral number in exponent form (1e6) is accepted.
   Errors: HALO_ERR_ARG. */
int halo_parse_integer(const char *s, long long lo, long long hi, long long *out, halo_err *err);

/* Plain decimal digits, 0 .. 2^64-1. Errors: HALO_ERR_ARG. */
int halo_parse_u64(const char *s, uint64_t *out, halo_err *err);

/* true/True/TRUE or false/False/FALSE. Errors: HALO_ERR_ARG. */
int halo_parse_bool(const char *s, int *out, halo_err *err);

/* One of names (NULL-terminated); *out is its index. Errors: HALO_ERR_ARG listing them. */
int halo_parse_enum(const char *s, const char *const *names, int *out, halo_err *err);

/* 1 when c is a letter, a digit, '-', '_' or '.' (ASCII: what a name that becomes part of a
   file name may hold), else 0. */
int halo_parse_name_char(char c);

/* Counts the comma-separated numbers in [s, end): -1 when one is not a number, is outside
   [lo, hi], is not an integer when `integer`, or a comma has nothing after it. */
int halo_parse_list_count(const char *s, const char *end, double lo, double hi, int integer);

#endif /* HALO_PARSE_H */
