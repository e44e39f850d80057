/*
 * JSON numbers that are never NaN or Inf (issue 18): every JSON writer of halo (`sim
 * --json`, `bench --json`, `eval --json`, `report --json`) prints its doubles through
 * halo_json_num. JSON (RFC 8259) has no NaN or infinity, and printf's "nan" or "-inf" makes
 * the whole document unreadable. A non-finite value is printed as null (so the text stays
 * valid JSON) and the first such field is recorded in a halo_json_guard; the writer then
 * decides: a measured value that is not finite is an error naming the field (the document is
 * not printed), while a statistic that does not exist (a confidence interval of one run) is
 * null by the format's contract.
 *
 * What it is not: a JSON library. Strings, objects and arrays stay the writers' own.
 */
#ifndef HALO_JSON_H
#define HALO_JSON_H

#include "core/status.h"

#include <stdio.h>

/* How a number is printed: printf's %.*f or %.*g. */
enum halo_json_style {
    HALO_JSON_FIXED,   /* "%.*f": digits after the point */
    HALO_JSON_GENERAL, /* "%.*g": significant digits */
};

/* The first non-finite value a document met (zero-initialise; caller-allocated). */
typedef struct halo_json_guard {
    const char *field; /* its name (borrowed: a string that outlives the guard), NULL if none */
    double value;      /* NaN, +Inf or -Inf */
    long n_bad;        /* how many non-finite values were printed as null */
} halo_json_guard;

/*
 * Prints `v` to `out` in `style` with `digits` (0..17) when finite; otherwise prints null and,
 * when `g` is not NULL, counts it and records `field` (borrowed; it must outlive g) if it is
 * the first. Never prints "nan" or "inf".
 */
void halo_json_num(FILE *out, double v, int style, int digits, const char *field,
                   halo_json_guard *g);

/*
 * HALO_OK when the guard met no non-finite value; else HALO_ERR_FORMAT naming `what` (the
 * document: "eval --json"), the first field and its value ("sim --json: mean_ms is NaN (and
 * 2 more values not finite): not a JSON number").
 */
int halo_json_guard_check(const halo_json_guard *g, const char *what, halo_err *err);

#endif /* HALO_JSON_H */
