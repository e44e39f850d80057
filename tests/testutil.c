#define _XOPEN_SOURCE 700

#include "tests/testutil.h"

#include "core/file.h"
#include "core/sampler.h"
#include "tests/test.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[2048];
static char path_buf[8][4096];
static int path_next;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void cleanup(void) {
    if (tmp_dir[0])
        (void)nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *next_buf(void) {
    char *b = path_buf[path_next];
    path_next = (path_next + 1) % 8;
    return b;
}

const char *tu_src_path(const char *rel) {
    char *b = next_buf();
    (void)snprintf(b, 4096, "%s/%s", HALO_SOURCE_DIR, rel);
    return b;
}

const char *tu_tmp_path(const char *name) {
    if (!tmp_dir[0]) {
        const char *t = getenv("TMPDIR");
        (void)snprintf(tmp_dir, sizeof tmp_dir, "%s/halo-test-XXXXXX", t && t[0] ? t : "/tmp");
        if (!mkdtemp(tmp_dir)) {
            perror("mkdtemp");
            abort();
        }
        (void)atexit(cleanup);
    }
    char *b = next_buf();
    (void)snprintf(b, 4096, "%s/%s", tmp_dir, name);
    return b;
}

int tu_max_threads(int wanted) {
    const char *s = getenv("HALO_TEST_MAX_THREADS");
    int cap = s ? atoi(s) : 0;
    if (cap < 1)
        return wanted;
    return wanted == 0 || wanted > cap ? cap : wanted;
}

int tu_emulated(void) {
    const char *s = getenv("HALO_TEST_EMULATED");
    return s && *s && strcmp(s, "0") != 0;
}

void tu_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

const char *tu_write_tmp(const char *name, const char *text) {
    const char *p = tu_tmp_path(name);
    tu_write_file(p, text, strlen(text));
    return p;
}

unsigned char *tu_read_file(const char *path, size_t *n) {
    char *buf = NULL;
    halo_err err = {0};
    ASSERT_OK_ERR(halo_file_read(path, (size_t)1 << 30, &buf, n, &err), err);
    return (unsigned char *)buf;
}

/* ==== Models ==== */

halo_model *tu_shape_model(const char *name, int weight_type) {
    halo_model_config cfg;
    if (halo_model_shape_named(name, &cfg) != HALO_OK)
        TEST_FAIL_AT("unknown shape '%s'", name);
    halo_model *m = NULL;
    halo_err err = {0};
    if (halo_model_new_shape(&m, &cfg, weight_type, &err) != HALO_OK)
        TEST_FAIL_AT("%s: %s", name, err.msg);
    return m;
}

halo_model_config tu_model_shape(const char *name) {
    static const struct {
        const char *name;
        halo_model_config cfg; /* dim, hidden, layers, heads, kv heads, vocab, seq, shared */
    } shapes[] = {
        {"gqa", {96, 200, 3, 6, 2, 50, 16, 0}},   {"big-groups", {128, 512, 4, 4, 2, 16, 8, 0}},
        {"tiny", {16, 32, 4, 2, 2, 8, 8, 1}},     {"k-blocks", {256, 512, 2, 4, 2, 512, 64, 0}},
        {"mesh", {64, 160, 3, 4, 2, 512, 32, 0}}, {"small-vocab", {8, 16, 1, 2, 2, 35, 32, 1}},
    };

    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(name, shapes[i].name) == 0)
            return shapes[i].cfg;
    TEST_FAIL_AT("no test model shape named '%s'", name);
}

halo_model *tu_load_model(const char *path) {
    halo_model *m = NULL;
    halo_err err = {0};
    ASSERT_OK_ERR(halo_model_load(&m, path, &err), err);
    return m;
}

halo_model *tu_bundled_model(void) {
    return tu_load_model(tu_src_path("models/stories260K.bin"));
}

halo_model *tu_random_model(const char *name, const halo_model_config *cfg, uint64_t seed,
                            const char **path_out) {
    const char *path = tu_tmp_path(name);
    halo_err err = {0};
    ASSERT_OK_ERR(halo_model_write_random(path, cfg, seed, &err), err);
    if (path_out)
        *path_out = path;
    return tu_load_model(path);
}

int tu_greedy(halo_state *s, int vocab_size, int token, int steps, int *ids, float *logits) {
    for (int pos = 0; pos < steps; pos++) {
        float *l = halo_forward(s, token, pos);
        if (logits)
            memcpy(logits + (size_t)pos * (size_t)vocab_size, l,
                   (size_t)vocab_size * sizeof(float));
        token = halo_argmax(l, vocab_size);
        if (ids)
            ids[pos] = token;
    }
    return token;
}

/* ==== Clusters ==== */

halo_cluster *tu_cluster_new(const halo_cluster_config *cc) {
    halo_cluster *c = NULL;
    halo_err err = {0};
    ASSERT_OK_ERR(halo_cluster_new(&c, cc, &err), err);
    return c;
}

int tu_cluster_greedy(halo_cluster *c, int vocab_size, int token, int from_pos, int to_pos) {
    for (int pos = from_pos; pos < to_pos; pos++) {
        const float *l;
        halo_err err = {0};
        if (halo_cluster_forward(c, token, pos, &l, &err) != HALO_OK)
            TEST_FAIL_AT("pos %d: %s", pos, err.msg);
        token = halo_argmax(l, vocab_size);
    }
    return token;
}

/* ==== Transports ==== */

void tu_star_init(tu_star *w, int n_nodes, int delivery, halo_device_profile dev,
                  halo_link_spec link, uint64_t seed) {
    for (int i = 0; i < TU_STAR_MAX; i++) {
        w->dev[i] = dev;
        w->up[i] = w->down[i] = link;
    }
    w->cfg = (halo_sim_config){.n_nodes = n_nodes,
                               .devices = w->dev,
                               .uplink = w->up,
                               .downlink = w->down,
                               .delivery = delivery,
                               .seed = seed};
    halo_tcp_config_linux(&w->cfg.tcp);
}

halo_transport *tu_sim_new(const halo_sim_config *cfg) {
    halo_transport *t = NULL;
    halo_err err = {0};
    ASSERT_OK_ERR(halo_sim_new(&t, cfg, &err), err);
    return t;
}

int tu_count_reached(void *goal) {
    const tu_count_goal *g = goal;
    return *g->count >= g->n;
}
