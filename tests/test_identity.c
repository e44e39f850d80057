/*
 * Run identity (results/identity.h): the resolved point's hash ignores comments, layout, key
 * order and the names of profile files, follows a profile file's numbers, leaves tau out
 * where no importance scoring reads it, and keeps the numbers exactly.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/identity.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Writes `text` as tmp/id/NAME and returns the path (static buffer per call site). */
static const char *put(const char *name, const char *text) {
    static char path[8][4096];
    static int next;
    char *p = path[next++ % 8];
    (void)mkdir(tu_tmp_path("id"), 0755);
    (void)mkdir(tu_tmp_path("id/profiles"), 0755);
    (void)snprintf(p, 4096, "%s/%s", tu_tmp_path("id"), name);
    tu_write_file(p, text, strlen(text));
    return p;
}

/* The identity of point `point` of the scenario at path into hash; the JSON is returned
   (free it). */
static char *identity(const char *path, long point, char hash[65]) {
    halo_scenario *sc = NULL;
    halo_err err = {0};
    if (halo_scenario_load(&sc, path, point, &err) != HALO_OK)
        TEST_FAIL_AT("%s: %s", path, err.msg);
    char *json = NULL;
    ASSERT_OK(halo_identity_point(sc, NULL, NULL, &json, hash, &err));
    halo_scenario_free(sc);
    return json;
}

#define SCENARIO(loss)                                                     \
    "name: id\n"                                                           \
    "model: {shape: tinyllama-1.1b, weights: q40}\n"                       \
    "devices:\n"                                                           \
    "  - {profile: board, link: gige}\n"                                   \
    "  - {profile: rpi4b, count: 2, link: {base: gige, loss: " loss "}}\n" \
    "engine: {baseline: [dllama, halo], tau: [0.5, 0.9]}\n"                \
    "workload: {tokens: 2}\n"

static const char base_text[] = SCENARIO("0.01");

static void write_board(double gflops) {
    char t[256];
    (void)snprintf(t, sizeof t, "profile: {base: rpi4b, gflops: %g, source: test}\n", gflops);
    (void)put("profiles/board.yaml", t);
}

static void comments_and_layout_do_not_change_it(void) {
    write_board(12);
    char a[65], b[65];
    free(identity(put("a.yaml", base_text), 3, a));
    const char *other = "# the same experiment, written otherwise\n"
                        "name: id   # its name\n"
                        "workload:\n  tokens: 2\n"
                        "engine:\n  tau: [0.5, 0.9]\n  baseline: [dllama, halo]\n"
                        "model:\n  weights: q40\n  shape: tinyllama-1.1b\n"
                        "devices:\n"
                        "  - link: gige\n    profile: board\n"
                        "  - profile: rpi4b\n    count: 2\n    link: {loss: 1e-2, base: gige}\n";
    free(identity(put("b.yaml", other), 3, b));
    ASSERT(strcmp(a, b) == 0);
}

static void a_changed_profile_changes_it(void) {
    write_board(12);
    char a[65], b[65], same[65];
    const char *path = put("c.yaml", base_text);
    free(identity(path, 0, a));
    write_board(6);
    char *json = identity(path, 0, b);
    ASSERT(strcmp(a, b) != 0);
    ASSERT(strstr(json, "\"flops_per_s\": 6000000000") != NULL);
    free(json);
    /* the same numbers through another name: the same identity */
    (void)put("profiles/twin.yaml", "profile: {base: rpi4b, gflops: 6, source: another name}\n");
    char *t = strdup(base_text);
    char *at = strstr(t, "profile: board");
    memcpy(at, "profile: twin ", 14);
    free(identity(put("d.yaml", t), 0, same));
    free(t);
    ASSERT(strcmp(b, same) == 0);
    write_board(12);
}

static void tau_without_importance_is_left_out(void) {
    write_board(12);
    char d5[65], d9[65], h5[65], h9[65];
    const char *path = put("e.yaml", base_text);
    free(identity(path, 0, d5)); /* dllama, tau 0.5 */
    free(identity(path, 1, d9)); /* dllama, tau 0.9 */
    free(identity(path, 2, h5)); /* halo, tau 0.5 */
    free(identity(path, 3, h9)); /* halo, tau 0.9 */
    ASSERT(strcmp(d5, d9) == 0);
    ASSERT(strcmp(h5, h9) != 0);
    ASSERT(strcmp(d5, h5) != 0);
}

/* workload.skip changes what a run's statistics say: it is part of the identity when set, and
   absent when not (runs from before the key keep theirs). */
static void skip_is_written_only_when_set(void) {
    write_board(12);
    char a[65], b[65];
    char *ja = identity(put("f.yaml", base_text), 0, a);
    ASSERT(strstr(ja, "skip") == NULL);
    char *t = strdup(base_text);
    char *at = strstr(t, "workload: {tokens: 2}");
    ASSERT(at != NULL);
    *at = '\0';
    char text[1024];
    (void)snprintf(text, sizeof text, "%sworkload: {tokens: 2, skip: 1}\n", t);
    free(t);
    char *jb = identity(put("g.yaml", text), 0, b);
    ASSERT(strstr(jb, "\"tokens\": 2, \"skip\": 1, ") != NULL);
    ASSERT(strcmp(a, b) != 0);
    free(ja);
    free(jb);
}

/* The host keys added after the identity (host_overlap, the wake-ups, the host's bandwidth,
   core_placement, the cache) each change it when set, and are absent when not. Before
   2026-12-06 they were left out: a sweep over host_mem_bw_gbps took its points for one. */
static void later_host_keys_change_it_when_set(void) {
    static const char *const keys[] = {"host_overlap: 0.45",
                                       "recv_jitter_us: 5",
                                       "cold_wake_us: 90, cold_wake_ms: 3",
                                       "host_mem_bw_gbps: 40",
                                       "cache_mb: 32, cache_bw_gbps: 80",
                                       "host_mem_bw_gbps: 40, core_placement: wake"};
    static const char *const shows[] = {"host_overlap",    "recv_jitter_ns", "cold_wake_ns",
                                        "host_mem_bw_bps", "cache_bytes",    "core_placement"};
    char plain[65], with[8][65];
    char *j = identity(put("h.yaml", "name: h\nmodel: {shape: tinyllama-1.1b}\n"
                                     "devices:\n  - {profile: rpi4b, link: gige}\n"
                                     "workload: {tokens: 2}\n"),
                       0, plain);
    for (int k = 0; k < 6; k++)
        ASSERT(strstr(j, shows[k]) == NULL);
    free(j);
    for (int k = 0; k < 6; k++) {
        char text[512];
        (void)snprintf(text, sizeof text,
                       "name: h\nmodel: {shape: tinyllama-1.1b}\n"
                       "devices:\n  - {profile: {base: rpi4b, %s}, link: gige}\n"
                       "workload: {tokens: 2}\n",
                       keys[k]);
        j = identity(put("i.yaml", text), 0, with[k]);
        ASSERT(strstr(j, shows[k]) != NULL);
        ASSERT(strcmp(plain, with[k]) != 0);
        free(j);
    }
    ASSERT(strcmp(with[3], with[5]) != 0); /* core_placement alone tells them apart */
}

static void numbers_are_exact(void) {
    write_board(12);
    char a[65], b[65];
    /* two losses that agree in their first 6 digits are two experiments */
    free(identity(put("f.yaml", SCENARIO("0.0100001")), 0, a));
    free(identity(put("g.yaml", SCENARIO("0.0100002")), 0, b));
    ASSERT(strcmp(a, b) != 0);
}

static void a_missing_file_is_named(void) {
    halo_scenario *sc = NULL;
    halo_err err = {0};
    write_board(12);
    ASSERT_OK(halo_scenario_load(&sc, put("h.yaml", base_text), 0, &err));
    char *json = NULL, hash[65];
    ASSERT_EQ(halo_identity_point(sc, "/nonexistent/eval.txt", NULL, &json, hash, &err),
              HALO_ERR_IO);
    ASSERT(json == NULL);
    ASSERT(strstr(err.msg, "/nonexistent/eval.txt") != NULL);
    halo_scenario_free(sc);
}

TEST_MAIN(TEST(comments_and_layout_do_not_change_it), TEST(a_changed_profile_changes_it),
          TEST(tau_without_importance_is_left_out), TEST(skip_is_written_only_when_set),
          TEST(numbers_are_exact), TEST(a_missing_file_is_named),
          TEST(later_host_keys_change_it_when_set))
