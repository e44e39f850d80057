/*
 * `halo sim SCENARIO`: runs one point of a scenario in the discrete-event simulator and
 * prints per-token times, their split into compute / stragglers / network, missing
 * contributions, and a summary (or JSON).
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "app/runner.h"
#include "core/json.h"
#include "results/report.h"
#include "sim/scenario.h"
#include "sim/simrun.h"
#include "sim/world.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct sim_opts {
    const char *path;
    long point, run;
    int per_token, json, points;
    const char *trace, *pcap; /* --trace FILE, --pcap PREFIX (the first run simulated) */
    long trace_max;
    halo_runner_opts args; /* engine flags */
} sim_opts;

static const char *const simulator_names[] = {"sim", "ns3", NULL};

/* Parses the command line into *o; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, sim_opts *o) {
    *o = (sim_opts){.run = -1};
    halo_runner_opts_init(&o->args);
    int engine = -1;
    const halo_cli_opt opts[] = {
        HALO_CLI_OPT_LONG("point", 0, &o->point, 0, 1L << 40, "I",
                          "which point of the scenario's sweep (default 0)"),
        HALO_CLI_OPT_LONG(
            "run", 0, &o->run, 0, 1000000, "R",
            "run only replication R, any number (default: the\nscenario's runs 0..runs-1)"),
        HALO_CLI_OPT_CHOICE(
            "engine", 0, &engine, simulator_names, "E",
            "network engine: sim (in-tree, default) or ns3\n(the same as --simulator E)"),
        HALO_CLI_OPT_FLAG("per-token", 0, &o->per_token,
                          "print every token (default: up to 32 tokens)"),
        HALO_CLI_OPT_JSON(&o->json, "text"),
        HALO_CLI_OPT_FLAG("points", 0, &o->points, "print the number of sweep points and exit"),
        HALO_CLI_OPT_PATH("trace", 0, &o->trace, "FILE",
                          "write a trace-event JSON of the first run simulated\n(ui.perfetto.dev, "
                          "chrome://tracing; in-tree engine)"),
        HALO_CLI_OPT_LONG(
            "trace-max-events", 0, &o->trace_max, 1, 100000000, "N",
            "keep at most N trace events (default 200000,\nabout 20 MB; later ones are counted)"),
        HALO_CLI_OPT_PATH(
            "pcap", 0, &o->pcap, "PREFIX",
            "packet captures PREFIX-D.pcap (device D) of the first\nrun (engine ns3)"),
        HALO_CLI_OPT_END,
    };
    halo_cli_spec spec = {
        .name = "sim",
        .synopsis = "[options] SCENARIO",
        .about = "Runs one point of a scenario file in the discrete-event simulator (virtual\n"
                 "time, simulated devices and links; a model file's numerics really run).\n",
        .opts = opts,
        .after = "Time split per token, from the root: compute (root busy), stragglers (how\n"
                 "much longer the busiest worker computed), network (the rest: transfers,\n"
                 "queues, retransmissions, deadlines). Keys: scenarios/README.md. Engine\n"
                 "flags override the scenario's engine: section.\n",
        .positional = "SCENARIO file",
        .pos_out = &o->path};
    halo_runner_add_options(&o->args, &spec, 0);
    int status = halo_cli_parse_or_exit(&spec, argc, argv);
    if (status < 0 && engine >= 0) /* the older name of --simulator */
        o->args.engine.value[halo_engine_key_find("simulator")] = simulator_names[engine];
    return status;
}

static const char *policy_name(int p) {
    return p == HALO_SYNC_POLICY_RELAXED ? "relaxed" : "strict";
}

static void print_text(const halo_scenario *sc, int run, const halo_sim_result *r, int per_token) {
    if (per_token || r->n_tokens <= 32) {
        (void)printf("%6s %10s %10s %10s %10s %8s\n", "pos", "ms", "compute", "stragglers",
                     "network", "missing");
        for (int i = 0; i < r->n_tokens; i++) {
            const halo_sim_token *t = &r->tokens[i];
            uint64_t busy =
                t->compute_ns > t->worker_compute_ns ? t->compute_ns : t->worker_compute_ns;
            (void)printf("%6u %10.3f %10.3f %10.3f %10.3f %4u/%-3u\n", t->pos,
                         (double)t->time_ns / 1e6, (double)t->compute_ns / 1e6,
                         (double)(busy - t->compute_ns) / 1e6,
                         t->time_ns > busy ? (double)(t->time_ns - busy) / 1e6 : 0.0, t->missing,
                         t->expected);
        }
    }
    (void)printf("run %d: %d tokens, %.3f ms/token (p50 %.3f, p90 %.3f, p99 %.3f, max %.3f), "
                 "%.2f tokens/s\n",
                 run, r->n_tokens, r->mean_ms, r->p50_ms, r->p90_ms, r->p99_ms, r->max_ms,
                 r->mean_ms > 0 ? 1e3 / r->mean_ms : 0.0);
    (void)printf("  split per token: compute %.3f ms, stragglers %.3f ms, network %.3f ms\n",
                 r->compute_ms, r->stragglers_ms, r->network_ms);
    (void)printf("  contributions missing %llu of %llu (%.2f%%); stream retransmits %llu, "
                 "timeouts %llu, probes %llu; datagrams lost %llu; %.2f MB on the wire\n",
                 (unsigned long long)r->missing, (unsigned long long)r->expected,
                 r->expected ? 100.0 * (double)r->missing / (double)r->expected : 0.0,
                 (unsigned long long)r->retransmits, (unsigned long long)r->timeouts,
                 (unsigned long long)r->probes, (unsigned long long)r->msgs_lost,
                 (double)r->bytes_on_wire / 1e6);
    if (sc->engine.memory_budget)
        (void)printf(
            "  storage per token (all devices): read %.3f ms, compute waited %.3f ms, "
            "hidden %.1f%%; %.2f MB read in the run; %.1f%% of %.1f MB of group weights kept "
            "in memory\n",
            r->storage_read_ms, r->storage_stall_ms,
            r->storage_read_ms > 0 ? 100.0 * (1.0 - r->storage_stall_ms / r->storage_read_ms) : 0.0,
            (double)r->storage_bytes / 1e6,
            r->share_bytes ? 100.0 * (double)r->pinned_bytes / (double)r->share_bytes : 0.0,
            (double)r->share_bytes / 1e6);
    (void)printf("  simulator: %llu events in %.3f s of wall time (%.1f simulated tokens/s)\n",
                 (unsigned long long)r->events, (double)r->wall_ns / 1e9,
                 r->wall_ns ? r->n_tokens / ((double)r->wall_ns / 1e9) : 0.0);
    if (r->text)
        (void)printf("  text: %s\n", r->text);
}

/* A double of a run as JSON: fixed, 6 digits, never NaN or Inf (core/json.h). */
static void num6(FILE *js, const char *key, double v, halo_json_guard *g) {
    (void)fprintf(js, ", \"%s\": ", key);
    halo_json_num(js, v, HALO_JSON_FIXED, 6, key, g);
}

static void json_run(FILE *js, int run, const halo_sim_result *r, int first, halo_json_guard *g) {
    (void)fprintf(js, "%s{\"run\": %d, \"tokens\": %d", first ? "" : ", ", run, r->n_tokens);
    num6(js, "mean_ms", r->mean_ms, g);
    num6(js, "p50_ms", r->p50_ms, g);
    num6(js, "p90_ms", r->p90_ms, g);
    num6(js, "p99_ms", r->p99_ms, g);
    num6(js, "max_ms", r->max_ms, g);
    num6(js, "compute_ms", r->compute_ms, g);
    num6(js, "stragglers_ms", r->stragglers_ms, g);
    num6(js, "network_ms", r->network_ms, g);
    (void)fprintf(js,
                  ", \"expected\": %llu, \"missing\": %llu, \"retransmits\": %llu, "
                  "\"timeouts\": %llu, \"probes\": %llu, \"dsacks\": %llu, "
                  "\"datagrams_lost\": %llu, \"bytes_on_wire\": %llu",
                  (unsigned long long)r->expected, (unsigned long long)r->missing,
                  (unsigned long long)r->retransmits, (unsigned long long)r->timeouts,
                  (unsigned long long)r->probes, (unsigned long long)r->dsacks,
                  (unsigned long long)r->msgs_lost, (unsigned long long)r->bytes_on_wire);
    num6(js, "read_wait_ms",
         r->read_segs ? (double)r->read_wait_ns / 1e6 / (double)r->read_segs : 0.0, g);
    num6(js, "deadline_mean_ms", r->deadline_mean_ms, g);
    num6(js, "storage_read_ms", r->storage_read_ms, g);
    num6(js, "storage_stall_ms", r->storage_stall_ms, g);
    (void)fprintf(js,
                  ", \"storage_bytes\": %llu, \"share_bytes\": %llu, \"pinned_bytes\": %llu, "
                  "\"events\": %llu",
                  (unsigned long long)r->storage_bytes, (unsigned long long)r->share_bytes,
                  (unsigned long long)r->pinned_bytes, (unsigned long long)r->events);
    num6(js, "wall_s", (double)r->wall_ns / 1e9, g);
    (void)fprintf(js, ", \"token_ms\": [");
    for (int i = 0; i < r->n_tokens; i++)
        (void)fprintf(js, "%s%.6f", i ? ", " : "", (double)r->tokens[i].time_ns / 1e6);
    (void)fprintf(js, "]");
    if (r->text) {
        (void)fprintf(js, ", \"text\": ");
        halo_report_json_string(js, r->text);
    }
    (void)fprintf(js, "}");
}

/* Appends one run's JSON object to the document; an error naming the run and the field when
   a number in it is not finite. */
static int json_add_run(halo_cli_json *j, int run, const halo_sim_result *r, int first,
                        halo_err *err) {
    char what[48];
    json_run(j->js, run, r, first, &j->g);
    (void)snprintf(what, sizeof what, "sim --json: run %d", run);
    return halo_json_guard_check(&j->g, what, err);
}

/* The engine and the settings it runs with (TCP parameters, queue), as JSON. */
static void print_json_engine(FILE *js, const halo_scenario *sc) {
    char buf[1536];
    halo_simrun_engine_json(sc, buf, sizeof buf);
    (void)fprintf(js, ", \"engine\": \"%s\", \"engine_settings\": %s",
                  sc->engine.simulator == HALO_SIMULATOR_NS3 ? "ns3" : "sim", buf);
}

int halo_cmd_sim(int argc, char **argv) {
    halo_err err = {0};
    sim_opts o;
    int status = parse(argc, argv, &o);
    int rc;
    if (status >= 0)
        return status;
    halo_scenario *sc = NULL;
    rc = halo_scenario_load_with(&sc, o.path, o.point, &o.args.engine, &err);
    if (rc != HALO_OK) {
        return halo_cli_fail(rc, &err);
    }
    /* --trace must not replace a file the run reads (halo_cli_check_output) */
    rc = halo_cli_check_output("--trace", o.trace, "the scenario", o.path, &err);
    if (rc == HALO_OK)
        rc = halo_cli_check_output("--trace", o.trace, "the model", sc->model_file, &err);
    if (rc == HALO_OK)
        rc = halo_cli_check_output("--trace", o.trace, "the tokenizer", sc->tokenizer_file, &err);
    if (rc != HALO_OK) {
        halo_scenario_free(sc);
        return halo_cli_fail(rc, &err);
    }
    if (!halo_world_available(sc->engine.simulator)) {
        (void)HALO_FAIL(&err, HALO_ERR_ARG,
                        "engine ns3: halo was built without ns-3 (install libns3-dev and "
                        "configure with -DHALO_NS3=ON)");
        halo_cli_print_err(&err);
        halo_scenario_free(sc);
        return HALO_EXIT_USAGE;
    }
    if (o.points) {
        (void)printf("%ld\n", sc->n_points);
        halo_scenario_free(sc);
        return HALO_EXIT_OK;
    }
    int first_run = o.run >= 0 ? (int)o.run : 0;
    int last_run = o.run >= 0 ? (int)o.run : sc->runs - 1;
    /* --json: the whole document is built in memory and printed only when every run
       succeeded and every number in it is finite (issue 18): a failed run prints nothing on
       stdout (it printed the document up to "runs": [), only the error on stderr. */
    halo_cli_json j = {0};
    if (o.json && (rc = halo_cli_json_open(&j, "sim --json", &err)) != HALO_OK) {
        halo_scenario_free(sc);
        return halo_cli_fail(rc, &err);
    }
    FILE *js = j.js;
    if (o.json) {
        (void)fprintf(js, "{\"scenario\": ");
        halo_report_json_string(js, sc->path);
        (void)fprintf(js, ", \"name\": ");
        halo_report_json_string(js, sc->name);
        (void)fprintf(js, ", \"point\": %ld, \"points\": %ld, \"label\": ", sc->point,
                      sc->n_points);
        halo_report_json_string(js, sc->point_label);
        print_json_engine(js, sc);
        (void)fprintf(js, ", \"devices\": %d, \"policy\": \"%s\", \"kind\": \"%s\", \"runs\": [",
                      sc->n_devices, policy_name(sc->engine.policy),
                      sc->model_file ? "numerics" : "shape-only");
    } else {
        (void)printf("scenario %s (%s), point %ld of %ld%s%s\n", sc->name, sc->path, sc->point,
                     sc->n_points, sc->point_label[0] ? ": " : "", sc->point_label);
        (void)printf("model %s (%s), %d devices, seed %llu, engine %s\n",
                     sc->model_file ? sc->model_file : sc->shape_name,
                     sc->model_file ? "numerics" : "shape-only", sc->n_devices,
                     (unsigned long long)sc->seed,
                     sc->engine.simulator == HALO_SIMULATOR_NS3 ? "ns3" : "sim (in-tree)");
    }
    int show = !o.json && isatty(STDERR_FILENO);
    for (int run = first_run; rc == HALO_OK && run <= last_run; run++) {
        if (show)
            (void)fprintf(stderr, "halo sim: run %d of %d...\r", run + 1, last_run + 1);
        halo_sim_result r;
        halo_simrun_output out = {
            .trace_path = o.trace, .trace_max_events = o.trace_max, .pcap_prefix = o.pcap};
        rc = run == first_run && (o.trace || o.pcap) ? halo_simrun_with(sc, run, &out, &r, &err)
                                                     : halo_simrun(sc, run, &r, &err);
        if (rc != HALO_OK)
            break;
        if (o.json)
            rc = json_add_run(&j, run, &r, run == first_run, &err);
        else
            print_text(sc, run, &r, o.per_token);
        halo_sim_result_free(&r);
    }
    if (o.json && rc == HALO_OK) {
        (void)fprintf(js, "]}\n");
        rc = halo_cli_json_print(&j, "sim --json", &err);
    } else if (o.json) { /* nothing of a failed run's document */
        (void)fclose(j.js);
        free(j.doc);
    }
    halo_scenario_free(sc);
    if (rc != HALO_OK) {
        (void)fflush(stdout);
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    return HALO_EXIT_OK;
}
