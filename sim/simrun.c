/*
 * One simulated run of a scenario point.
 */
#define _POSIX_C_SOURCE 200809L

#include "sim/simrun.h"

#include "core/cluster.h"
#include "core/engine.h"
#include "core/grow.h"
#include "core/sampler.h"
#include "core/tokenizer.h"
#include "sim/trace.h"
#include "sim/world.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Real time, for the simulator's own speed (wall_ns); nothing simulated depends on it. */
static uint64_t wall_now_ns(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Relative speed of a device for the balanced split: weights it can process per second,
   from its cache when it holds the model's (halo_device_caches). */
static double device_speed(const halo_device_profile *p, double wbytes) {
    double t = 2.0 / p->flops_per_s;
    double m = wbytes / halo_device_weight_bw(p);
    return 1.0 / (t > m ? t : m);
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
    const halo_simrun_output *o; /* NULL: nothing besides the results */
    halo_model *model;
    halo_tokenizer *tok;
    halo_sampler *sampler;
    halo_transport *world;
    halo_cluster *cluster;
    halo_engine *engine;
    halo_device_profile *dev;
    halo_link_spec *up, *down;
    uint64_t *compute_before, *read_before, *stall_before;
    int *prompt;
    halo_sim_node_stats *dev_before; /* (n_devices) statistics when measuring started */
    halo_sim_layer *layer_before;    /* (n_layers) per-layer totals when measuring started */
} run_ctx;

static void ctx_free(run_ctx *x) {
    halo_cluster_free(x->cluster);
    halo_engine_free(x->engine);
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
    free(x->prompt);
    free(x->dev_before);
    free(x->layer_before);
}

/* Per-device and per-layer totals so far (from the simulator and the root node). */
static void collect(const run_ctx *x, halo_sim_node_stats *dev, halo_sim_layer *lay) {
    for (int d = 0; d < x->sc->n_devices; d++)
        halo_world_stats(x->world, d, &dev[d]);
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
        SUB(queue_drops);
        SUB(bytes_on_wire);
        SUB(retransmits);
        SUB(timeouts);
        SUB(probes);
        SUB(dsacks);
        SUB(read_segs);
        SUB(read_wait_ns);
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

/* What the engine needs to know of the scenario's devices and links. */
static halo_engine_device *engine_devices(const halo_scenario *sc, const halo_device_profile *prof,
                                          double wbytes) {
    halo_engine_device *ed = calloc((size_t)sc->n_devices, sizeof *ed);
    for (int d = 0; ed && d < sc->n_devices; d++) {
        const halo_scenario_device *v = &sc->devices[d];
        const halo_device_profile *p = &prof[d]; /* v's, with weights_cached set */
        double up = halo_loss_mean(&v->uplink.loss), down = halo_loss_mean(&v->downlink.loss);
        ed[d] =
            (halo_engine_device){.speed = device_speed(p, wbytes),
                                 .flops_per_s = p->flops_per_s,
                                 .mem_bw_bps = halo_device_weight_bw(p),
                                 .mem_bytes = p->mem_bytes,
                                 .op_overhead_ns = p->op_overhead_ns,
                                 .storage_bw_bps = p->storage_bw_bps,
                                 .link_bps = v->uplink.bandwidth_bps < v->downlink.bandwidth_bps
                                                 ? v->uplink.bandwidth_bps
                                                 : v->downlink.bandwidth_bps,
                                 .link_latency_ns = v->uplink.latency_ns + v->downlink.latency_ns,
                                 .loss = up > down ? up : down,
                                 .send_ns = p->send_ns,
                                 .recv_ns = p->recv_ns,
                                 .copy_ns_per_kb = p->copy_ns_per_kb};
    }
    return ed;
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
    uint64_t per_token = halo_model_bytes_per_token(x->model);
    for (int d = 0; d < n; d++) {
        x->dev[d] = sc->devices[d].profile;
        x->dev[d].weights_cached = halo_device_caches(&x->dev[d], per_token);
        x->up[d] = sc->devices[d].uplink;
        x->down[d] = sc->devices[d].downlink;
    }
    halo_sim_config wc = {.n_nodes = n,
                          .devices = x->dev,
                          .uplink = x->up,
                          .downlink = x->down,
                          .delivery = sc->engine.delivery,
                          .tcp = sc->engine.tcp,
                          .parity = sc->engine.parity,
                          .heartbeat_ns = sc->engine.heartbeat_ns,
                          .seed = sc->seed,
                          .run = (uint64_t)run};
    if (x->o && x->o->trace_path)
        wc.trace_max_events =
            x->o->trace_max_events > 0 ? x->o->trace_max_events : HALO_TRACE_DEFAULT_MAX_EVENTS;
    if (x->o)
        wc.pcap_prefix = x->o->pcap_prefix;
    rc = halo_world_new(&x->world, &wc, sc->engine.simulator, err);
    if (rc != HALO_OK)
        return rc;
    halo_engine_device *ed =
        engine_devices(sc, x->dev, halo_weight_bytes(halo_model_weight_type(x->model)));
    if (!ed)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    halo_engine_env env = {.model = x->model,
                           .model_path = sc->model_file,
                           .name = sc->path,
                           .n_devices = n,
                           .devices = ed,
                           .seed = sc->seed,
                           .run = (uint64_t)run,
                           /* a bound: the prompt has at most one token per byte, plus BOS */
                           .context_positions = sc->tokens + (int)strlen(sc->prompt) + 1};
    rc = halo_engine_new(&x->engine, &sc->engine, &env, err);
    free(ed);
    if (rc == HALO_OK) {
        rc = halo_engine_cluster_new(&x->cluster, x->engine, x->world, NULL, err);
        if (rc != HALO_OK) /* name the scenario (a budget, a placement spec) */
            (void)halo_err_prefix(err, "%s: ", sc->path);
    }
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
        halo_world_stats(x->world, d, &st);
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
        halo_world_stats(x->world, d, &st);
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
    /* time statistics over the tokens after the first `skip` (workload.skip); counts and
       total_ns over all */
    int skip = x->sc->skip < r->n_tokens ? x->sc->skip : 0, counted = r->n_tokens - skip;
    uint64_t *sorted = malloc((size_t)r->n_tokens * sizeof *sorted);
    double compute = 0, stragglers = 0, network = 0, read = 0, stall = 0, timed = 0;
    for (int i = 0; i < r->n_tokens; i++) {
        const halo_sim_token *t = &r->tokens[i];
        r->total_ns += t->time_ns;
        r->expected += t->expected;
        r->missing += t->missing;
        if (i < skip)
            continue;
        timed += (double)t->time_ns;
        uint64_t busy = t->compute_ns > t->worker_compute_ns ? t->compute_ns : t->worker_compute_ns;
        compute += (double)t->compute_ns;
        stragglers += (double)(busy - t->compute_ns);
        network += t->time_ns > busy ? (double)(t->time_ns - busy) : 0.0;
        read += (double)t->storage_read_ns;
        stall += (double)t->storage_stall_ns;
        if (sorted)
            sorted[i - skip] = t->time_ns;
    }
    double k = counted ? (double)counted * 1e6 : 1.0;
    r->mean_ms = timed / k;
    r->compute_ms = compute / k;
    r->stragglers_ms = stragglers / k;
    r->network_ms = network / k;
    r->storage_read_ms = read / k;
    r->storage_stall_ms = stall / k;
    if (sorted && counted) {
        qsort(sorted, (size_t)counted, sizeof *sorted, cmp_u64);
        r->p50_ms = quantile_ms(sorted, counted, 0.50);
        r->p90_ms = quantile_ms(sorted, counted, 0.90);
        r->p99_ms = quantile_ms(sorted, counted, 0.99);
        r->max_ms = (double)sorted[counted - 1] / 1e6;
    }
    free(sorted);
    for (int d = 0; d < n; d++) {
        halo_sim_node_stats st;
        halo_world_stats(world, d, &st);
        r->retransmits += st.retransmits;
        r->timeouts += st.timeouts;
        r->probes += st.probes;
        r->dsacks += st.dsacks;
        r->read_segs += st.read_segs;
        r->read_wait_ns += st.read_wait_ns;
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
    r->events = halo_world_events(world);
    const halo_node_stats *rs = halo_node_get_stats(halo_cluster_node(x->cluster, 0));
    r->deadline_mean_ms =
        rs->deadlines ? (double)rs->deadline_sum_ns / 1e6 / (double)rs->deadlines : 0.0;
}

/* The end of a run whose context x was built (rc: how far it got): the summary and the
   per-device and per-layer tables into *out, x freed, the wall time; *out is freed on
   failure. */
/* The run's trace, devices named "device D (root): PROFILE". */
static int write_trace(run_ctx *x, halo_err *err) {
    int n = x->sc->n_devices;
    char **names = calloc((size_t)n, sizeof *names);
    int rc = names ? HALO_OK : HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    for (int d = 0; rc == HALO_OK && d < n; d++) {
        char buf[160];
        (void)snprintf(buf, sizeof buf, "device %d%s: %s", d, d == 0 ? " (root)" : "",
                       x->sc->devices[d].profile_name);
        if (!(names[d] = strdup(buf)))
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    }
    if (rc == HALO_OK)
        rc = halo_world_trace_write(x->world, x->o->trace_path, (const char *const *)names, err);
    for (int d = 0; names && d < n; d++)
        free(names[d]);
    free(names);
    return rc;
}

/*
 * A failure while the point was built or ran, named with the scenario file and the point: a
 * sweep runs many, and "ffn group size 1000: expected 1..172" named neither. "FILE: point P
 * (LABEL): ...", the label left out when the message would not fit with it; a message that
 * already starts with "FILE: " (the engine's) gets the point after it.
 */
static int name_point(const halo_scenario *sc, int rc, halo_err *err) {
    if (rc == HALO_OK || !err)
        return rc;
    if (rc == HALO_ERR_AGAIN && sc->engine.policy == HALO_SYNC_POLICY_STRICT &&
        sc->engine.delivery == HALO_DELIVERY_DATAGRAM) { /* a stall, and why */
        size_t len = strlen(err->msg);
        (void)snprintf(err->msg + len, sizeof err->msg - len,
                       " (strict sync over datagrams asks nothing again: a lost datagram "
                       "stalls it; baseline strict-datagram re-asks)");
    }
    size_t n = strlen(sc->path);
    if (strncmp(err->msg, sc->path, n) == 0 && err->msg[n] == ':' && err->msg[n + 1] == ' ')
        memmove(err->msg, err->msg + n + 2, strlen(err->msg + n + 2) + 1);
    const char *label = sc->point_label ? sc->point_label : "";
    if (label[0] && n + strlen(label) + strlen(err->msg) + 32 < sizeof err->msg)
        (void)halo_err_prefix(err, "%s: point %ld (%s): ", sc->path, sc->point, label);
    else
        (void)halo_err_prefix(err, "%s: point %ld: ", sc->path, sc->point);
    return rc;
}

static int finish(run_ctx *x, int rc, uint64_t wall0, halo_sim_result *out, halo_err *err) {
    rc = name_point(x->sc, rc, err);
    if (rc == HALO_OK)
        summarise(out, x);
    if (rc == HALO_OK)
        rc = per_device_layer(out, x, err);
    if (rc == HALO_OK && x->o && x->o->trace_path)
        rc = write_trace(x, err);
    ctx_free(x);
    out->wall_ns = wall_now_ns() - wall0;
    if (rc != HALO_OK)
        halo_sim_result_free(out);
    return rc;
}

int halo_simrun(const halo_scenario *sc, int run, halo_sim_result *out, halo_err *err) {
    return halo_simrun_with(sc, run, NULL, out, err);
}

int halo_simrun_with(const halo_scenario *sc, int run, const halo_simrun_output *o,
                     halo_sim_result *out, halo_err *err) {
    memset(out, 0, sizeof *out);
    uint64_t wall0 = wall_now_ns();
    run_ctx x = {.sc = sc, .o = o};
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
            int next;
            rc = halo_sampler_sample(x.sampler, logits, &next, err);
            if (rc != HALO_OK) {
                (void)halo_err_prefix(err, "sim: position %d: ", pos);
                break;
            }
            if (append_text(out, &text_len, &text_cap, x.tok, token, next) != 0)
                rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
            token = next;
        }
    }
    free(logits);
    return finish(&x, rc, wall0, out, err);
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
    long cap; /* capacity of out->tokens */
    int failed;
} eval_ctx;

static int eval_forward(void *arg, int token, int pos, const float **logits, halo_err *err) {
    eval_ctx *e = arg;
    halo_sim_result *r = e->out;
    halo_sim_token *t = halo__grow(r->tokens, r->n_tokens, &e->cap, sizeof *t, 1024);
    if (!t)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    r->tokens = t;
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
    uint64_t wall0 = wall_now_ns();
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
    return finish(&x, rc, wall0, out, err);
}

void halo_simrun_engine_json(const halo_scenario *sc, char *buf, size_t cap) {
    halo_world_settings_json(sc->engine.simulator, &sc->engine.tcp, &sc->devices[0].uplink, buf,
                             cap);
}
