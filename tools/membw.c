/*
 * halo_membw: how fast one core reads memory alone, and how fast each of two cores reads
 * when both read at once. A probe of the host's state, not of halo: tools/ground-truth.sh
 * runs it before and after every T run, because on the shared virtual machine
 * the cells are measured on, two processes streaming weights at once sometimes each read
 * at the speed of one alone and sometimes 1.5-1.7x slower, in periods of seconds (measured
 * 2026-12-06, docs/ground-truth.md "The host's state during a run"); the mirror gives each
 * cell the host memory bandwidth its runs met (tools/mirror-ground-truth.sh).
 *
 *   halo_membw [--mb N] [--passes P] [--rounds K] [--cores A,B] [--pages small|huge]
 *
 * Each thread owns a buffer of N MiB (default 256: far beyond the last-level cache),
 * written once, then read P times (default 4) one 8-byte word per 64-byte line, which
 * moves every line from memory as a weight stream does. "Alone": a thread on core A reads
 * its buffer; "pair": threads on cores A and B start together and read theirs. K rounds
 * (default 5) of alone then pair, ~0.1 s a round. Prints one line: `alone_gbps pair_gbps`
 * (GB/s of 10^9 bytes; pair: the mean of the two threads), each the median over the
 * rounds, so that one disturbed round does not make the figure. Exit status 0, 1 when
 * memory or a thread cannot be had, 2 on a bad argument (named).
 *
 * --pages huge: the buffers are 2 MiB-aligned and advised MADV_HUGEPAGE before they are
 * written, as a socket cluster's nodes hold their packed weight windows (core/winpack.h);
 * small (the default): plain malloc, 4 KiB pages under a THP setting of `madvise` (this
 * machine's), as a single device reads its model's file mapping; under `always` both kinds
 * are huge pages and measure alike.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define LINE_WORDS 8 /* 64-byte lines of 8-byte words */

typedef struct {
    uint64_t *buf;
    size_t words;
    int core;
    int passes;
    atomic_int *start; /* NULL: alone; else 0 wait, 1 go, -1 give up */
    double gbps;
    uint64_t sum; /* of the words read, kept so that the reads are not optimised away */
    int err;      /* of a failed pinning */
} reader;

static volatile uint64_t sink; /* where main keeps the sums */

static double now_s(void) {
    struct timespec t;
    (void)clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *read_passes(void *arg) {
    reader *r = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(r->core, &set);
    r->err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (r->start) {
        int go;
        while ((go = atomic_load(r->start)) == 0)
            sched_yield();
        if (go < 0)
            return NULL;
    }
    if (r->err)
        return NULL;
    double total = 0.0;
    uint64_t sum = 0;
    for (int p = 0; p < r->passes; p++) {
        double t0 = now_s();
        for (size_t i = 0; i < r->words; i += LINE_WORDS)
            sum += r->buf[i];
        total += now_s() - t0;
    }
    r->sum = sum;
    r->gbps =
        total > 0.0 ? (double)r->passes * (double)(r->words * sizeof(uint64_t)) / total / 1e9 : 0.0;
    return NULL;
}

static int parse_int(const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        (void)fprintf(stderr, "halo_membw: %s: '%s' is not a whole number in %ld..%ld\n", flag, s,
                      lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static void usage(FILE *f) {
    (void)fputs("usage: halo_membw [--mb N] [--passes P] [--rounds K] [--cores A,B]\n"
                "                  [--pages small|huge]\n"
                "Prints `alone_gbps pair_gbps`: one core reading memory alone, and each of\n"
                "two cores reading at once (their mean), medians over K rounds. Defaults:\n"
                "256 MiB a thread, 4 passes, 5 rounds, cores 0,1, small pages (huge: 2 MiB\n"
                "aligned buffers advised MADV_HUGEPAGE).\n",
                f);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

#define MAX_ROUNDS 100
#define HUGE_PAGE  ((size_t)2 << 20)

/* A buffer of at least `bytes`, 2 MiB-aligned and advised as huge pages (the advice may be
   refused: then small pages), or NULL. Freed with free(). */
static uint64_t *huge_buffer(size_t bytes) {
    void *p = NULL;
    bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
        return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

/* One round: core A alone, then both together; 0 or an error number. */
static int one_round(reader r[2], double *alone, double *pair) {
    pthread_t th[2];
    r[0].start = r[1].start = NULL;
    int err = pthread_create(&th[0], NULL, read_passes, &r[0]);
    if (!err)
        err = pthread_join(th[0], NULL);
    if (!err)
        err = r[0].err;
    if (err)
        return err;
    *alone = r[0].gbps;
    atomic_int start = 0;
    int made = 0;
    for (int t = 0; t < 2 && !err; t++) {
        r[t].start = &start;
        if ((err = pthread_create(&th[t], NULL, read_passes, &r[t])) == 0)
            made++;
    }
    atomic_store(&start, err ? -1 : 1);
    for (int t = 0; t < made; t++)
        (void)pthread_join(th[t], NULL);
    for (int t = 0; t < 2 && !err; t++)
        err = r[t].err;
    *pair = (r[0].gbps + r[1].gbps) / 2.0;
    sink = r[0].sum + r[1].sum;
    return err;
}

int main(int argc, char **argv) {
    long mb = 256, passes = 4, rounds = 5, core[2] = {0, 1};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int huge = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        int known = !strcmp(a, "--mb") || !strcmp(a, "--passes") || !strcmp(a, "--rounds") ||
                    !strcmp(a, "--cores") || !strcmp(a, "--pages");
        if (!known || i + 1 >= argc) {
            (void)fprintf(stderr, "halo_membw: %s: %s\n", a,
                          known ? "needs a value" : "unknown option");
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--mb")) {
            if (parse_int(a, v, 1, 65536, &mb))
                return 2;
        } else if (!strcmp(a, "--passes")) {
            if (parse_int(a, v, 1, 1000, &passes))
                return 2;
        } else if (!strcmp(a, "--rounds")) {
            if (parse_int(a, v, 1, MAX_ROUNDS, &rounds))
                return 2;
        } else if (!strcmp(a, "--pages")) {
            if (strcmp(v, "small") && strcmp(v, "huge")) {
                (void)fprintf(stderr, "halo_membw: --pages: '%s' is not small or huge\n", v);
                return 2;
            }
            huge = !strcmp(v, "huge");
        } else {
            char first[32];
            const char *comma = strchr(v, ',');
            size_t n = comma ? (size_t)(comma - v) : 0;
            if (!comma || n == 0 || n >= sizeof first) {
                (void)fprintf(stderr, "halo_membw: --cores: '%s' is not two cores A,B\n", v);
                return 2;
            }
            memcpy(first, v, n);
            first[n] = '\0';
            if (parse_int("--cores", first, 0, ncpu - 1, &core[0]) ||
                parse_int("--cores", comma + 1, 0, ncpu - 1, &core[1]))
                return 2;
            if (core[0] == core[1]) {
                (void)fprintf(stderr, "halo_membw: --cores: '%s' names one core twice\n", v);
                return 2;
            }
        }
    }
    size_t words = (size_t)mb * 1024 * 1024 / sizeof(uint64_t);
    reader r[2];
    for (int t = 0; t < 2; t++) {
        r[t] = (reader){.words = words, .core = (int)core[t], .passes = (int)passes};
        r[t].buf = huge ? huge_buffer(words * sizeof(uint64_t)) : malloc(words * sizeof(uint64_t));
        if (!r[t].buf) {
            (void)fprintf(stderr, "halo_membw: out of memory (%ld MiB a thread)\n", mb);
            free(r[0].buf);
            return 1;
        }
        for (size_t i = 0; i < words; i++) /* written once: every page is really there */
            r[t].buf[i] = i;
    }
    double alone[MAX_ROUNDS] = {0}, pair[MAX_ROUNDS] = {0};
    int err = 0;
    for (long k = 0; k < rounds && !err; k++)
        err = one_round(r, &alone[k], &pair[k]);
    free(r[0].buf);
    free(r[1].buf);
    if (err) {
        (void)fprintf(stderr, "halo_membw: cores %ld,%ld: %s\n", core[0], core[1], strerror(err));
        return 1;
    }
    (void)printf("%.3f %.3f\n", median(alone, (int)rounds), median(pair, (int)rounds));
    return 0;
}
