/*
 * `halo bench`: single-device decode speed of the bundled model and of a synthetic model of
 * a larger shape, next to this machine's measured memory read bandwidth. The figures are
 * measured side by side in one run; nothing here is asserted, because the machines are
 * shared and noisy.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "core/ops.h"
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
    const char *save_big;
    long threads, tokens, big_tokens;
    int no_big, no_sim, json;
} bench_opts;

/* Parses the command line into *o; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){.tokens = 256, .big_tokens = 64};
    const halo_cli_opt opts[] = {
        {"threads", 0, HALO_CLI_LONG, &o->threads, 0, 1024, NULL, "T",
         "compute threads, 0 = one per core (default 0)"},
        {"tokens", 0, HALO_CLI_LONG, &o->tokens, 1, 512, NULL, "N",
         "tokens decoded on the bundled model (default 256)"},
        {"big-tokens", 0, HALO_CLI_LONG, &o->big_tokens, 1, 256, NULL, "N",
         "tokens decoded on the synthetic model (default 64)"},
        {"no-big", 0, HALO_CLI_FLAG, &o->no_big, 0, 0, NULL, NULL, "skip the synthetic model"},
        {"no-sim", 0, HALO_CLI_FLAG, &o->no_sim, 0, 0, NULL, NULL,
         "skip the simulator's own speed (scenarios/bench/*.yaml)"},
        {"save-big", 0, HALO_CLI_PATH, &o->save_big, 0, 0, NULL, "FILE",
         "write the synthetic model to FILE and keep it (to run other\nprograms on the same "
         "weights)"},
        {"json", 0, HALO_CLI_FLAG, &o->json, 0, 0, NULL, NULL,
         "print one JSON object instead of a table"},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    halo_cli_spec spec = {
        .name = "bench",
        .synopsis = "[options]",
        .about = "Measures this machine's memory read bandwidth, then greedy decode speed of the\n"
                 "bundled model and of a synthetic float32 model (dim 768, 12 layers, hidden "
                 "2048,\nvocab 32000, seq 256: ~110M parameters, written to a temporary file and "
                 "removed).\n",
        .opts = opts,
        .after = "The temporary file goes to $TMPDIR (default /tmp) and needs ~440 MB.\n"};
    return halo_cli_parse_or_exit(&spec, argc, argv);
}

/* ==== Memory bandwidth ==== */

typedef struct read_job {
    const float *buf;
    size_t n_per_task;
    float *sums; /* one per task, so the reads cannot be optimised away */
} read_job;

static void read_task(void *arg, int i) {
    const read_job *j = arg;
    j->sums[i] = halo_sum(j->buf + (size_t)i * j->n_per_task, j->n_per_task);
}

/* Best-of-5 read bandwidth over a 512 MiB buffer, in bytes per second. */
static int measure_bandwidth(halo_pool *pool, double *bps, halo_err *err) {
    const size_t bytes = (size_t)512 << 20;
    const int n_tasks = 64;
    float *buf = malloc(bytes);
    float *sums = calloc((size_t)n_tasks, sizeof *sums);
    if (!buf || !sums) {
        free(buf);
        free(sums);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "bandwidth test: cannot allocate %zu bytes", bytes);
    }
    size_t n = bytes / sizeof(float);
    for (size_t i = 0; i < n; i++)
        buf[i] = (float)(i & 1023);
    read_job j = {buf, n / (size_t)n_tasks, sums};
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t t0 = halo_cli_now_ns();
        halo_pool_run(pool, read_task, &j, n_tasks);
        uint64_t t1 = halo_cli_now_ns();
        double r = (double)bytes / ((double)(t1 - t0) / 1e9);
        if (r > best)
            best = r;
    }
    volatile float sink = sums[0];
    (void)sink;
    free(buf);
    free(sums);
    *bps = best;
    return HALO_OK;
}

/* ==== Decode ==== */

typedef struct decode_result {
    const char *name;
    uint64_t params, bytes_per_token;
    long tokens;
    double ms_per_token;
} decode_result;

/* Greedy-decodes `tokens` tokens from BOS (at most seq_len); the best of three runs. */
static int time_decode(const char *path, halo_pool *pool, long tokens, decode_result *r,
                       halo_err *err) {
    halo_model *m = NULL;
    halo_state *st = NULL;
    int rc = halo_model_load(&m, path, err);
    if (rc == HALO_OK)
        rc = halo_state_new(&st, m, pool, err);
    if (rc != HALO_OK) {
        halo_model_free(m);
        return rc;
    }
    const halo_model_config *c = halo_model_get_config(m);
    if (tokens > c->seq_len)
        tokens = c->seq_len;
    /* One untimed token warms the page cache and the pool; then the best of three runs. */
    (void)halo_forward(st, HALO_TOKEN_BOS, 0);
    uint64_t best_ns = UINT64_MAX;
    for (int rep = 0; rep < 3; rep++) {
        int token = HALO_TOKEN_BOS;
        uint64_t t0 = halo_cli_now_ns();
        for (long pos = 0; pos < tokens; pos++) {
            float *logits = halo_forward(st, token, (int)pos);
            token = halo_argmax(logits, c->vocab_size);
        }
        uint64_t dt = halo_cli_now_ns() - t0;
        if (dt < best_ns)
            best_ns = dt;
    }
    r->params = halo_model_n_params(m);
    r->bytes_per_token = halo_model_bytes_per_token(m);
    r->tokens = tokens;
    r->ms_per_token = (double)best_ns / 1e6 / (double)tokens;
    halo_state_free(st);
    halo_model_free(m);
    return HALO_OK;
}

/* Writes the synthetic model to `save` (kept) or to a temporary file (removed) and times it. */
static int bench_synthetic(halo_pool *pool, long tokens, const char *save, decode_result *r,
                           halo_err *err) {
    char path[4096];
    if (save) {
        int n = snprintf(path, sizeof path, "%s", save);
        if (n < 0 || (size_t)n >= sizeof path)
            return HALO_FAIL(err, HALO_ERR_ARG, "--save-big: path is too long");
    } else {
        const char *tmpdir = getenv("TMPDIR");
        int n = snprintf(path, sizeof path, "%s/halo-bench-XXXXXX",
                         tmpdir && tmpdir[0] ? tmpdir : "/tmp");
        if (n < 0 || (size_t)n >= sizeof path)
            return HALO_FAIL(err, HALO_ERR_ARG, "TMPDIR is too long");
        int fd = mkstemp(path);
        if (fd < 0)
            return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create temporary file: %s", path,
                             strerror(errno));
        (void)close(fd);
    }
    halo_model_config cfg = {.dim = 768,
                             .hidden_dim = 2048,
                             .n_layers = 12,
                             .n_heads = 12,
                             .n_kv_heads = 12,
                             .vocab_size = 32000,
                             .seq_len = 256,
                             .shared_classifier = 1};
    if (isatty(STDERR_FILENO))
        (void)fprintf(stderr, "halo bench: writing the synthetic model to %s\n", path);
    int rc = halo_model_write_random(path, &cfg, 1234, err);
    if (rc == HALO_OK)
        rc = time_decode(path, pool, tokens, r, err);
    if (!save)
        (void)remove(path);
    return rc;
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

int halo_cmd_bench(int argc, char **argv) {
    halo_err err = {0};
    bench_opts o;
    int status = parse(argc, argv, &o);
    if (status >= 0)
        return status;
    int rc;
    halo_pool *pool = NULL;
    double bps = 0;
    decode_result res[2] = {{.name = "stories260K"}, {.name = "synthetic-110M"}};
    int n_res = o.no_big ? 1 : 2;
    char mbuf[4096];
    rc = halo_pool_new(&pool, (int)o.threads, &err);
    if (rc == HALO_OK)
        rc = measure_bandwidth(pool, &bps, &err);
    if (rc == HALO_OK)
        rc = time_decode(halo_cli_bundled_path("stories260K.bin", mbuf, sizeof mbuf), pool,
                         o.tokens, &res[0], &err);
    if (rc == HALO_OK && !o.no_big)
        rc = bench_synthetic(pool, o.big_tokens, o.save_big, &res[1], &err);
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
    if (o.json) {
        (void)printf("{\"threads\": %d, \"bandwidth_gbps\": %.3f, \"models\": [", threads,
                     bps / 1e9);
        for (int i = 0; i < n_res; i++) {
            const decode_result *r = &res[i];
            double gbps = (double)r->bytes_per_token / (r->ms_per_token / 1e3) / 1e9;
            (void)printf("%s{\"name\": \"%s\", \"params\": %llu, \"bytes_per_token\": %llu, "
                         "\"tokens\": %ld, \"ms_per_token\": %.4f, \"tokens_per_s\": %.2f, "
                         "\"gbps\": %.3f, \"bandwidth_fraction\": %.4f}",
                         i ? ", " : "", r->name, (unsigned long long)r->params,
                         (unsigned long long)r->bytes_per_token, r->tokens, r->ms_per_token,
                         1e3 / r->ms_per_token, gbps, gbps * 1e9 / bps);
        }
        (void)printf("], \"simulator\": [");
        for (int i = 0; i < n_sims; i++)
            (void)printf("%s{\"scenario\": \"%s\", \"tokens\": %d, \"wall_s\": %.4f, "
                         "\"simulated_tokens_per_s\": %.1f, \"events\": %llu, "
                         "\"simulated_ms_per_token\": %.3f}",
                         i ? ", " : "", sims[i].file, sims[i].tokens, sims[i].wall_s,
                         sims[i].tokens / sims[i].wall_s, (unsigned long long)sims[i].events,
                         sims[i].sim_ms);
        (void)printf("]}\n");
        return HALO_EXIT_OK;
    }
    (void)printf("threads: %d   memory read bandwidth: %.2f GB/s (best of 5, 512 MiB)\n\n", threads,
                 bps / 1e9);
    (void)printf("%-16s %12s %10s %8s %12s %10s %10s\n", "model", "params", "MB/token", "tokens",
                 "ms/token", "tokens/s", "of bw");
    for (int i = 0; i < n_res; i++) {
        const decode_result *r = &res[i];
        double gbps = (double)r->bytes_per_token / (r->ms_per_token / 1e3) / 1e9;
        (void)printf("%-16s %12llu %10.2f %8ld %12.4f %10.1f %9.1f%%\n", r->name,
                     (unsigned long long)r->params, (double)r->bytes_per_token / 1e6, r->tokens,
                     r->ms_per_token, 1e3 / r->ms_per_token, 100.0 * gbps * 1e9 / bps);
    }
    if (n_sims)
        (void)printf("\nsimulator (best of 3)%27s %8s %10s %12s %12s\n", "", "tokens", "wall s",
                     "tokens/s", "events/s");
    for (int i = 0; i < n_sims; i++)
        (void)printf("%-48s %8d %10.4f %12.1f %12.0f\n", sims[i].what, sims[i].tokens,
                     sims[i].wall_s, sims[i].tokens / sims[i].wall_s,
                     (double)sims[i].events / sims[i].wall_s);
    return HALO_EXIT_OK;
}
