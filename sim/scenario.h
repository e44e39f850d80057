/*
 * Scenario files: YAML (libyaml) descriptions of a simulated experiment: the model (a
 * checkpoint whose numerics really run, or a named shape whose costs are simulated), the
 * devices (profile, links, memory), the engine settings (placement, sync policy, deadline,
 * payload encoding, delivery), the workload, seeds and runs, and sweep axes.
 *
 * Sweeps: any key whose value is a scalar may be given a list instead; every such list is a
 * sweep axis, and the scenario's points are the product of the axes (the last axis varies
 * fastest, axes ordered as they appear in the file). Point i of n is loaded with
 * halo_scenario_load(..., i, ...).
 *
 * Every key is documented in scenarios/README.md. Errors name the file, the line and the key
 * ("scenarios/x.yaml:12: devices[2].link.loss: 1.5 is not in [0, 1)"); unknown keys are
 * errors. Named profiles and links are looked up as <scenario dir>/profiles/NAME.yaml (or
 * links/NAME.yaml), then in the project's scenarios/ folder.
 */
#ifndef HALO_SIM_SCENARIO_H
#define HALO_SIM_SCENARIO_H

#include "core/engine.h"
#include "core/model.h"
#include "core/node.h"
#include "core/status.h"
#include "sim/sim.h"

#include <stdint.h>

typedef struct halo_scenario_device {
    char profile_name[64];       /* the profile's name ("rpi4b", or "inline") */
    char host[48];               /* `host:` label, "" for a machine of its own (profile.host
                                    is its index + 1) */
    halo_device_profile profile; /* after overrides (memory_mb) */
    halo_link_spec uplink;       /* device -> switch */
    halo_link_spec downlink;     /* switch -> device */
} halo_scenario_device;

typedef struct halo_scenario {
    char *path; /* as given */
    char *text; /* the file's full text (provenance) */
    char *name; /* `name:` or the file's base name */
    /* point of the sweep */
    long n_points;     /* product of the axes' lengths (1 without axes) */
    long point;        /* which point this is */
    char *point_label; /* "devices[0].count=8 links.gige.loss=0.05" ("" without axes) */

    /* model: exactly one of model_file / shape_name */
    char *model_file;        /* resolved path of a checkpoint, or NULL */
    char *tokenizer_file;    /* resolved path, or NULL for a shape */
    char *shape_name;        /* "llama2-7b", ... or NULL */
    halo_model_config shape; /* the shape's configuration (valid when shape_name) */
    int weight_type;         /* enum halo_weight_type */

    /* devices: device 0 is the root */
    int n_devices;
    halo_scenario_device *devices;

    /* engine: the `engine:` section, finished (core/engine.h) */
    halo_engine_config engine;

    /* workload */
    char *prompt;      /* "" allowed */
    int tokens;        /* tokens to generate, >= 1 */
    int skip;          /* the first `skip` of them left out of a run's time statistics (a
                          measurement's warm-up intervals, tools/mirror-ground-truth.sh);
                          0..tokens-1 */
    float temperature; /* 0 = greedy */
    char *eval_file;   /* optional: text for quality measurement (resolved path) */

    uint64_t seed;
    int runs;  /* replications, run numbers 0..runs-1 */
    int paper; /* `paper: true`: the paper's configuration (figures may mark its numbers) */
} halo_scenario;

/*
 * Loads point `point` (0 <= point < number of points) of the scenario at `path`.
 * Errors: HALO_ERR_IO (cannot read), HALO_ERR_FORMAT (syntax, wrong type, unknown or missing
 * key, value out of range; the message names file, line and key), HALO_ERR_ARG (point out
 * of range), HALO_ERR_NOMEM. *out is NULL on failure.
 */
int halo_scenario_load(halo_scenario **out, const char *path, long point, halo_err *err);

/*
 * The same, with engine keys given on the command line (`halo sim S --deadline-ms 5`)
 * overriding the file's engine section before it is finished; `overrides` may be NULL.
 * Errors: as halo_scenario_load; a bad override is HALO_ERR_ARG naming its flag.
 */
int halo_scenario_load_with(halo_scenario **out, const char *path, long point,
                            const halo_engine_args *overrides, halo_err *err);

/*
 * The number of sweep points of the scenario at `path`, from its axes alone (no point is
 * validated), so that a sweep can plan points of which some fail to load (issue 17: a bad
 * value fails only its points). Errors: HALO_ERR_IO, HALO_ERR_FORMAT (syntax, a bad axis,
 * too many points), HALO_ERR_NOMEM.
 */
int halo_scenario_n_points(const char *path, long *n_points, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_scenario_free(halo_scenario *s);

/* Built-in model shapes: "llama2-7b", "llama2-13b", "tinyllama-1.1b", "llama3-8b". */
int halo_scenario_shape(const char *name, halo_model_config *out);

#endif /* HALO_SIM_SCENARIO_H */
