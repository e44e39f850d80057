/*
 * Run identity (issue 17): a sweep point is identified by what it simulates, not by the bytes
 * of the file that describes it. The fully resolved point (the model's content, every
 * device's profile and links after names, `base:` chains and overrides are applied, every
 * engine setting, the workload and the seed) is written as canonical JSON, and its sha256 is
 * the point's identity. Comments, formatting, key order and the names of profile and link
 * files do not enter it; a changed profile or link file does, for exactly the points that use
 * it. The JSON is stored with each run (column `resolved`), so a result says what it ran.
 *
 * Settings that cannot change the simulation under the point's other settings are left out
 * (written as null), so that two points differing only in them have one identity and are
 * simulated once: `tau`, `synthetic_sigma` and the predictor without importance scoring
 * (tau under `baseline: dllama`).
 *
 * Not here: the database (results/db.h stores the JSON and hash) and planning (results/sweep.h
 * looks stored runs up by identity).
 */
#ifndef HALO_RESULTS_IDENTITY_H
#define HALO_RESULTS_IDENTITY_H

#include "core/status.h"
#include "sim/scenario.h"

/* Content hashes of the files a point reads (model, tokenizer, predictor, evaluation text),
   remembered by path so that a sweep hashes each file once. Zero-initialise; free with
   halo_identity_cache_free. Not shared between processes (each worker has its own copy). */
typedef struct halo_identity_cache {
    int n;

    struct {
        char *path;
        char hex[65];
    } e[16];
} halo_identity_cache;

/* Frees the cache's paths; it is then empty. */
void halo_identity_cache_free(halo_identity_cache *c);

/*
 * The resolved point `sc` as canonical JSON into *json (heap, the caller frees) and its sha256
 * as 64 hex digits into hash. `eval_path` is the evaluation text the run will score (a
 * sweep's --eval or the point's workload.eval), or NULL. `cache` may be NULL.
 * Errors: HALO_ERR_IO naming a file that cannot be hashed (model, tokenizer, predictor,
 * evaluation text), HALO_ERR_NOMEM. *json is NULL on failure.
 */
int halo_identity_point(const halo_scenario *sc, const char *eval_path, halo_identity_cache *cache,
                        char **json, char hash[65], halo_err *err);

#endif /* HALO_RESULTS_IDENTITY_H */
