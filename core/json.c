/*
 * JSON numbers that are never NaN or Inf (core/json.h).
 */
#include "core/json.h"

#include <math.h>

void halo_json_num(FILE *out, double v, int style, int digits, const char *field,
                   halo_json_guard *g) {
    if (!isfinite(v)) {
        (void)fputs("null", out);
        if (g) {
            if (g->n_bad == 0) {
                g->field = field;
                g->value = v;
            }
            g->n_bad++;
        }
        return;
    }
    if (digits < 0)
        digits = 0;
    if (digits > 17)
        digits = 17;
    if (style == HALO_JSON_GENERAL)
        (void)fprintf(out, "%.*g", digits, v);
    else
        (void)fprintf(out, "%.*f", digits, v);
}

int halo_json_guard_check(const halo_json_guard *g, const char *what, halo_err *err) {
    if (g->n_bad == 0)
        return HALO_OK;
    const char *kind = isnan(g->value) ? "NaN" : g->value > 0 ? "+Inf" : "-Inf";
    if (g->n_bad > 1)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: %s is %s (and %ld more values not finite): not a JSON number", what,
                         g->field ? g->field : "a value", kind, g->n_bad - 1);
    return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s is %s: not a JSON number", what,
                     g->field ? g->field : "a value", kind);
}
