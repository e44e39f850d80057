/*
 * The `engine:` section of a YAML file (a scenario or a cluster file) into an engine
 * configuration (core/engine.h): the one reader both files use, so the section means the
 * same in both. It adds YAML's view to the key table: keys and values with lines, the
 * `tcp:` sub-mapping, plain versus quoted scalars (a quoted "5" is a string, not a number),
 * and two hooks for the file at hand: `pick` (a scenario's sweep lists stand for their
 * chosen item) and `path` (files relative to the file, checked for readability).
 *
 * Errors are HALO_ERR_FORMAT (HALO_ERR_IO from the path hook) with
 * "<file>:<line>: <kp>.<key>: <problem>".
 */
#ifndef HALO_ENGINE_YAML_H
#define HALO_ENGINE_YAML_H

#include "core/engine.h"
#include "core/yaml.h"

typedef struct halo_engine_yaml {
    /* The node that `n` stands for (a sweep axis's chosen item), or NULL: itself. */
    const halo_yaml_node *(*pick)(void *ctx, const halo_yaml_node *n);
    /* Resolves a file value `value` given at `at` (key path kp) into *out (malloc'd), or
       NULL: as written. */
    int (*path)(void *ctx, const halo_yaml_node *at, const char *kp, const char *value, char **out,
                halo_err *err);
    void *ctx;
    /* Keys given as command-line flags on top of the file, or NULL: an error of
       halo_engine_yaml_finish at such a key names the flag ("--critical: ..."), not a line. */
    const halo_engine_args *flags;
} halo_engine_yaml;

/*
 * Reads mapping `m` (key path `kp`, e.g. "engine"; NULL: no section) into `c`: the preset
 * (`baseline`) first, then every other key in file order. Unknown keys are errors listing
 * the known ones. `hooks` may be NULL.
 */
int halo_engine_yaml_read(halo_engine_config *c, const halo_yaml_node *m, const char *kp,
                          const halo_engine_yaml *hooks, halo_err *err);

/*
 * halo_engine_config_finish, with its error placed at the key it names in `m` (the value's
 * line), or at `m` itself, or at `absent` when `m` is NULL; at the flag when the key was
 * given as one (hooks->flags: "--critical: ...", HALO_ERR_ARG).
 */
int halo_engine_yaml_finish(halo_engine_config *c, const halo_yaml_node *m,
                            const halo_yaml_node *absent, const char *kp, int n_devices,
                            int has_weights, int where, const halo_engine_yaml *hooks,
                            halo_err *err);

#endif /* HALO_ENGINE_YAML_H */
