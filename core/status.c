/*
 * Status strings and the error record. Deliberately tiny: no logging, no allocation.
 */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *halo_strerror(int code) {
    switch (code) {
    case HALO_OK:
        return "ok";
    case HALO_ERR_NOMEM:
        return "out of memory";
    case HALO_ERR_IO:
        return "i/o error";
    case HALO_ERR_FORMAT:
        return "malformed input";
    case HALO_ERR_ARG:
        return "invalid argument";
    case HALO_ERR_TIMEOUT:
        return "timed out";
    case HALO_ERR_CLOSED:
        return "closed";
    case HALO_ERR_AGAIN:
        return "try again";
    default:
        return "unknown error";
    }
}

int halo_err_setv(halo_err *err, int code, const char *file, int line, const char *fmt,
                  va_list ap) {
    if (err) {
        err->code = code;
        err->file = file;
        err->line = line;
        if (vsnprintf(err->msg, sizeof err->msg, fmt, ap) < 0)
            err->msg[0] = '\0';
    }
    return code;
}

int halo_err_set(halo_err *err, int code, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    (void)halo_err_setv(err, code, file, line, fmt, ap);
    va_end(ap);
    return code;
}

int halo_err_prefix(halo_err *err, const char *fmt, ...) {
    if (!err)
        return HALO_OK;
    char pre[sizeof err->msg], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    if (n < 0)
        pre[0] = '\0';
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    n = snprintf(err->msg, sizeof err->msg, "%s%s", pre, old);
    if (n < 0)
        err->msg[0] = '\0';
    return err->code;
}

void halo_assert_fail(const char *file, int line, const char *cond) {
    (void)fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, cond);
    abort();
}
