/*
 * One simulated run of a scenario point.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/simrun.h"

#include "app/cli.h"
#include "core/cluster.h"
#include "core/importance.h"
#include "core/sampler.h"
#include "core/sched.h"
#include "core/tokenizer.h"
#include "sim/ns3/ns3_shim.h"

#include <stdlib.h>
#include <string.h>

/* Relative speed of a device for the balanced split: weights it can process per second. */
static double device_speed(const halo_device_profile *p, double wbytes) {
    double t = 2.0 / p->flops_per_s;
    double m = wbytes / p->mem_bw_bps;
    return 1.0 / (t > m ? t : m);
}

/* The placement spec ("balanced" becomes weights by device speed; the loader has applied
 * the baseline already). `buf` receives a weights spec. */
/*
 * "scheduled": the load-balancing scheduler's heuristic (core/sched.h) over the scenario's
 * devices and links: group counts per device minimising the modelled time of a layer under
 * memory budgets, with the policy's loss penalty (an RTO under strict sync, the deadline
 * under relaxed sync).
 */
static int schedule_placement(const halo_scenario *sc, const halo_model *model, char *buf,
                              size_t cap, const char **placement, halo_err *err) {
    int n = sc->n_devices;
    halo_sched_device *sd = calloc((size_t)n, sizeof *sd);
    if (!sd)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    for (int d = 0; d < n; d++) {
        const halo_scenario_device *v = &sc->devices[d];
        double up = halo_loss_mean(&v->uplink.loss), down = halo_loss_mean(&v->downlink.loss);
        sd[d] =
            (halo_sched_device){.flops_per_s = v->profile.flops_per_s,
                                .mem_bw_bps = v->profile.mem_bw_bps,
                                .mem_bytes = v->profile.mem_bytes,
                                .op_overhead_ns = v->profile.op_overhead_ns,
                                .link_bps = v->uplink.bandwidth_bps < v->downlink.bandwidth_bps
                                                ? v->uplink.bandwidth_bps
                                                : v->downlink.bandwidth_bps,
                                .link_latency_ns = v->uplink.latency_ns + v->downlink.latency_ns,
                                .loss = up > down ? up : down,
                                .is_root = d == 0};
    }
    const halo_model_config *mc = halo_model_get_config(model);
    halo_sched_problem p;
    halo_sched_solution s = {0};
    int g = sc->group_size > 0 ? sc->group_size : halo_cluster_default_group_size(mc);
    int rc = halo_sched_problem_init(&p, mc, halo_model_weight_type(model), g, sd, n, err);
    if (rc == HALO_OK) {
        p.loss_penalty_ns =
            sc->policy == HALO_SYNC_POLICY_STRICT ? sc->tcp.rto_min_ns : sc->deadline_ns;
        rc = halo_sched_solution_init(&s, n, err);
    }
    if (rc == HALO_OK)
        rc = halo_sched_solve_heuristic(&p, &s, err);
    if (rc == HALO_OK)
        rc = halo_sched_spec(&s, &p.groups, buf, cap, NULL, err);
    if (rc == HALO_OK)
        *placement = buf;
    halo_sched_solution_free(&s);
    free(sd);
    return rc;
}

static int resolve_placement(const halo_scenario *sc, const halo_model *model, double wbytes,
                             char *buf, size_t cap, const char **placement, halo_err *err) {
    *placement = sc->placement ? sc->placement : "equal";
    if (strcmp(*placement, "balanced") == 0) {
        size_t used = (size_t)snprintf(buf, cap, "weights:");
        for (int d = 0; d < sc->n_devices && used < cap; d++)
            used += (size_t)snprintf(buf + used, cap - used, "%s%.6g", d ? "," : "",
                                     device_speed(&sc->devices[d].profile, wbytes));
        if (used >= cap)
            return HALO_FAIL(err, HALO_ERR_ARG, "%s: too many devices for a balanced spec",
                             sc->path);
        *placement = buf;
    } else if (strcmp(*placement, "scheduled") == 0) {
        return schedule_placement(sc, model, buf, cap, placement, err);
    }
    return HALO_OK;
}

static int load_model(const halo_scenario *sc, halo_model **m, halo_tokenizer **tok,
                      halo_err *err) {
    if (sc->model_file) {
        int rc = halo_model_load(m, sc->model_file, err);
        if (rc == HALO_OK)
            rc = halo_tokenizer_load(tok, sc->tokenizer_file, halo_model_get_config(*m)->vocab_size,
                                     err);
        return rc;
    }
    return halo_model_new_shape(m, &sc->shape, sc->weight_type, err);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double quantile_ms(const uint64_t *sorted, int n, double q) {
    int i = (int)(q * (n - 1) + 0.5);
    return (double)sorted[i] / 1e6;
}

/* Appends the text of `token` (after `prev`) to r->text. */
static int append_text(halo_sim_result *r, size_t *len, size_t *cap, const halo_tokenizer *tok,
                       int prev, int token) {
    size_t n;
    const char *piece = halo_tokenizer_decode(tok, prev, token, &n);
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 256) + n;
        char *t = realloc(r->text, nc);
        if (!t)
            return -1;
        r->text = t;
        *cap = nc;
    }
    memcpy(r->text + *len, piece, n);
    *len += n;
    r->text[*len] = '\0';
    return 0;
}

typedef struct run_ctx {
    const halo_scenario *sc;
    halo_model *model;
    halo_tokenizer *tok;
    halo_sampler *sampler;
    halo_transport *world;
    halo_cluster *cluster;
    halo_predictor *predictor;
    halo_importance *importance;
    halo_device_profile *dev;
    halo_link_spec *up, *down;
    uint64_t *compute_before, *read_before, *stall_before;
    uint64_t *budget; /* (n) memory budgets of group weights, or NULL */
    int *prompt;
    halo_sim_node_stats *dev_before; /* (n_devices) statistics when measuring started */
    halo_sim_layer *layer_before;    /* (n_layers) per-layer totals when measuring started */
} run_ctx;

static void ctx_free(run_ctx *x) {
    halo_cluster_free(x->cluster);
    halo_importance_free(x->importance);
    halo_predictor_free(x->predictor);
    halo_transport_free(x->world);
    halo_sampler_free(x->sampler);
    halo_tokenizer_free(x->tok);
    halo_model_free(x->model);
    free(x->dev);
    free(x->up);
    free(x->down);
    free(x->compute_before);
    free(x->read_before);
    free(x->stall_before);
    free(x->budget);
    free(x->prompt);
    free(x->dev_before);
    free(x->layer_before);
}

/* Statistics of the world, whichever engine runs it (engine.simulator). */
static void world_stats(halo_transport *w, int d, halo_sim_node_stats *st) {
    if (halo_ns3_owns(w))
        halo_ns3_get_stats(w, d, st);
    else
        halo_sim_get_stats(w, d, st);
}

/* Per-device and per-layer totals so far (from the simulator and the root node). */
static void collect(const run_ctx *x, halo_sim_node_stats *dev, halo_sim_layer *lay) {
    for (int d = 0; d < x->sc->n_devices; d++)
        world_stats(x->world, d, &dev[d]);
    const halo_node *root = halo_cluster_node(x->cluster, 0);
    int n_layers = halo_model_get_config(x->model)->n_layers;
    for (int l = 0; l < n_layers; l++)
        lay[l] = (halo_sim_layer){.attn_ns = halo_node_block_at(root, l, HALO_PHASE_ATTN),
                                  .ffn_ns = halo_node_block_at(root, l, HALO_PHASE_FFN),
                                  .attn_wait_ns = halo_node_wait_at(root, l, HALO_PHASE_ATTN),
                                  .ffn_wait_ns = halo_node_wait_at(root, l, HALO_PHASE_FFN),
                                  .attn_missing = halo_node_missing_at(root, l, HALO_PHASE_ATTN),
                                  .ffn_missing = halo_node_missing_at(root, l, HALO_PHASE_FFN)};
}

/* Remembers the totals at the start of the measured tokens (after the prompt). */
static int snapshot(run_ctx *x, halo_err *err) {
    int n_layers = halo_model_get_config(x->model)->n_layers;
    x->dev_before = calloc((size_t)x->sc->n_devices, sizeof *x->dev_before);
    x->layer_before = calloc((size_t)n_layers, sizeof *x->layer_before);
    if (!x->dev_before || !x->layer_before)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    collect(x, x->dev_before, x->layer_before);
    return HALO_OK;
}

#define SUB(field) a->field -= b->field

/* Fills r->devices and r->layers with the totals since the snapshot. */
static int per_device_layer(halo_sim_result *r, const run_ctx *x, halo_err *err) {
    int n = x->sc->n_devices, n_layers = halo_model_get_config(x->model)->n_layers;
    r->devices = calloc((size_t)n, sizeof *r->devices);
    r->layers = calloc((size_t)n_layers, sizeof *r->layers);
    if (!r->devices || !r->layers)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    r->n_devices = n;
    r->n_layers = n_layers;
    collect(x, r->devices, r->layers);
    for (int d = 0; d < n; d++) {
        halo_sim_node_stats *a = &r->devices[d];
        const halo_sim_node_stats *b = &x->dev_before[d];
        SUB(compute_ns);
        SUB(msgs_sent);
        SUB(msgs_delivered);
        SUB(msgs_lost);
        SUB(packets_sent);
        SUB(packets_lost);
        SUB(bytes_on_wire);
        SUB(retransmits);
        SUB(timeouts);
        SUB(probes);
        SUB(storage_bytes);
        SUB(storage_read_ns);
        SUB(storage_stall_ns);
    }
    for (int l = 0; l < n_layers; l++) {
        halo_sim_layer *a = &r->layers[l];
        const halo_sim_layer *b = &x->layer_before[l];
        SUB(attn_ns);
        SUB(ffn_ns);
        SUB(attn_wait_ns);
        SUB(ffn_wait_ns);
        SUB(attn_missing);
        SUB(ffn_missing);
    }
    return HALO_OK;
}

#undef SUB

/* Parses a list of device numbers ("1,3") into flags. */
static int device_set(const halo_scenario *sc, const char *key, const char *list, uint8_t *flags,
                      halo_err *err) {
    for (const char *s = list; s && *s;) {
        char *end;
        long d = strtol(s, &end, 10);
        if (end == s || d < 0 || d >= sc->n_devices)
            return HALO_FAIL(err, HALO_ERR_ARG, "%s: %s '%s': devices are 0..%d", sc->path, key,
                             list, sc->n_devices - 1);
        flags[d] = 1;
        s = *end == ',' ? end + 1 : end;
    }
    return HALO_OK;
}

/* The importance hook of the HALO policy, when the scenario asks for one. */
static int build_importance(run_ctx *x, int run, const uint8_t *reliable, halo_err *err) {
    const halo_scenario *sc = x->sc;
    if (sc->importance < 0)
        return HALO_OK;
    if (sc->importance == HALO_SCORING_PREDICTOR) {
        char path[4096];
        const char *p = sc->predictor_file;
        if (!p) { /* default: the model file with .pred instead of .bin */
            int len = snprintf(path, sizeof path, "%s", sc->model_file);
            char *dot = len > 0 && (size_t)len < sizeof path ? strrchr(path, '.') : NULL;
            if (!dot || (size_t)(dot - path) + 6 > sizeof path)
                return HALO_FAIL(err, HALO_ERR_ARG, "%s: cannot derive a predictor file name",
                                 sc->path);
            strcpy(dot, ".pred");
            p = path;
        }
        int rc = halo_predictor_load(&x->predictor, p, x->model, err);
        if (rc != HALO_OK)
            return rc;
    }
    const halo_model_config *mc = halo_model_get_config(x->model);
    halo_groups g;
    int rc = halo_groups_init(
        &g, mc, sc->group_size > 0 ? sc->group_size : halo_cluster_default_group_size(mc), err);
    if (rc != HALO_OK)
        return rc;
    halo_importance_config ic = {.model = x->model,
                                 .groups = &g,
                                 .n_devices = sc->n_devices,
                                 .scoring = sc->importance,
                                 .predictor = x->predictor,
                                 .tau = sc->tau,
                                 .reliable = reliable,
                                 .place = sc->place_critical,
                                 .attention_critical = sc->attention_critical,
                                 .synthetic_sigma = sc->synthetic_sigma,
                                 .seed = sc->seed,
                                 .run = (uint64_t)run};
    return halo_importance_new(&x->importance, &ic, err);
}

/*
 * engine.memory_budget: what each device may keep of its group weights: its memory, less
 * the KV cache of its attention groups at the full context (f32, allocated up front), and
 * on the root less the embedding table, the classifier and the norms.
 */
static int memory_budgets(run_ctx *x, const halo_placement *p, halo_err *err) {
    const halo_scenario *sc = x->sc;
    const halo_model_config *mc = halo_model_get_config(x->model);
    double wbytes = halo_weight_bytes(halo_model_weight_type(x->model));
    int n = sc->n_devices;
    x->budget = calloc((size_t)n, sizeof *x->budget);
    if (!x->budget)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    double root_fixed =
        wbytes * ((double)mc->vocab_size * mc->dim * (mc->shared_classifier ? 1 : 2) +
                  (2.0 * mc->n_layers + 1.0) * mc->dim);
    double kv_per_group = 2.0 * 4.0 * (double)mc->seq_len * p->groups.head_size;
    for (int d = 0; d < n; d++) {
        const halo_scenario_device *v = &sc->devices[d];
        if (!(v->profile.storage_bw_bps > 0))
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "%s: device %d: engine.memory_budget needs a storage bandwidth "
                             "(storage_mbps > 0)",
                             sc->path, d);
        double kv = 0;
        for (size_t i = 0; i < (size_t)p->groups.n_layers * (size_t)p->groups.n_attn; i++)
            kv += p->attn[i] == d ? kv_per_group : 0.0;
        double fixed = kv + (d == 0 ? root_fixed : 0.0);
        if ((double)v->profile.mem_bytes <= fixed)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "%s: device %d: memory (%.1f MiB) does not hold its KV cache%s "
                             "(%.1f MiB)",
                             sc->path, d, (double)v->profile.mem_bytes / 1048576.0,
                             d == 0 ? ", embeddings and classifier" : "", fixed / 1048576.0);
        x->budget[d] = v->profile.mem_bytes - (uint64_t)fixed;
    }
    return HALO_OK;
}

static int build(run_ctx *x, int run, halo_err *err) {
    const halo_scenario *sc = x->sc;
    int n = sc->n_devices, rc = load_model(sc, &x->model, &x->tok, err);
    if (rc != HALO_OK)
        return rc;
    x->dev = calloc((size_t)n, sizeof *x->dev);
    x->up = calloc((size_t)n, sizeof *x->up);
    x->down = calloc((size_t)n, sizeof *x->down);
    x->compute_before = calloc((size_t)n, sizeof *x->compute_before);
    x->read_before = calloc((size_t)n, sizeof *x->read_before);
    x->stall_before = calloc((size_t)n, sizeof *x->stall_before);
    if (!x->dev || !x->up || !x->down || !x->compute_before || !x->read_before || !x->stall_before)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    for (int d = 0; d < n; d++) {
        x->dev[d] = sc->devices[d].profile;
        x->up[d] = sc->devices[d].uplink;
        x->down[d] = sc->devices[d].downlink;
    }
    halo_sim_config wc = {.n_nodes = n,
                          .devices = x->dev,
                          .uplink = x->up,
                          .downlink = x->down,
                          .delivery = sc->delivery,
                          .tcp = sc->tcp,
                          .seed = sc->seed,
                          .run = (uint64_t)run};
    rc = sc->simulator == HALO_SIMULATOR_NS3 ? halo_ns3_new(&x->world, &wc, NULL, err)
                                             : halo_sim_new(&x->world, &wc, err);
    if (rc != HALO_OK)
        return rc;
    char spec[8192];
    const char *placement;
    rc = resolve_placement(sc, x->model, halo_weight_bytes(halo_model_weight_type(x->model)), spec,
                           sizeof spec, &placement, err);
    uint8_t *critical = calloc((size_t)n, 1), *reliable = calloc((size_t)n, 1);
    if (rc == HALO_OK && (!critical || !reliable))
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    if (rc == HALO_OK)
        rc = device_set(sc, "engine.critical", sc->critical, critical, err);
    if (rc == HALO_OK && sc->reliable) {
        rc = device_set(sc, "engine.reliable", sc->reliable, reliable, err);
    } else {
        /* by default, devices whose links lose nothing are reliable */
        for (int d = 0; rc == HALO_OK && d < n; d++)
            reliable[d] =
                halo_loss_mean(&x->up[d].loss) == 0.0 && halo_loss_mean(&x->down[d].loss) == 0.0;
    }
    if (rc == HALO_OK)
        rc = build_importance(x, run, reliable, err);
    if (rc == HALO_OK && sc->memory_budget) {
        /* the budgets depend on where the attention groups (and their KV caches) go */
        const halo_model_config *mc = halo_model_get_config(x->model);
        halo_groups g;
        halo_placement p = {0};
        rc = halo_groups_init(
            &g, mc, sc->group_size > 0 ? sc->group_size : halo_cluster_default_group_size(mc), err);
        if (rc == HALO_OK)
            rc = halo_placement_parse(&p, &g, n, placement, err);
        if (rc == HALO_OK)
            rc = memory_budgets(x, &p, err);
        halo_placement_free(&p);
    }
    halo_cluster_config cc = {.model = x->model,
                              .n_devices = n,
                              .ffn_group_size = sc->group_size,
                              .placement = placement,
                              .encoding = sc->encoding,
                              .transport = x->world,
                              .budget_bytes = x->budget,
                              .prefetch = sc->prefetch,
                              .sync = {.policy = sc->policy,
                                       .deadline_ns = sc->deadline_ns,
                                       .critical = critical,
                                       .adaptive = sc->adaptive_deadline,
                                       .deadline_min_ns = sc->deadline_min_ns,
                                       .redundancy = sc->redundancy,
                                       .deadline_max_ns = sc->deadline_max_ns,
                                       .plan_fn = x->importance ? halo_importance_plan : NULL,
                                       .plan_ctx = x->importance}};
    if (rc == HALO_OK) {
        rc = halo_cluster_new(&x->cluster, &cc, err);
        if (rc != HALO_OK && err) { /* name the scenario (a budget, a placement spec) */
            char msg[2 * sizeof err->msg];
            int len = snprintf(msg, sizeof msg, "%s: %s", sc->path, err->msg);
            size_t used = len < 0 ? 0 : (size_t)len;
            used = used < sizeof err->msg ? used : sizeof err->msg - 1;
            memcpy(err->msg, msg, used);
            err->msg[used] = 0;
        }
    }
    free(critical);
    free(reliable);
    if (rc != HALO_OK)
        return rc;
    const halo_model_config *mc = halo_model_get_config(x->model);
    return halo_sampler_new(&x->sampler, mc->vocab_size, sc->temperature, 1.0f,
                            sc->seed * 1000003u + (uint64_t)run, err);
}

/*
 * Runs `token` at `pos` through the cluster and fills *t with the token's metrics: the
 * root's timing and each node's compute during it (the root's, and the busiest worker's).
 */
static int forward_measured(run_ctx *x, int token, int pos, const float **logits, halo_sim_token *t,
                            halo_err *err) {
    for (int d = 0; d < x->sc->n_devices; d++) {
        halo_sim_node_stats st;
        world_stats(x->world, d, &st);
        x->compute_before[d] = st.compute_ns;
        x->read_before[d] = st.storage_read_ns;
        x->stall_before[d] = st.storage_stall_ns;
    }
    int rc = halo_cluster_forward(x->cluster, token, pos, logits, err);
    if (rc != HALO_OK)
        return rc;
    const halo_token_metrics *tm = halo_node_last_metrics(halo_cluster_node(x->cluster, 0));
    *t = (halo_sim_token){.pos = (uint32_t)pos,
                          .token = token,
                          .time_ns = tm->end_ns - tm->start_ns,
                          .wait_ns = tm->wait_ns,
                          .expected = tm->expected,
                          .missing = tm->missing};
    for (int d = 0; d < x->sc->n_devices; d++) {
        halo_sim_node_stats st;
        world_stats(x->world, d, &st);
        uint64_t used = st.compute_ns - x->compute_before[d];
        t->storage_read_ns += st.storage_read_ns - x->read_before[d];
        t->storage_stall_ns += st.storage_stall_ns - x->stall_before[d];
        if (d == 0)
            t->compute_ns = used;
        else if (used > t->worker_compute_ns)
            t->worker_compute_ns = used;
    }
    return HALO_OK;
}

/* Feeds the prompt (positions not measured); returns the count via *n_prompt. */
static int prefill(run_ctx *x, int *n_prompt, int *last, halo_err *err) {
    const halo_scenario *sc = x->sc;
    const halo_model_config *mc = halo_model_get_config(x->model);
    *n_prompt = 1;
    if (x->tok) {
        size_t cap = halo_tokenizer_max_tokens(sc->prompt);
        x->prompt = malloc(cap * sizeof *x->prompt);
        if (!x->prompt)
            return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
        int rc =
            halo_tokenizer_encode(x->tok, sc->prompt, 1, 0, x->prompt, (int)cap, n_prompt, err);
        if (rc != HALO_OK)
            return rc;
    }
    if (*n_prompt + sc->tokens - 1 > mc->seq_len)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: prompt (%d tokens) and %d tokens exceed the context of %d", sc->path,
                         *n_prompt, sc->tokens, mc->seq_len);
    *last = x->prompt ? x->prompt[0] : HALO_TOKEN_BOS;
    for (int pos = 0; pos + 1 < *n_prompt; pos++) {
        const float *l;
        int rc = halo_cluster_forward(x->cluster, x->prompt[pos], pos, &l, err);
        if (rc != HALO_OK)
            return rc;
        *last = x->prompt[pos + 1];
    }
    return HALO_OK;
}

static void summarise(halo_sim_result *r, const run_ctx *x) {
    halo_transport *world = x->world;
    int n = x->sc->n_devices;
    uint64_t *sorted = malloc((size_t)r->n_tokens * sizeof *sorted);
    double compute = 0, stragglers = 0, network = 0, read = 0, stall = 0;
    for (int i = 0; i < r->n_tokens; i++) {
        const halo_sim_token *t = &r->tokens[i];
        r->total_ns += t->time_ns;
        r->expected += t->expected;
        r->missing += t->missing;
        uint64_t busy = t->compute_ns > t->worker_compute_ns ? t->compute_ns : t->worker_compute_ns;
        compute += (double)t->compute_ns;
        stragglers += (double)(busy - t->compute_ns);
        network += t->time_ns > busy ? (double)(t->time_ns - busy) : 0.0;
        read += (double)t->storage_read_ns;
        stall += (double)t->storage_stall_ns;
        if (sorted)
            sorted[i] = t->time_ns;
    }
    double k = r->n_tokens ? (double)r->n_tokens * 1e6 : 1.0;
    r->mean_ms = (double)r->total_ns / k;
    r->compute_ms = compute / k;
    r->stragglers_ms = stragglers / k;
    r->network_ms = network / k;
    r->storage_read_ms = read / k;
    r->storage_stall_ms = stall / k;
    if (sorted && r->n_tokens) {
        qsort(sorted, (size_t)r->n_tokens, sizeof *sorted, cmp_u64);
        r->p50_ms = quantile_ms(sorted, r->n_tokens, 0.50);
        r->p90_ms = quantile_ms(sorted, r->n_tokens, 0.90);
        r->p99_ms = quantile_ms(sorted, r->n_tokens, 0.99);
        r->max_ms = (double)sorted[r->n_tokens - 1] / 1e6;
    }
    free(sorted);
    for (int d = 0; d < n; d++) {
        halo_sim_node_stats st;
        world_stats(world, d, &st);
        r->retransmits += st.retransmits;
        r->timeouts += st.timeouts;
        r->probes += st.probes;
        r->msgs_lost += st.msgs_lost;
        r->bytes_on_wire += st.bytes_on_wire;
        r->storage_bytes += st.storage_bytes;
        const halo_memplan *mp = halo_cluster_memplan(x->cluster, d);
        if (mp) {
            halo_memplan_info in;
            halo_memplan_get_info(mp, &in);
            r->share_bytes += in.share_bytes;
            r->pinned_bytes += in.pinned_bytes;
        }
    }
    r->events = halo_ns3_owns(world) ? halo_ns3_events(world) : halo_sim_events(world);
}

int halo_simrun(const halo_scenario *sc, int run, halo_sim_result *out, halo_err *err) {
    memset(out, 0, sizeof *out);
    uint64_t wall0 = halo_cli_now_ns();
    run_ctx x = {.sc = sc};
    int n_prompt = 0, token = HALO_TOKEN_BOS;
    int rc = build(&x, run, err);
    if (rc == HALO_OK)
        rc = prefill(&x, &n_prompt, &token, err);
    if (rc == HALO_OK)
        rc = snapshot(&x, err);
    if (rc == HALO_OK) {
        out->numerics = halo_model_has_weights(x.model);
        out->tokens = calloc((size_t)sc->tokens, sizeof *out->tokens);
        if (!out->tokens)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    }
    const halo_model_config *mc = rc == HALO_OK ? halo_model_get_config(x.model) : NULL;
    float *logits = mc ? malloc((size_t)mc->vocab_size * sizeof *logits) : NULL;
    if (rc == HALO_OK && !logits)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    size_t text_len = 0, text_cap = 0;
    for (int i = 0; rc == HALO_OK && i < sc->tokens; i++) {
        int pos = n_prompt - 1 + i;
        const float *l;
        rc = forward_measured(&x, token, pos, &l, &out->tokens[out->n_tokens], err);
        if (rc != HALO_OK)
            break;
        out->n_tokens++;
        if (out->numerics) {
            memcpy(logits, l, (size_t)mc->vocab_size * sizeof *logits);
            int next = halo_sampler_sample(x.sampler, logits);
            if (append_text(out, &text_len, &text_cap, x.tok, token, next) != 0)
                rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
            token = next;
        }
    }
    free(logits);
    if (rc == HALO_OK)
        summarise(out, &x);
    if (rc == HALO_OK)
        rc = per_device_layer(out, &x, err);
    ctx_free(&x);
    out->wall_ns = halo_cli_now_ns() - wall0;
    if (rc != HALO_OK)
        halo_sim_result_free(out);
    return rc;
}

void halo_sim_result_free(halo_sim_result *r) {
    free(r->tokens);
    free(r->text);
    free(r->devices);
    free(r->layers);
    memset(r, 0, sizeof *r);
}

/* ==== Quality through the simulated cluster ==== */

typedef struct eval_ctx {
    run_ctx *x;
    halo_sim_result *out;
    int cap;
    int failed;
} eval_ctx;

static int eval_forward(void *arg, int token, int pos, const float **logits, halo_err *err) {
    eval_ctx *e = arg;
    halo_sim_result *r = e->out;
    if (r->n_tokens == e->cap) {
        int cap = e->cap ? e->cap * 2 : 1024;
        halo_sim_token *t = realloc(r->tokens, (size_t)cap * sizeof *t);
        if (!t)
            return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
        r->tokens = t;
        e->cap = cap;
    }
    int rc = forward_measured(e->x, token, pos, logits, &r->tokens[r->n_tokens], err);
    if (rc == HALO_OK)
        r->n_tokens++;
    return rc;
}

int halo_simrun_eval(const halo_scenario *sc, int run, const char *text, long max_stories,
                     halo_eval_result *quality, halo_sim_result *out, halo_err *err) {
    memset(out, 0, sizeof *out);
    memset(quality, 0, sizeof *quality);
    if (!sc->model_file)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: quality needs a model file (a shape has no numerics)", sc->path);
    uint64_t wall0 = halo_cli_now_ns();
    run_ctx x = {.sc = sc};
    int rc = build(&x, run, err);
    if (rc == HALO_OK)
        rc = snapshot(&x, err);
    if (rc == HALO_OK) {
        out->numerics = 1;
        const halo_model_config *mc = halo_model_get_config(x.model);
        eval_ctx e = {.x = &x, .out = out};
        halo_eval_config ec = {.tok = x.tok,
                               .seq_len = mc->seq_len,
                               .vocab_size = mc->vocab_size,
                               .max_stories = max_stories,
                               .forward = eval_forward,
                               .forward_ctx = &e};
        rc = halo_eval_text(&ec, text, quality, err);
    }
    if (rc == HALO_OK)
        summarise(out, &x);
    if (rc == HALO_OK)
        rc = per_device_layer(out, &x, err);
    ctx_free(&x);
    out->wall_ns = halo_cli_now_ns() - wall0;
    if (rc != HALO_OK)
        halo_sim_result_free(out);
    return rc;
}

void halo_simrun_engine_json(const halo_scenario *sc, char *buf, size_t cap) {
    if (sc->simulator != HALO_SIMULATOR_NS3) {
        const halo_tcp_config *t = &sc->tcp;
        (void)snprintf(buf, cap,
                       "{\"engine\": \"sim\", \"tcp\": {\"model\": \"in-tree\", \"init_cwnd\": %d, "
                       "\"min_rto_ms\": %.3f, \"max_rto_ms\": %.3f, \"init_rto_ms\": %.3f, "
                       "\"delack_ms\": %.3f, \"tail_loss_probes\": %s, \"dupack_threshold\": %d, "
                       "\"quickack_segments\": %d}, \"queue\": {\"kind\": \"drop-tail per link\", "
                       "\"limit_bytes\": %llu}}",
                       t->init_cwnd, (double)t->rto_min_ns / 1e6, (double)t->rto_max_ns / 1e6,
                       (double)t->rto_init_ns / 1e6, (double)t->delack_ns / 1e6,
                       t->tlp ? "true" : "false", t->dupack_threshold, t->quickack_segments,
                       (unsigned long long)sc->devices[0].uplink.queue_bytes);
        return;
    }
    halo_link_spec up = sc->devices[0].uplink;
    halo_sim_config cfg = {.n_nodes = 1, .uplink = &up, .downlink = &up, .tcp = sc->tcp};
    if (halo_ns3_settings_json(&cfg, NULL, buf, cap) < 0)
        (void)snprintf(buf, cap, "{}");
}
