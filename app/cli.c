/*
 * Shared command-line helpers.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int halo_cli_after_parse(int rc, const char *cmd, void (*usage)(FILE *), const halo_err *err) {
    if (rc == 1) {
        usage(stdout);
        return HALO_EXIT_OK;
    }
    return rc != HALO_OK ? halo_cli_usage_error(err, cmd) : -1;
}

int halo_cli_usage_error(const halo_err *err, const char *cmd) {
    halo_cli_print_err(err);
    (void)fprintf(stderr, "Try 'halo %s --help'.\n", cmd);
    return HALO_EXIT_USAGE;
}

int halo_cli_bad_option(int c, char *const *argv, halo_err *err) {
    if (c == ':')
        return HALO_FAIL(err, HALO_ERR_ARG, "option %s needs a value", argv[optind - 1]);
    return HALO_FAIL(err, HALO_ERR_ARG, "unknown option '%s'", argv[optind - 1]);
}

int halo_cli_one_arg(int argc, char *const *argv, const char *what, const char **out,
                     halo_err *err) {
    if (optind >= argc)
        return HALO_FAIL(err, HALO_ERR_ARG, "missing %s", what);
    if (optind + 1 < argc)
        return HALO_FAIL(err, HALO_ERR_ARG, "unexpected argument '%s'", argv[optind + 1]);
    *out = argv[optind];
    return HALO_OK;
}

int halo_cli_parse_long(const char *opt, const char *s, long min, long max, long *out,
                        halo_err *err) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno == ERANGE)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: '%s' is not an integer", opt, s);
    if (v < min || v > max)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: %ld is out of range %ld..%ld", opt, v, min, max);
    *out = v;
    return HALO_OK;
}

int halo_cli_parse_u64(const char *opt, const char *s, uint64_t *out, halo_err *err) {
    char *end = NULL;
    errno = 0;
    if (s[0] == '-' || s[0] == '\0')
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: '%s' is not a non-negative integer", opt, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: '%s' is not a non-negative integer", opt, s);
    *out = (uint64_t)v;
    return HALO_OK;
}

int halo_cli_parse_float(const char *opt, const char *s, float min, float max, float *out,
                         halo_err *err) {
    char *end = NULL;
    errno = 0;
    float v = strtof(s, &end);
    if (s[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v))
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: '%s' is not a number", opt, s);
    if (v < min || v > max)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: %g is out of range %g..%g", opt, (double)v,
                         (double)min, (double)max);
    *out = v;
    return HALO_OK;
}

const char *halo_cli_bundled_path(const char *name, char *buf, size_t size) {
    const char *dir = getenv("HALO_MODEL_DIR");
    if (!dir || dir[0] == '\0')
        dir = HALO_SOURCE_MODEL_DIR;
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        buf[0] = '\0';
    return buf;
}

void halo_cli_print_err(const halo_err *err) {
    if (getenv("HALO_DEBUG") && err->file)
        (void)fprintf(stderr, "halo: %s (%s:%d)\n", err->msg, err->file, err->line);
    else
        (void)fprintf(stderr, "halo: %s\n", err->msg);
}

void halo_cli_print_json_string(FILE *f, const char *s) {
    (void)fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            (void)fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            (void)fprintf(f, "\\u%04x", *p);
        else
            (void)fputc(*p, f);
    }
    (void)fputc('"', f);
}

uint64_t halo_cli_now_ns(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int halo_bundle_open(halo_bundle *s, const char *model_path, const char *tokenizer_path,
                     int threads, halo_err *err) {
    char mbuf[4096], tbuf[4096];
    memset(s, 0, sizeof *s);
    if (!model_path)
        model_path = halo_cli_bundled_path("stories260K.bin", mbuf, sizeof mbuf);
    if (!tokenizer_path)
        tokenizer_path = halo_cli_bundled_path("tok512.bin", tbuf, sizeof tbuf);
    int rc = halo_model_load(&s->model, model_path, err);
    if (rc == HALO_OK)
        rc = halo_tokenizer_load(&s->tok, tokenizer_path,
                                 halo_model_get_config(s->model)->vocab_size, err);
    if (rc == HALO_OK)
        rc = halo_pool_new(&s->pool, threads, err);
    if (rc == HALO_OK)
        rc = halo_state_new(&s->state, s->model, s->pool, err);
    if (rc != HALO_OK)
        halo_bundle_close(s);
    return rc;
}

void halo_bundle_close(halo_bundle *s) {
    halo_state_free(s->state);
    halo_pool_free(s->pool);
    halo_tokenizer_free(s->tok);
    halo_model_free(s->model);
    memset(s, 0, sizeof *s);
}
