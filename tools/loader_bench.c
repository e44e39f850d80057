/*
 * halo_loader_bench: the neuron-group loader (core/loader.h) on a real checkpoint. One
 * device's share of the FFN groups (a contiguous 1/share of every layer, as an equal
 * placement gives device 0) is computed layer after layer, token after token, through a
 * cache of a fraction of that share: for each layer, acquire each group, compute its
 * partial sum with the core/ops.h kernels over the packed weights (W1 and W3 rows, SwiGLU,
 * W2 column window), release. With prefetch on, the groups of the layer `ahead` layers on
 * are requested when a layer starts, so the loader thread reads them while this thread
 * computes. Everything is single-threaded on the compute side; the loader thread is the
 * second thread.
 *
 *   halo_loader_bench --model FILE [--tokens N] [--repeats R] [--share S] [--ffn-size G]
 *                     [--ahead A] [--cold none|layer] [--vectors B] [--pin 1] [--verbose 1]
 *
 * --vectors B applies every loaded group to B input vectors (B sequences decoded together,
 * or B prompt tokens): B times the compute for the same bytes; tokens/s counts B per step.
 * --cold none: the file stays in the page cache (after one unmeasured warm-up run);
 * --cold layer: the file is dropped from the page cache (posix_fadvise DONTNEED) before each
 *   run, and a layer's FFN tensors again as soon as its groups were computed, so every read
 *   comes from storage (a device whose memory cannot hold the file).
 * --pin 1: the loader thread on CPU 1, the compute thread on CPU 0 (see run_mode).
 * The share of the file in the page cache (mincore) is printed before each run.
 * FILE is typically the synthetic ~110M model that `halo bench --save-big FILE` writes (a
 * missing FILE is named with that command). Prints a markdown table (docs/loader.md): one row per
 * cache size and prefetch mode, medians over the repeats (runs are interleaved), the first token of
 * each run excluded from the rates.
 */
#define _GNU_SOURCE       /* posix_fadvise, mincore, sched_setaffinity */
#define _FILE_OFFSET_BITS 64

#include "core/loader.h"
#include "core/ops.h"
#include "core/rng.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    COLD_NONE = 0,
    COLD_LAYER = 1,
};

typedef struct opts {
    const char *model;
    int tokens, repeats, share, ffn_size, ahead, cold, verbose, vectors, pin;
} opts;

typedef struct mode {
    double cache_frac; /* of the share's bytes */
    int prefetch;      /* 0 off; 1: each layer's groups when it starts; 2: `ahead` layers on */
    int max_batch;     /* loader batching (1 = group by group) */
    int pin_layers;    /* keep the first layers pinned (as many as leave 2 layers to stream) */
    const char *name;
} mode;

typedef struct result {
    double tok_s;
    double mb_per_token;
    double hidden_frac;      /* hidden_load_ns / load_ns */
    double wait_ms;          /* per token, in acquire */
    double prefetch_wait_ms; /* ... of which waiting for the loader thread */
    double load_ms;          /* per token, both threads */
    double hit_rate;
    double cached_frac; /* of the share's pages in the page cache at the run's start */
    double storage_mb;  /* per step, read from storage (/proc/self/io) */
    uint64_t reads_per_token;
} result;

static uint64_t now_ns(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void usage(void) {
    (void)fprintf(stderr,
                  "usage: halo_loader_bench --model FILE [--tokens N] [--repeats R] [--share S]\n"
                  "                         [--ffn-size G] [--ahead A] [--cold none|layer]\n"
                  "                         [--vectors B] [--pin 1] [--verbose 1]\n");
}

/* A whole decimal number in [0, 1e6], or -1. */
static int to_int(const char *v) {
    char *end = NULL;
    long x = strtol(v, &end, 10);
    return (end == v || *end != '\0' || x < 0 || x > 1000000) ? -1 : (int)x;
}

/* The options that take a whole number, and where it goes. */
static const struct {
    const char *name;
    size_t offset;
} INT_OPTS[] = {
    {"--tokens", offsetof(opts, tokens)},   {"--repeats", offsetof(opts, repeats)},
    {"--share", offsetof(opts, share)},     {"--ffn-size", offsetof(opts, ffn_size)},
    {"--pin", offsetof(opts, pin)},         {"--vectors", offsetof(opts, vectors)},
    {"--verbose", offsetof(opts, verbose)}, {"--ahead", offsetof(opts, ahead)},
};

static int parse(int argc, char **argv, opts *o) {
    *o = (opts){.tokens = 8, .repeats = 3, .share = 4, .ffn_size = 32, .ahead = 1, .vectors = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return -1;
        i++;
        size_t k = 0, n = sizeof INT_OPTS / sizeof INT_OPTS[0];
        while (k < n && strcmp(a, INT_OPTS[k].name) != 0)
            k++;
        if (k < n)
            *(int *)(void *)((char *)o + INT_OPTS[k].offset) = to_int(v);
        else if (strcmp(a, "--model") == 0)
            o->model = v;
        else if (strcmp(a, "--cold") == 0)
            o->cold = strcmp(v, "layer") == 0 ? COLD_LAYER : COLD_NONE;
        else
            return -1;
    }
    if (!o->model || o->tokens < 2 || o->repeats < 1 || o->share < 1 || o->ffn_size < 1 ||
        o->ahead < 1 || o->vectors < 1 || o->vectors > 64 || o->pin < 0 || o->verbose < 0)
        return -1;
    return 0;
}

/* The synthetic model is written by one command only (halo bench --save-big), so its shape
 * and seed are defined once; a missing file is named with that command. */
static int check_model(const char *path, halo_err *err) {
    struct stat st;
    if (stat(path, &st) == 0)
        return HALO_OK;
    return HALO_FAIL(err, HALO_ERR_IO,
                     "%s: %s (write the synthetic ~110M model with `halo bench --save-big %s`)",
                     path, strerror(errno), path);
}

/* Bytes this process caused to be read from storage (/proc/self/io read_bytes), or 0. */
static uint64_t storage_read_bytes(void) {
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return 0;
    char line[128];
    unsigned long long v = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "read_bytes: ", 12) == 0) {
            v = strtoull(line + 12, NULL, 10);
            break;
        }
    (void)fclose(f);
    return v;
}

static void drop_range(int fd, uint64_t off, uint64_t len) {
    (void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

typedef struct bench {
    const opts *o;
    halo_model *model;
    const halo_model_config *cfg;
    halo_groups g;
    int first, count; /* the device's FFN groups in every layer */
    size_t share_bytes;
    int fd;                        /* for posix_fadvise */
    uint64_t layer_span[64][3][2]; /* per layer, W1/W2/W3: offset, length */
    float *x, *out, *hb, *hb2;
    int n_pinned_layers;               /* layers whose groups stay acquired for the whole run */
    halo_group_weights pinned[64][64]; /* their views */
    double checksum;
} bench;

/* Fraction of the pages holding the share's weights that are in the page cache. */
static double cached_fraction(const bench *b) {
    int fd = open(b->o->model, O_RDONLY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size == 0) {
        (void)close(fd);
        return -1;
    }
    size_t len = (size_t)st.st_size, page = (size_t)sysconf(_SC_PAGESIZE);
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    (void)close(fd);
    if (map == MAP_FAILED)
        return -1;
    size_t n = (len + page - 1) / page, want = 0, in = 0;
    unsigned char *vec = malloc(n), *need = calloc(n, 1);
    halo_byte_range *r = malloc(((size_t)b->cfg->dim + 3) * sizeof *r);
    if (vec && need && r && mincore(map, len, vec) == 0) {
        for (int layer = 0; layer < b->cfg->n_layers; layer++)
            for (int i = 0; i < b->count; i++) {
                halo_group_key k = {layer, HALO_GROUP_KIND_FFN, b->first + i};
                int nr = halo_loader_group_ranges(b->cfg, &b->g, k, r, b->cfg->dim + 3);
                for (int j = 0; j < nr; j++)
                    for (uint64_t p = r[j].offset_bytes / page;
                         p <= (r[j].offset_bytes + r[j].n_bytes - 1) / page; p++)
                        need[p] = 1;
            }
        for (size_t i = 0; i < n; i++)
            if (need[i]) {
                want++;
                in += vec[i] & 1;
            }
    }
    free(r);
    free(need);
    free(vec);
    (void)munmap(map, len);
    return want ? (double)in / (double)want : -1;
}

static void layer_spans(bench *b) {
    const halo_model_config *c = b->cfg;
    uint64_t f = sizeof(float), dim = (uint64_t)c->dim, hid = (uint64_t)c->hidden_dim;
    uint64_t L = (uint64_t)c->n_layers, kv = (uint64_t)halo_model_kv_dim(c);
    uint64_t w1 = HALO_MODEL_HEADER_BYTES + f * ((uint64_t)c->vocab_size * dim + L * dim +
                                                 2 * L * dim * dim + 2 * L * kv * dim + L * dim);
    uint64_t w2 = w1 + f * L * hid * dim, w3 = w2 + f * L * dim * hid, m = f * hid * dim;
    for (uint64_t l = 0; l < L && l < 64; l++) {
        b->layer_span[l][0][0] = w1 + l * m;
        b->layer_span[l][1][0] = w2 + l * m;
        b->layer_span[l][2][0] = w3 + l * m;
        for (int t = 0; t < 3; t++)
            b->layer_span[l][t][1] = m;
    }
}

/* One group's partial sums into b->out, for each of the input vectors. */
static void compute_group(bench *b, const halo_group_weights *w) {
    int n = w->n_rows, dim = w->dim;
    for (int v = 0; v < b->o->vectors; v++) {
        const float *x = b->x + (size_t)v * (size_t)dim;
        halo_matvec(b->hb, w->w1, x, n, dim);
        halo_matvec(b->hb2, w->w3, x, n, dim);
        halo_swiglu(b->hb, b->hb2, n);
        halo_matvec_window(NULL, b->out + (size_t)v * (size_t)dim, w->w2, (size_t)n, b->hb, dim, n,
                           1);
    }
}

static void prefetch_layer(bench *b, halo_loader *l, int layer) {
    halo_group_key keys[1024];
    int n = 0;
    for (int i = 0; i < b->count && n < 1024; i++)
        keys[n++] = (halo_group_key){layer, HALO_GROUP_KIND_FFN, b->first + i};
    halo_err err = {0};
    if (halo_loader_prefetch(l, keys, n, &err) != HALO_OK)
        (void)fprintf(stderr, "prefetch: %s\n", err.msg);
}

static int run_token(bench *b, halo_loader *l, const mode *m, halo_err *err) {
    int L = b->cfg->n_layers, dim = b->cfg->dim;
    for (int layer = 0; layer < L; layer++) {
        if (m->prefetch == 1 && layer >= b->n_pinned_layers) {
            prefetch_layer(b, l, layer);
        } else if (m->prefetch == 2) {
            int next = (layer + b->o->ahead) % L;
            if (next < b->n_pinned_layers) /* resident anyway: look past them */
                next = b->n_pinned_layers % L;
            prefetch_layer(b, l, next);
        }
        size_t nv = (size_t)dim * (size_t)b->o->vectors;
        memset(b->out, 0, nv * sizeof(float));
        for (int i = 0; i < b->count; i++) {
            halo_group_key k = {layer, HALO_GROUP_KIND_FFN, b->first + i};
            halo_group_weights w;
            if (layer < b->n_pinned_layers) {
                compute_group(b, &b->pinned[layer][i]);
                continue;
            }
            int rc = halo_loader_acquire(l, k, &w, err);
            if (rc != HALO_OK)
                return rc;
            compute_group(b, &w);
            halo_loader_release(l, k);
        }
        /* The next layer's input: the normalised output (keeps the values bounded). */
        for (int v = 0; v < b->o->vectors; v++) {
            float *x = b->x + (size_t)v * (size_t)dim, *out = b->out + (size_t)v * (size_t)dim;
            double ss = 0;
            for (int i = 0; i < dim; i++)
                ss += (double)out[i] * (double)out[i];
            float s = ss > 0 ? (float)(1.0 / sqrt(ss / dim)) : 1.0f;
            for (int i = 0; i < dim; i++)
                x[i] = out[i] * s;
            b->checksum += (double)x[0];
        }
        if (b->o->cold == COLD_LAYER)
            for (int t = 0; t < 3; t++)
                drop_range(b->fd, b->layer_span[layer][t][0], b->layer_span[layer][t][1]);
    }
    return HALO_OK;
}

static int run_mode(bench *b, const mode *m, result *r, halo_err *err) {
    size_t cap = (size_t)(m->cache_frac * (double)b->share_bytes + 0.5);
    halo_loader_opts lo = {.kinds = HALO_LOADER_KINDS_FFN, .max_batch = m->max_batch};
    halo_loader *l = NULL;
    if (b->o->cold != COLD_NONE)
        drop_range(b->fd, 0, 0); /* the whole file */
    r->cached_frac = cached_fraction(b);
    /* --pin: the loader thread inherits CPU 1 at its creation, this thread then keeps CPU 0,
     * so that waking the loader never preempts the compute thread on its own CPU. */
    cpu_set_t all, cpu;
    int pinned = 0;
    if (b->o->pin && sched_getaffinity(0, sizeof all, &all) == 0) {
        CPU_ZERO(&cpu);
        CPU_SET(1, &cpu);
        pinned = sched_setaffinity(0, sizeof cpu, &cpu) == 0;
        if (!pinned)
            (void)fprintf(stderr, "halo_loader_bench: cannot pin: %s\n", strerror(errno));
    }
    int rc = halo_loader_new_opts(&l, b->o->model, b->model, &b->g, cap, &lo, err);
    if (pinned) {
        CPU_ZERO(&cpu);
        CPU_SET(0, &cpu);
        (void)sched_setaffinity(0, sizeof cpu, &cpu);
    }
    if (rc != HALO_OK) {
        if (pinned)
            (void)sched_setaffinity(0, sizeof all, &all);
        return rc;
    }
    halo_rng rng;
    halo_rng_init(&rng, 42);
    for (int i = 0; i < b->cfg->dim * b->o->vectors; i++)
        b->x[i] = 2.0f * halo_rng_f32(&rng) - 1.0f;
    /* Pinning whole layers turns LRU's all-miss cycle into a fixed resident set plus a
     * stream through the remaining slots (current and next layer). */
    b->n_pinned_layers = 0;
    if (m->pin_layers) {
        int per_layer = b->count, p = halo_loader_n_slots(l) / per_layer - 2;
        p = p < 0 ? 0 : p > b->cfg->n_layers ? b->cfg->n_layers : p;
        for (int layer = 0; layer < p && rc == HALO_OK; layer++) {
            for (int i = 0; i < per_layer && rc == HALO_OK; i++)
                rc = halo_loader_acquire(l,
                                         (halo_group_key){layer, HALO_GROUP_KIND_FFN, b->first + i},
                                         &b->pinned[layer][i], err);
            b->n_pinned_layers = layer + 1;
        }
    }
    if (m->prefetch == 2 && rc == HALO_OK)
        prefetch_layer(b, l, b->n_pinned_layers % b->cfg->n_layers);
    if (rc == HALO_OK)
        rc = run_token(b, l, m, err); /* warm-up: fills the cache, not measured */
    if (rc == HALO_OK) {
        halo_loader_reset_stats(l);
        uint64_t t0 = now_ns(), io0 = storage_read_bytes();
        for (int t = 1; t < b->o->tokens && rc == HALO_OK; t++)
            rc = run_token(b, l, m, err);
        uint64_t dt = now_ns() - t0;
        r->storage_mb = (double)(storage_read_bytes() - io0) / 1e6 / (b->o->tokens - 1);
        int n = b->o->tokens - 1;
        halo_loader_stats st;
        halo_loader_get_stats(l, &st);
        r->tok_s = (double)n * b->o->vectors / ((double)dt * 1e-9);
        r->mb_per_token = (double)st.bytes_read / 1e6 / n;
        r->hidden_frac = st.load_ns ? (double)st.hidden_load_ns / (double)st.load_ns : 0;
        r->prefetch_wait_ms = (double)st.prefetch_wait_ns / 1e6 / n;
        if (b->o->verbose)
            (void)fprintf(
                stderr,
                "%.2f %-34s acquires %llu hits %llu inflight %llu misses %llu "
                "sync_extra %llu prefetch_loads %llu used %llu wasted %llu nospace %llu "
                "load_ms %.1f prefetch_load_ms %.1f wait_ms %.1f prefetch_wait_ms %.1f "
                "hidden_ms %.1f (per step)\n",
                m->cache_frac, m->name, (unsigned long long)st.n_acquires,
                (unsigned long long)st.n_hits, (unsigned long long)st.n_inflight,
                (unsigned long long)st.n_misses, (unsigned long long)st.n_sync_extra,
                (unsigned long long)st.n_prefetch_loads, (unsigned long long)st.n_prefetch_used,
                (unsigned long long)st.n_prefetch_wasted, (unsigned long long)st.n_prefetch_nospace,
                (double)st.load_ns / 1e6 / n, (double)st.prefetch_load_ns / 1e6 / n,
                (double)st.wait_ns / 1e6 / n, (double)st.prefetch_wait_ns / 1e6 / n,
                (double)st.hidden_load_ns / 1e6 / n);
        r->wait_ms = (double)st.wait_ns / 1e6 / n;
        r->load_ms = (double)st.load_ns / 1e6 / n;
        r->hit_rate = st.n_acquires ? (double)st.n_hits / (double)st.n_acquires : 0;
        r->reads_per_token = st.n_reads / (uint64_t)n;
    }
    for (int layer = 0; layer < b->n_pinned_layers; layer++)
        for (int i = 0; i < b->count; i++)
            if (b->pinned[layer][i].data)
                halo_loader_release(l, b->pinned[layer][i].key);
    halo_loader_free(l);
    if (pinned)
        (void)sched_setaffinity(0, sizeof all, &all);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The run whose tokens/s is the median of the repeats. */
static result median(const result *rs, int n) {
    double v[64] = {0};
    for (int i = 0; i < n; i++)
        v[i] = rs[i].tok_s;
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    for (int i = 0; i < n; i++)
        if (rs[i].tok_s == v[n / 2])
            return rs[i];
    return rs[0];
}

int main(int argc, char **argv) {
    opts o;
    if (parse(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    halo_err err = {0};
    bench b = {.o = &o, .fd = -1};
    int rc = check_model(o.model, &err);
    if (rc == HALO_OK)
        rc = halo_model_load(&b.model, o.model, &err);
    if (rc == HALO_OK) {
        b.cfg = halo_model_get_config(b.model);
        rc = halo_groups_init(&b.g, b.cfg, o.ffn_size, &err);
    }
    if (rc != HALO_OK) {
        (void)fprintf(stderr, "halo_loader_bench: %s\n", err.msg);
        halo_model_free(b.model);
        return 1;
    }
    b.count = b.g.n_ffn / o.share > 0 ? b.g.n_ffn / o.share : 1;
    b.first = 0;
    for (int i = 0; i < b.count; i++)
        b.share_bytes += halo_loader_group_bytes(
            b.cfg, &b.g, (halo_group_key){0, HALO_GROUP_KIND_FFN, b.first + i});
    b.share_bytes *= (size_t)b.cfg->n_layers;
    b.fd = open(o.model, O_RDONLY);
    size_t dim = (size_t)b.cfg->dim, gs = (size_t)o.ffn_size;
    b.x = calloc(dim * (size_t)o.vectors, sizeof(float));
    b.out = calloc(dim * (size_t)o.vectors, sizeof(float));
    b.hb = calloc(gs, sizeof(float));
    b.hb2 = calloc(gs, sizeof(float));
    if (b.fd < 0 || !b.x || !b.out || !b.hb || !b.hb2 || b.cfg->n_layers > 64 || b.count > 64 ||
        o.repeats > 64) {
        (void)fprintf(stderr, "halo_loader_bench: setup failed\n");
        free(b.x);
        free(b.out);
        free(b.hb);
        free(b.hb2);
        if (b.fd >= 0)
            (void)close(b.fd);
        halo_model_free(b.model);
        return 1;
    }
    layer_spans(&b);

    const mode modes[] = {
        {0.25, 0, 0, 0, "off"},
        {0.25, 1, 0, 0, "this layer (batched, no overlap)"},
        {0.25, 2, 1, 0, "next layer, unbatched"},
        {0.25, 2, 0, 0, "next layer"},
        {0.25, 2, 0, 1, "next layer + pinned layers"},
        {0.50, 0, 0, 0, "off"},
        {0.50, 1, 0, 0, "this layer (batched, no overlap)"},
        {0.50, 2, 1, 0, "next layer, unbatched"},
        {0.50, 2, 0, 0, "next layer"},
        {0.50, 2, 0, 1, "next layer + pinned layers"},
        {1.00, 0, 0, 0, "off (all fits)"},
    };
    int n_modes = (int)(sizeof modes / sizeof modes[0]);
    result rs[sizeof modes / sizeof modes[0]][64];
    if (o.cold == COLD_NONE) { /* one unmeasured pass to bring the file into the page cache */
        result dummy;
        rc = run_mode(&b, &modes[0], &dummy, &err);
    }
    for (int rep = 0; rep < o.repeats && rc == HALO_OK; rep++)
        for (int i = 0; i < n_modes && rc == HALO_OK; i++)
            rc = run_mode(&b, &modes[i], &rs[i][rep], &err);
    if (rc != HALO_OK) {
        (void)fprintf(stderr, "halo_loader_bench: %s\n", err.msg);
        return 1;
    }
    char load[128] = "?";
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (!fgets(load, sizeof load, la))
            (void)snprintf(load, sizeof load, "?");
        load[strcspn(load, "\n")] = 0;
        (void)fclose(la);
    }
    (void)printf("model %s: dim %d, hidden %d, %d layers; FFN groups of %d, share 1/%d = %d "
                 "groups per layer, %.1f MB in all; %d vector(s) per step, %d steps per run "
                 "(first excluded), median of %d; cold=%s; prefetch %d layer(s) ahead; "
                 "loadavg at end %s\n\n",
                 o.model, b.cfg->dim, b.cfg->hidden_dim, b.cfg->n_layers, o.ffn_size, o.share,
                 b.count, (double)b.share_bytes / 1e6, o.vectors, o.tokens, o.repeats,
                 o.cold == COLD_LAYER ? "layer" : "none", o.ahead, load);
    (void)printf("| cache (of share) | prefetch | tokens/s | best | MB read/step | "
                 "storage MB/step | reads/step | load ms/step | stall ms/step | "
                 "of which on loader | hits | load hidden | share cached at start |\n");
    (void)printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_modes; i++) {
        result r = median(rs[i], o.repeats);
        double best = 0;
        for (int rep = 0; rep < o.repeats; rep++)
            best = rs[i][rep].tok_s > best ? rs[i][rep].tok_s : best;
        (void)printf("| %.0f%% | %s | %.2f | %.2f | %.1f | %.1f | %llu | %.1f | %.1f | %.1f | "
                     "%.0f%% | %.0f%% | %.0f%% |\n",
                     100 * modes[i].cache_frac, modes[i].name, r.tok_s, best, r.mb_per_token,
                     r.storage_mb, (unsigned long long)r.reads_per_token, r.load_ms, r.wait_ms,
                     r.prefetch_wait_ms, 100 * r.hit_rate, 100 * r.hidden_frac,
                     100 * r.cached_frac);
    }
    (void)fprintf(stderr, "checksum %g\n", b.checksum);
    (void)close(b.fd);
    free(b.x);
    free(b.out);
    free(b.hb);
    free(b.hb2);
    halo_model_free(b.model);
    return 0;
}
