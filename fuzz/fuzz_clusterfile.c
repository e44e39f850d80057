/*
 * Fuzz target: cluster files (net/clusterfile.c) through the YAML reader (core/yaml.c) and
 * the engine section's reader (core/engine_yaml.c).
 *
 * The input is one cluster file; it is loaded and finished (as for a model with weights).
 * A failure must name the file; nothing may leak.
 */
#include "fuzz/fuzz.h"
#include "net/clusterfile.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_file(0, data, size);
    halo_clusterfile cf;
    halo_err err = {0};
    if (halo_clusterfile_load(&cf, path, &err) != HALO_OK) {
        FZ_CHECK(err.msg[0] != '\0');
        return 0;
    }
    (void)halo_clusterfile_finish(&cf, 1, &err);
    halo_clusterfile_free(&cf);
    return 0;
}
