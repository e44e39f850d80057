/*
 * Status codes, the error record and assertions shared by every halo module.
 *
 * Environmental failures (I/O, allocation, malformed files, network) are reported as a
 * negative `enum halo_status` plus an optional `halo_err` whose message names the object
 * at fault. Broken invariants are programmer errors and abort through HALO_ASSERT.
 * This module prints nothing except the assertion message just before abort().
 */
#ifndef HALO_STATUS_H
#define HALO_STATUS_H

#include <stdarg.h>

enum halo_status {
    HALO_OK = 0,
    HALO_ERR_NOMEM = -1,   /* an allocation failed */
    HALO_ERR_IO = -2,      /* read/write/mmap failed; errno text is in the message */
    HALO_ERR_FORMAT = -3,  /* a model, tokenizer or scenario file is malformed */
    HALO_ERR_ARG = -4,     /* caller passed a value the contract forbids */
    HALO_ERR_TIMEOUT = -5, /* a deadline passed before the awaited data arrived */
    HALO_ERR_CLOSED = -6,  /* the peer or transport is gone */
    HALO_ERR_AGAIN = -7,   /* would block; retry on the next event */
};

typedef struct halo_err {
    int code;         /* one of enum halo_status */
    const char *file; /* source file where the error was raised */
    int line;         /* source line where the error was raised */
    char msg[256];    /* formatted, lowercase, no trailing newline */
} halo_err;

/* Returns a static description of `code`; never NULL (unknown codes get a generic text). */
const char *halo_strerror(int code);

/*
 * Records an error in `err` (which may be NULL) and returns `code`, so that callers can
 * write `return HALO_FAIL(err, HALO_ERR_ARG, "...")`. Set a breakpoint here to catch every
 * failure where it starts.
 */
int halo_err_set(halo_err *err, int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define HALO_FAIL(err, code, ...) halo_err_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)

/* halo_err_set with the arguments as a va_list, for functions that format messages of their
 * own kind (e.g. "<file>:<line>: <key>: <message>" in core/yaml.c) and then add a prefix. */
int halo_err_setv(halo_err *err, int code, const char *file, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

/*
 * Puts formatted text in front of err->msg (e.g. "scenario.yaml:12: engine.tau: " before a
 * value's message), cutting the end if the result is too long; err may be NULL. The code and
 * the raising source line are kept. Returns err->code (HALO_OK for NULL).
 */
int halo_err_prefix(halo_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "file:line: assertion failed: cond" to stderr and aborts. */
void halo_assert_fail(const char *file, int line, const char *cond) __attribute__((noreturn));

/* Always-on invariant check (ggml's GGML_ASSERT). */
#define HALO_ASSERT(cond)                                \
    do {                                                 \
        if (!(cond))                                     \
            halo_assert_fail(__FILE__, __LINE__, #cond); \
    } while (0)

#ifndef NDEBUG
#define HALO_DASSERT(cond) HALO_ASSERT(cond)
#else
#define HALO_DASSERT(cond) ((void)0)
#endif

#endif /* HALO_STATUS_H */
