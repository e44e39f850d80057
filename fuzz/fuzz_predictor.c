/*
 * Fuzz target: importance-predictor files (core/predictor.c) for the bundled model
 * (models/stories260K.bin, loaded once).
 *
 * The input is a flag byte and one predictor file; with the flag's bit 0 set the harness
 * first stamps the file's trailing CRC-32 to match, so the fuzzer reaches the checks behind
 * the checksum. The file is loaded for the bundled model. A refusal must leave
 * *out NULL and name the file; a predictor that loads reports a rank inside 1..dim.
 */
#include "core/bytes.h"
#include "core/model.h"
#include "core/predictor.h"
#include "core/wire.h"
#include "fuzz/fuzz.h"

#include <string.h>

static halo_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    halo_err err = {0};
    if (halo_model_load(&model, fz_src_path("models/stories260K.bin"), &err) != HALO_OK) {
        (void)fprintf(stderr, "fuzz_predictor: %s\n", err.msg);
        abort();
    }
    return 0;
}

static unsigned char copy[1 << 20];

int LLVMFuzzerTestOneInput(const uint8_t *raw, size_t raw_size) {
    size_t size;
    int flags = fz_flagged(raw, raw_size, copy, sizeof copy, &size);
    if (flags < 0)
        return 0;
    if ((flags & 1) && size >= 4) /* flag 1: the trailing CRC made valid */
        halo_put_u32(copy + size - 4, halo_crc32(0, copy, size - 4));
    const char *path = fz_file(0, copy, size);
    halo_predictor *p = NULL;
    halo_err err = {0};
    if (halo_predictor_load(&p, path, model, &err) != HALO_OK) {
        FZ_CHECK(p == NULL && strstr(err.msg, path) != NULL);
        return 0;
    }
    int r = halo_predictor_rank(p);
    FZ_CHECK(r >= 1 && r <= halo_model_get_config(model)->dim);
    halo_predictor_free(p);
    return 0;
}
