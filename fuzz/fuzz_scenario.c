/*
 * Fuzz target: scenario files (sim/scenario.c) through the YAML reader (core/yaml.c) and the
 * engine section's reader (core/engine_yaml.c).
 *
 * The input is one scenario file. It is parsed in memory by the YAML reader (which must
 * either give a tree or an error naming the file), then loaded as a scenario, point 0 and
 * the point the first byte names. Failures must leave *out NULL and name the file; no input
 * may take more than the limits' time or memory (libFuzzer's -timeout and -rss_limit_mb
 * catch the alias bombs and quadratic nesting of issue 18).
 */
#include "core/yaml.h"
#include "fuzz/fuzz.h"
#include "sim/scenario.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    halo_yaml_doc *d = NULL;
    halo_err err = {0};
    if (halo_yaml_parse(&d, "fuzz.yaml", (const char *)data, size, NULL, &err) == HALO_OK)
        halo_yaml_free(d);
    else
        FZ_CHECK(d == NULL && strstr(err.msg, "fuzz.yaml") != NULL);
    const char *path = fz_file(0, data, size);
    long points[2] = {0, size ? data[0] % 8 : 1};
    for (int i = 0; i < 2; i++) {
        halo_scenario *sc = NULL;
        halo_err e2 = {0};
        if (halo_scenario_load(&sc, path, points[i], &e2) == HALO_OK)
            halo_scenario_free(sc);
        else
            FZ_CHECK(sc == NULL && e2.msg[0] != '\0');
    }
    return 0;
}
