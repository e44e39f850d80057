/*
 * `halo bench`: single-device decode speed of the bundled model, of a synthetic float32 model
 * of a larger shape and of synthetic quantised GGUF models (q8_0, q4_0, q4_k_m by default),
 * each next to this machine's memory read bandwidth measured in the same interval: a model
 * that reads at least 64 MiB per token alternates tokens with 64 MiB read probes, smaller
 * models are bracketed by two whole-buffer measurements, and the fraction of bandwidth a
 * model reaches divides its best repetition's bytes per second by that repetition's
 * bandwidth (time_decode). The probes read with the widest loads of the processor's kernel
 * table. With --model it times one given file the
 * same way (tools/compare-speed.sh runs it beside llama.cpp and distributed-llama). Nothing
 * here is asserted, because the machines are shared and noisy.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "core/gguf.h"
#include "core/json.h"
#include "core/ops.h"
#include "core/quant.h"
#include "core/sampler.h"
#include "sim/scenario.h"
#include "sim/simrun.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct bench_opts {
    const char *save_big, *types, *shape, *model;
    long threads, tokens, big_tokens, reps;
    int no_big, no_sim, json;
} bench_opts;

/* Parses the command line into *o; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){.tokens = 256,
                      .big_tokens = 64,
                      .reps = 3,
                      .types = "q8_0,q4_0,q4_k_m",
                      .shape = "bench-110m"};
    const halo_cli_opt opts[] = {
        HALO_CLI_OPT_THREADS(&o->threads),
        HALO_CLI_OPT_LONG("tokens", 0, &o->tokens, 1, 512, "N",
                          "tokens decoded on the bundled model (default 256)"),
        HALO_CLI_OPT_LONG("big-tokens", 0, &o->big_tokens, 1, 256, "N",
                          "tokens decoded on the synthetic models (default 64)"),
        HALO_CLI_OPT_LONG(
            "reps", 0, &o->reps, 1, 100, "N",
            "timed repetitions per model, each between two\nbandwidth measurements (default 3)"),
        HALO_CLI_OPT_STRING("types", 0, &o->types, "LIST",
                            "quantised synthetic models: a comma-separated list\nof q8_0, q4_0, "
                            "q4_k_m, f16, or none (default\nq8_0,q4_0,q4_k_m)"),
        HALO_CLI_OPT_STRING("shape", 0, &o->shape, "NAME",
                            "their shape (default bench-110m: the float32 "
                            "model's;\ntinyllama-1.1b, llama2-7b, ...: halo convert --help)"),
        HALO_CLI_OPT_FLAG("no-big", 0, &o->no_big, "skip the synthetic models"),
        HALO_CLI_OPT_FLAG("no-sim", 0, &o->no_sim,
                          "skip the simulator's own speed (scenarios/bench/*.yaml)"),
        HALO_CLI_OPT_PATH("save-big", 0, &o->save_big, "FILE",
                          "write the synthetic float32 model to FILE and keep it\n(to run other "
                          "programs on the same weights)"),
        HALO_CLI_OPT_PATH("model", 'm', &o->model, "FILE",
                          "time this model (a llama2.c checkpoint or a GGUF\nfile) instead: "
                          "--big-tokens tokens, --reps\nrepetitions, nothing else"),
        HALO_CLI_OPT_JSON(&o->json, "a table"),
        HALO_CLI_OPT_END,
    };
    halo_cli_spec spec = {
        .name = "bench",
        .synopsis = "[options]",
        .about = "Measures greedy decode speed of the bundled model, of a synthetic float32 model\n"
                 "(dim 768, 12 layers, hidden 2048, vocab 32000, seq 256: ~110M parameters) and\n"
                 "of synthetic quantised GGUF models, each against this machine's memory read\n"
                 "bandwidth measured in the same interval (a model of 64 MiB or more per token:\n"
                 "a 64 MiB read after every token; smaller ones: before and after each run).\n"
                 "With --model, the same for one given model file only.\n",
        .opts = opts,
        .after = "The synthetic models go to $TMPDIR (default /tmp) and are removed; the float32\n"
                 "one needs ~440 MB, a tinyllama-1.1b q4_0 one ~620 MB.\n"};
    return halo_cli_parse_or_exit(&spec, argc, argv);
}

/* ==== Memory bandwidth ==== */

typedef struct bandwidth {
    float *buf;
    size_t n; /* floats */
    float *sums;
    int n_tasks;
    size_t probe_at; /* where the next probe starts (floats) */
    float (*sum)(const float *, size_t);
} bandwidth;

typedef struct read_job {
    const float *buf;
    size_t n_per_task;
    float *sums; /* one per task, so the reads cannot be optimised away */
    float (*sum)(const float *, size_t);
} read_job;

static void read_task(void *arg, int i) {
    const read_job *j = arg;
    j->sums[i] = j->sum(j->buf + (size_t)i * j->n_per_task, j->n_per_task);
}

static int bandwidth_init(bandwidth *b, halo_err *err) {
    const size_t bytes = (size_t)512 << 20;
    b->n_tasks = 64;
    b->n = bytes / sizeof(float);
    b->buf = malloc(bytes);
    b->sums = calloc((size_t)b->n_tasks, sizeof *b->sums);
    if (!b->buf || !b->sums) {
        free(b->buf);
        free(b->sums);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "bandwidth test: cannot allocate %zu bytes", bytes);
    }
    for (size_t i = 0; i < b->n; i++)
        b->buf[i] = (float)(i & 1023);
    /* The widest loads the model kernels use (AVX2: 32 bytes), not the 16 of halo_sum. */
    b->sum = halo_qkernels_best()->sum_f32;
    return HALO_OK;
}

static void bandwidth_free(bandwidth *b) {
    free(b->buf);
    free(b->sums);
}

/* Read bandwidth in bytes per second: the best of `passes` streaming passes over 512 MiB. */
static double bandwidth_measure(halo_pool *pool, bandwidth *b, int passes) {
    read_job j = {b->buf, b->n / (size_t)b->n_tasks, b->sums, b->sum};
    double best = 0;
    for (int rep = 0; rep < passes; rep++) {
        uint64_t t0 = halo_cli_now_ns();
        halo_pool_run(pool, read_task, &j, b->n_tasks);
        uint64_t t1 = halo_cli_now_ns();
        double r = (double)(b->n * sizeof(float)) / ((double)(t1 - t0) / 1e9);
        if (r > best)
            best = r;
    }
    volatile float sink = b->sums[0];
    (void)sink;
    return best;
}

enum {
    PROBE_TASKS = 64 /* a probe is split in this many tasks (1 MiB) over the pool, so that a
                        thread the scheduler holds back delays little of it */
};

/* One probe: the next PROBE_BYTES of the buffer (moving through it, so that nothing of it is
   cached), streamed over the pool. Adds its bytes and nanoseconds to *bytes and *ns. */
static void bandwidth_probe(halo_pool *pool, bandwidth *b, size_t probe_bytes, uint64_t *bytes,
                            uint64_t *ns) {
    size_t n = probe_bytes / sizeof(float);
    if (b->probe_at + n > b->n)
        b->probe_at = 0;
    read_job j = {b->buf + b->probe_at, n / PROBE_TASKS, b->sums, b->sum};
    uint64_t t0 = halo_cli_now_ns();
    halo_pool_run(pool, read_task, &j, PROBE_TASKS);
    *ns += halo_cli_now_ns() - t0;
    *bytes += (uint64_t)(n / PROBE_TASKS * PROBE_TASKS) * sizeof(float);
    b->probe_at += n;
}

/* ==== Decode ==== */

typedef struct decode_result {
    char name[64];
    const char *type;
    uint64_t params, bytes_per_token;
    long tokens;
    double ms_per_token; /* the best repetition */
    double bps;          /* bandwidth measured in that repetition's interval (time_decode) */
} decode_result;

/* The file type of a loaded model: general.file_type of a GGUF file, else "f32". */
static const char *model_type_name(const halo_model *m) {
    const struct halo_gguf *g = halo_model_gguf(m);
    int64_t ft = -1;
    if (g && halo_gguf_get_int_opt(g, "general.file_type", 0, 1 << 20, &ft, NULL) != HALO_OK)
        ft = -1;
    return g ? halo_ftype_name((int)ft) : "f32";
}

enum {
    /* Models that read at least this much per token (more than any cache holds) are timed
       token by token, each token followed by a bandwidth probe of this size. */
    PROBE_BYTES = 64 << 20
};

/*
 * Greedy-decodes `tokens` tokens from BOS (at most seq_len), `reps` times. The bandwidth a
 * repetition is divided by is measured in the same interval: for a model that reads at least
 * PROBE_BYTES per token, every token is followed by a probe of PROBE_BYTES, and the
 * bandwidth is the probes' bytes over their summed time, so that load from other processes
 * falls on the model and on its reference alike; a smaller model (whose weights a probe
 * would evict from the caches it decodes from) is bracketed by two measurements of the
 * whole buffer before and after the repetition instead.
 */
static int time_decode(const char *path, halo_pool *pool, bandwidth *bw, long tokens, int reps,
                       decode_result *r, halo_err *err) {
    halo_model *m = NULL;
    halo_state *st = NULL;
    /* The KV cache for the positions decoded only (a GGUF file's context may be 4096+). */
    halo_model_opts mo = {.max_seq_len = (int)tokens};
    int rc = halo_model_load_opts(&m, path, &mo, err);
    if (rc == HALO_OK)
        rc = halo_state_new(&st, m, pool, err);
    if (rc != HALO_OK) {
        halo_model_free(m);
        return rc;
    }
    const halo_model_config *c = halo_model_get_config(m);
    if (tokens > c->seq_len)
        tokens = c->seq_len;
    /* One untimed token warms the page cache and the pool. */
    (void)halo_forward(st, HALO_TOKEN_BOS, 0);
    int interleave = halo_model_bytes_per_token(m) >= PROBE_BYTES;
    uint64_t best_ns = UINT64_MAX;
    double after = interleave ? 0 : bandwidth_measure(pool, bw, 2);
    for (int rep = 0; rep < reps; rep++) {
        double before = after;
        int token = HALO_TOKEN_BOS;
        uint64_t dt = 0, probe_bytes = 0, probe_ns = 0;
        for (long pos = 0; pos < tokens; pos++) {
            uint64_t t0 = halo_cli_now_ns();
            float *logits = halo_forward(st, token, (int)pos);
            token = halo_argmax(logits, c->vocab_size);
            dt += halo_cli_now_ns() - t0;
            if (interleave)
                bandwidth_probe(pool, bw, PROBE_BYTES, &probe_bytes, &probe_ns);
        }
        if (!interleave)
            after = bandwidth_measure(pool, bw, 2);
        if (dt < best_ns) {
            best_ns = dt;
            r->bps =
                interleave ? (double)probe_bytes / ((double)probe_ns / 1e9) : (before + after) / 2;
        }
    }
    r->params = halo_model_n_params(m);
    r->bytes_per_token = halo_model_bytes_per_token(m);
    if (!r->type)
        r->type = model_type_name(m);
    r->tokens = tokens;
    r->ms_per_token = (double)best_ns / 1e6 / (double)tokens;
    halo_state_free(st);
    halo_model_free(m);
    return HALO_OK;
}

/* A temporary file name in $TMPDIR (created empty). */
static int temp_path(char *path, size_t cap, halo_err *err) {
    const char *tmpdir = getenv("TMPDIR");
    int n = snprintf(path, cap, "%s/halo-bench-XXXXXX", tmpdir && tmpdir[0] ? tmpdir : "/tmp");
    if (n < 0 || (size_t)n >= cap)
        return HALO_FAIL(err, HALO_ERR_ARG, "TMPDIR is too long");
    int fd = mkstemp(path);
    if (fd < 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create temporary file: %s", path,
                         strerror(errno));
    (void)close(fd);
    return HALO_OK;
}

/* Writes the synthetic float32 model to `save` (kept) or to a temporary file (removed) and
   times it. */
static int bench_synthetic(halo_pool *pool, bandwidth *bw, const bench_opts *o, decode_result *r,
                           halo_err *err) {
    char path[4096];
    int rc = HALO_OK;
    if (o->save_big) {
        int n = snprintf(path, sizeof path, "%s", o->save_big);
        if (n < 0 || (size_t)n >= sizeof path)
            return HALO_FAIL(err, HALO_ERR_ARG, "--save-big: path is too long");
    } else if ((rc = temp_path(path, sizeof path, err)) != HALO_OK) {
        return rc;
    }
    halo_model_config cfg;
    (void)halo_model_shape_named("bench-110m", &cfg);
    if (isatty(STDERR_FILENO))
        (void)fprintf(stderr, "halo bench: writing the synthetic model to %s\n", path);
    rc = halo_model_write_random(path, &cfg, 1234, err);
    if (rc == HALO_OK)
        rc = time_decode(path, pool, bw, o->big_tokens, (int)o->reps, r, err);
    if (!o->save_big)
        (void)remove(path);
    return rc;
}

/* The synthetic model of o->shape as GGUF of file type `ftype`, timed, then removed. */
static int bench_gguf(halo_pool *pool, bandwidth *bw, const bench_opts *o, int ftype,
                      decode_result *r, halo_err *err) {
    halo_model_config cfg;
    if (halo_model_shape_named(o->shape, &cfg) != HALO_OK)
        return HALO_FAIL(err, HALO_ERR_ARG, "--shape: '%s' is not a shape (%s)", o->shape,
                         halo_model_shape_names());
    char path[4096];
    int rc = temp_path(path, sizeof path, err);
    if (rc != HALO_OK)
        return rc;
    if (isatty(STDERR_FILENO))
        (void)fprintf(stderr, "halo bench: writing %s %s to %s\n", o->shape, halo_ftype_name(ftype),
                      path);
    rc = halo_model_write_gguf_random(path, &cfg, NULL, ftype, 1234, 0.0f, NULL, err);
    if (rc == HALO_OK)
        rc = time_decode(path, pool, bw, o->big_tokens, (int)o->reps, r, err);
    (void)remove(path);
    return rc;
}

/* The file types of --types, in order; returns their count or HALO_ERR_ARG. */
static int parse_types(const char *list, int *out, int cap, halo_err *err) {
    if (strcmp(list, "none") == 0)
        return 0;
    int n = 0;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[16];
        if (len == 0 || len >= sizeof name || n == cap)
            return HALO_FAIL(err, HALO_ERR_ARG, "--types: '%s' is not a list of types", list);
        memcpy(name, p, len);
        name[len] = '\0';
        int f = halo_ftype_from_name(name);
        if (f < 0 || f == HALO_FTYPE_F32)
            return HALO_FAIL(err, HALO_ERR_ARG, "--types: '%s' is not q8_0, q4_0, q4_k_m or f16",
                             name);
        out[n++] = f;
        p = end ? end + 1 : p + len;
    }
    return n;
}

/* ==== The simulator's own speed ==== */

typedef struct sim_bench {
    const char *file; /* under the scenario directory */
    const char *what;
    int tokens;
    double wall_s; /* best of three */
    double sim_ms; /* simulated ms per token */
    uint64_t events;
} sim_bench;

static int bench_sim(sim_bench *b, halo_err *err) {
    char path[4096];
    const char *dir = getenv("HALO_SCENARIO_DIR");
    int n = snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : HALO_SOURCE_SCENARIO_DIR,
                     b->file);
    if (n < 0 || (size_t)n >= sizeof path)
        return HALO_FAIL(err, HALO_ERR_ARG, "scenario path too long");
    halo_scenario *sc = NULL;
    int rc = halo_scenario_load(&sc, path, 0, err);
    b->wall_s = 1e30;
    for (int rep = 0; rc == HALO_OK && rep < 3; rep++) {
        halo_sim_result r;
        rc = halo_simrun(sc, 0, &r, err);
        if (rc != HALO_OK)
            break;
        double wall = (double)r.wall_ns / 1e9;
        if (wall < b->wall_s)
            b->wall_s = wall;
        b->tokens = r.n_tokens;
        b->sim_ms = r.mean_ms;
        b->events = r.events;
        halo_sim_result_free(&r);
    }
    halo_scenario_free(sc);
    return rc;
}

/* A double as JSON (core/json.h): never NaN or Inf; the first that is not finite is kept in
   g and fails the document. */
static void jnum(FILE *js, const char *key, double v, int digits, halo_json_guard *g) {
    (void)fprintf(js, ", \"%s\": ", key);
    halo_json_num(js, v, HALO_JSON_FIXED, digits, key, g);
}

/* --json: one document, built in memory and printed only when every number is finite (a
   zero time would make tokens/s infinite; issue 18). */
static int print_json(int threads, const char *kernels, double bps, const decode_result *res,
                      int n_res, const sim_bench *sims, int n_sims) {
    halo_err err = {0};
    halo_cli_json j;
    if (halo_cli_json_open(&j, "bench --json", &err) != HALO_OK)
        return halo_cli_fail(HALO_ERR_NOMEM, &err);
    FILE *js = j.js;
    halo_json_guard *g = &j.g;
    (void)fprintf(js, "{\"threads\": %d, \"kernels\": \"%s\"", threads, kernels);
    jnum(js, "bandwidth_gbps", bps / 1e9, 3, g);
    (void)fprintf(js, ", \"models\": [");
    for (int i = 0; i < n_res; i++) {
        const decode_result *r = &res[i];
        double gbps = (double)r->bytes_per_token / (r->ms_per_token / 1e3) / 1e9;
        (void)fprintf(js,
                      "%s{\"name\": \"%s\", \"type\": \"%s\", \"params\": %llu, "
                      "\"bytes_per_token\": %llu, \"tokens\": %ld",
                      i ? ", " : "", r->name, r->type, (unsigned long long)r->params,
                      (unsigned long long)r->bytes_per_token, r->tokens);
        jnum(js, "ms_per_token", r->ms_per_token, 4, g);
        jnum(js, "tokens_per_s", 1e3 / r->ms_per_token, 2, g);
        jnum(js, "gbps", gbps, 3, g);
        jnum(js, "bandwidth_gbps", r->bps / 1e9, 3, g);
        jnum(js, "bandwidth_fraction", gbps * 1e9 / r->bps, 4, g);
        (void)fprintf(js, "}");
    }
    (void)fprintf(js, "], \"simulator\": [");
    for (int i = 0; i < n_sims; i++) {
        (void)fprintf(js, "%s{\"scenario\": \"%s\", \"tokens\": %d", i ? ", " : "", sims[i].file,
                      sims[i].tokens);
        jnum(js, "wall_s", sims[i].wall_s, 4, g);
        jnum(js, "simulated_tokens_per_s", sims[i].tokens / sims[i].wall_s, 1, g);
        (void)fprintf(js, ", \"events\": %llu", (unsigned long long)sims[i].events);
        jnum(js, "simulated_ms_per_token", sims[i].sim_ms, 3, g);
        (void)fprintf(js, "}");
    }
    (void)fprintf(js, "]}\n");
    int rc = halo_cli_json_print(&j, "bench --json", &err);
    return rc == HALO_OK ? HALO_EXIT_OK : halo_cli_fail(rc, &err);
}

int halo_cmd_bench(int argc, char **argv) {
    halo_err err = {0};
    bench_opts o;
    int status = parse(argc, argv, &o);
    if (status >= 0)
        return status;
    if (o.model) { /* one model, nothing else */
        o.no_big = 1;
        o.no_sim = 1;
    }
    int ftypes[8];
    int n_types = o.no_big ? 0 : parse_types(o.types, ftypes, 8, &err);
    if (n_types < 0)
        return halo_cli_usage_error(&err, "bench");
    halo_model_config shape;
    if (n_types > 0 && halo_model_shape_named(o.shape, &shape) != HALO_OK) {
        HALO_FAIL(&err, HALO_ERR_ARG, "--shape: '%s' is not a shape (%s)", o.shape,
                  halo_model_shape_names());
        return halo_cli_usage_error(&err, "bench");
    }
    int rc;
    halo_pool *pool = NULL;
    bandwidth bw = {0};
    decode_result res[10] = {{.name = "stories260K", .type = "f32"},
                             {.name = "synthetic-110M", .type = "f32"}};
    int n_res = o.no_big ? 1 : 2;
    for (int i = 0; i < n_types; i++) {
        decode_result *r = &res[n_res++];
        (void)snprintf(r->name, sizeof r->name, "%s", o.shape);
        r->type = halo_ftype_name(ftypes[i]);
    }
    char mbuf[4096];
    rc = halo_pool_new(&pool, (int)o.threads, &err);
    if (rc == HALO_OK)
        rc = bandwidth_init(&bw, &err);
    double bps = rc == HALO_OK ? bandwidth_measure(pool, &bw, 5) : 0;
    if (rc == HALO_OK && o.model) {
        const char *base = strrchr(o.model, '/');
        (void)snprintf(res[0].name, sizeof res[0].name, "%s", base ? base + 1 : o.model);
        res[0].type = NULL; /* from the file */
        rc = time_decode(o.model, pool, &bw, o.big_tokens, (int)o.reps, &res[0], &err);
    } else if (rc == HALO_OK) {
        rc = time_decode(halo_cli_bundled_path("stories260K.bin", mbuf, sizeof mbuf), pool, &bw,
                         o.tokens, (int)o.reps, &res[0], &err);
    }
    if (rc == HALO_OK && !o.no_big)
        rc = bench_synthetic(pool, &bw, &o, &res[1], &err);
    for (int i = 0; rc == HALO_OK && i < n_types; i++)
        rc = bench_gguf(pool, &bw, &o, ftypes[i], &res[2 + i], &err);
    bandwidth_free(&bw);
    sim_bench sims[2] = {
        {.file = "bench/sim-7b.yaml", .what = "llama2-7b shape-only, 8 devices, tcp 1% loss"},
        {.file = "bench/sim-stories.yaml", .what = "stories260K numerics, 4 devices, udp 1% loss"}};
    int n_sims = o.no_sim ? 0 : 2;
    for (int i = 0; rc == HALO_OK && i < n_sims; i++)
        rc = bench_sim(&sims[i], &err);
    int threads = halo_pool_n_threads(pool);
    halo_pool_free(pool);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    const char *kernels = halo_qkernels_best()->name;
    if (o.json)
        return print_json(threads, kernels, bps, res, n_res, sims, n_sims);
    (void)printf("threads: %d   kernels: %s   memory read bandwidth: %.2f GB/s (best of 5, "
                 "512 MiB)\n\n",
                 threads, kernels, bps / 1e9);
    (void)printf("%-16s %-7s %12s %10s %7s %10s %9s %9s %7s\n", "model", "type", "params",
                 "MB/token", "tokens", "ms/token", "tokens/s", "bw GB/s", "of bw");
    for (int i = 0; i < n_res; i++) {
        const decode_result *r = &res[i];
        double gbps = (double)r->bytes_per_token / (r->ms_per_token / 1e3) / 1e9;
        (void)printf("%-16s %-7s %12llu %10.2f %7ld %10.4f %9.1f %9.2f %6.1f%%\n", r->name, r->type,
                     (unsigned long long)r->params, (double)r->bytes_per_token / 1e6, r->tokens,
                     r->ms_per_token, 1e3 / r->ms_per_token, r->bps / 1e9,
                     100.0 * gbps * 1e9 / r->bps);
    }
    (void)printf(
        "\n(bw GB/s: the read bandwidth measured during the model's best run (64 MiB after "
        "each token)\nor around it (models under 64 MiB per token); of bw: the model's "
        "bytes per token\nover its time per token, divided by it)\n");
    if (n_sims)
        (void)printf("\nsimulator (best of 3)%27s %8s %10s %12s %12s\n", "", "tokens", "wall s",
                     "tokens/s", "events/s");
    for (int i = 0; i < n_sims; i++)
        (void)printf("%-48s %8d %10.4f %12.1f %12.0f\n", sims[i].what, sims[i].tokens,
                     sims[i].wall_s, sims[i].tokens / sims[i].wall_s,
                     (double)sims[i].events / sims[i].wall_s);
    return HALO_EXIT_OK;
}
