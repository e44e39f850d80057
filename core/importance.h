/*
 * Importance-aware relaxed synchronisation: the HALO policy as a per-sync planning hook
 * (halo_plan_fn) for the root.
 *
 * At the start of each sync the hook scores this block's groups (the predictor from the
 * block's normalised input; or the oracle, the true contributions, for ablations; or, for
 * shape-only models that have no numerics, scores drawn from a seeded log-normal
 * distribution whose sigma is given or measured on the bundled model per block kind, depth
 * and group count: core/importance_sigma.h), selects the critical groups (the smallest set covering
 * a fraction tau of the total score: halo_select_critical), and then:
 *  - FFN blocks, when `place` is set: keeps every device's number of groups (the
 *    scheduler's balance) but hands the reliable devices (the root and devices whose links
 *    do not lose) the highest-scoring groups, so that as many critical groups as possible
 *    run where their result is sure to arrive. The groups are dealt in descending score
 *    order: first to the reliable devices, then to the others in device order, so the
 *    critical groups left over concentrate on the first unreliable devices and the last
 *    ones hold only non-critical groups (they are not awaited). Nearly every group changes
 *    device at every sync, so a memory-limited device would read most of what it computes
 *    from storage (core/memplan.h): docs/loader.md measures it, and runs HALO without
 *    placement there;
 *  - marks as critical (always awaited; re-requested at each deadline if its links lose)
 *    every device that holds a critical group. Everything else is awaited only until the
 *    deadline.
 * Attention groups keep their devices (their KV caches live there); devices holding a
 * critical attention group are awaited.
 *
 * The hook allocates nothing per sync; its statistics say how often critical groups could
 * not be placed on reliable devices.
 */
#ifndef HALO_IMPORTANCE_H
#define HALO_IMPORTANCE_H

#include "core/model.h"
#include "core/plan.h"
#include "core/predictor.h"
#include "core/rng.h"

#include <stdint.h>

enum halo_scoring {
    HALO_SCORING_PREDICTOR = 0, /* the fitted predictor (default) */
    HALO_SCORING_ORACLE = 1,    /* the true contributions (upper bound; needs weights) */
    HALO_SCORING_SYNTHETIC = 2, /* log-normal scores (shape-only models) */
    HALO_SCORING_UNIFORM = 3,   /* every group equal: importance switched off */
};

typedef struct halo_importance_config {
    const halo_model *model;   /* borrowed */
    const halo_groups *groups; /* copied */
    int n_devices;
    int scoring;               /* enum halo_scoring */
    halo_predictor *predictor; /* borrowed; required for HALO_SCORING_PREDICTOR */
    double tau;                /* (0, 1]: fraction of the score mass that is critical */
    const uint8_t *reliable;   /* (n_devices) or NULL: 1 = its links do not lose (root: always) */
    int place;                 /* move critical FFN groups onto reliable devices */
    int attention_critical;    /* 1: every device with attention groups is always awaited */
    double synthetic_sigma;    /* log-normal sigma for HALO_SCORING_SYNTHETIC; 0: measured,
                                  per block kind, depth and group count
                                  (halo_importance_sigma_lookup, core/importance_sigma.h) */
    uint64_t seed, run;        /* synthetic scores' stream */
} halo_importance_config;

typedef struct halo_importance halo_importance;

/* Errors: HALO_ERR_ARG (tau, scoring without predictor or weights), HALO_ERR_NOMEM. */
int halo_importance_new(halo_importance **out, const halo_importance_config *cfg, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_importance_free(halo_importance *imp);

/* The planning hook; ctx is the halo_importance. */
void halo_importance_plan(void *ctx, uint32_t step, int layer, int phase, const float *xb,
                          uint16_t *devices, int n_groups, uint8_t *critical);

/*
 * The reliable_fn of halo_sync_config (core/node.h); ctx is the halo_importance. Once it is
 * called, the devices' reliability comes from these calls (the configured `reliable` list
 * is replaced; the root stays reliable), and FFN placement runs only while some device is
 * unreliable: with every link clean, moving critical groups gains nothing and costs
 * scattered weights (socket clusters; simulated runs never call it).
 */
void halo_importance_set_reliable(void *ctx, int device, int reliable);

typedef struct halo_importance_stats {
    uint64_t syncs;            /* blocks planned */
    uint64_t groups;           /* groups seen */
    uint64_t critical;         /* of those, critical */
    uint64_t critical_exposed; /* critical groups left on unreliable devices */
    uint64_t moved;            /* groups place_critical dealt to another device than the
                                  placement's (FFN blocks while a link loses) */
    double predictor_flops;    /* spent scoring */
} halo_importance_stats;

const halo_importance_stats *halo_importance_get_stats(const halo_importance *imp);

#endif /* HALO_IMPORTANCE_H */
