/*
 * `halo worker`: the socket-cluster worker daemon (net/worker.h), and `halo keygen`: a fresh
 * cluster key file.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "net/key.h"
#include "net/worker.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void log_line(void *ctx, const char *line) {
    (void)ctx;
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    (void)fprintf(stderr, "halo worker [%lld.%03ld]: %s\n", (long long)ts.tv_sec,
                  ts.tv_nsec / 1000000, line);
}

static const char *const transports[] = {"udp", "tcp", NULL}; /* enum halo_net_kind */

int halo_cmd_worker(int argc, char **argv) {
    const char *listen = NULL, *key_path = NULL, *model = NULL;
    int kind = HALO_NET_KIND_UDP;
    long threads = 1;
    float memory_mb = 0;
    long max_conns = 64, preauth_ms = 2000, spin_us = 0;
    const halo_cli_opt opts[] = {
        HALO_CLI_OPT_STRING("listen", 'l', &listen, "ADDR:PORT",
                            "where to listen (e.g. 127.0.0.1:7001)"),
        HALO_CLI_OPT_PATH("key", 'k', &key_path, "FILE",
                          "cluster key file (64 hex digits; halo keygen)"),
        HALO_CLI_OPT_MODEL(&model),
        HALO_CLI_OPT_CHOICE(
            "transport", 0, &kind, transports, "T",
            "udp (default) or tcp: the root's engine.delivery\n(datagram or stream)"),
        HALO_CLI_OPT_LONG("threads", 0, &threads, 0, 1024, "T",
                          "compute threads, 0 = one per core (default 1)"),
        HALO_CLI_OPT_FLOAT("memory-mb", 0, &memory_mb, 0, 1e7, "MB",
                           "keep at most this many MiB of group weights in memory\nand read the "
                           "rest from the model file as needed,\nreading the next block ahead "
                           "(default 0: the whole\nmodel is mapped; float32 llama2.c "
                           "checkpoints only)"),
        HALO_CLI_OPT_LONG("max-conns", 0, &max_conns, 1, 65536, "N",
                          "tcp: connections held at once (default 64); at the\ncap the oldest one "
                          "not yet authenticated is closed"),
        HALO_CLI_OPT_LONG(
            "preauth-timeout-ms", 0, &preauth_ms, 1, 3600000, "MS",
            "tcp: close a connection that has not authenticated\nwithin this (default 2000)"),
        HALO_CLI_OPT_LONG("spin-us", 0, &spin_us, 0, 10000, "US",
                          "poll this long before sleeping for the next message\n(default 0: the "
                          "spin takes CPU from whatever else\nruns on the host; docs/net.md)"),
        HALO_CLI_OPT_END,
    };
    halo_cli_spec spec = {
        .name = "worker",
        .synopsis = "--listen ADDR:PORT --key FILE [options]",
        .about = "Serves a socket cluster: loads its own copy of the model, waits for a root\n"
                 "(halo generate --cluster FILE) to join it, computes the groups it is asked\n"
                 "for. Runs until SIGINT or SIGTERM; nothing a peer sends stops it.\n",
        .opts = opts};
    int status = halo_cli_parse_or_exit(&spec, argc, argv);
    if (status >= 0)
        return status;
    halo_err err = {0};
    if (!listen || !key_path) {
        (void)HALO_FAIL(&err, HALO_ERR_ARG, "--listen and --key are required");
        return halo_cli_usage_error(&err, "worker");
    }
    uint8_t key[HALO_NET_KEY_BYTES];
    halo_bundle s = {0};
    char mbuf[4096];
    const char *model_path = halo_cli_model_path(model, mbuf, sizeof mbuf);
    int rc = halo_net_key_load(key_path, key, &err);
    /* The model and threads only: a worker decodes nothing, so it loads no tokenizer (the
       bundled one would refuse a model of another vocabulary) and no run state. */
    if (rc == HALO_OK)
        rc = halo_model_load(&s.model, model_path, &err);
    if (rc == HALO_OK)
        rc = halo_pool_new(&s.pool, (int)threads, &err);
    if (rc == HALO_OK) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        (void)sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGINT, &sa, NULL);
        (void)sigaction(SIGTERM, &sa, NULL);
        halo_worker_config wc = {.model = s.model,
                                 .pool = s.pool,
                                 .kind = kind,
                                 .listen = listen,
                                 .key = key,
                                 .stop = &stop_flag,
                                 .memory_bytes = (uint64_t)((double)memory_mb * 1048576.0),
                                 .model_path = model_path,
                                 .max_conns = (int)max_conns,
                                 .preauth_timeout_ns = (uint64_t)preauth_ms * 1000000ull,
                                 .spin_ns = (uint64_t)spin_us * 1000ull,
                                 .log_fn = log_line};
        rc = halo_worker_run(&wc, &err);
    }
    memset(key, 0, sizeof key);
    halo_bundle_close(&s);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    return HALO_EXIT_OK;
}

int halo_cmd_keygen(int argc, char **argv) {
    if (argc != 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        (void)fprintf(argc == 2 ? stdout : stderr,
                      "usage: halo keygen FILE\n\nWrites a fresh random 32-byte cluster key "
                      "as 64 hex digits to FILE\n(mode 0600; FILE must not exist). Give the "
                      "same file to the root's\ncluster file and to every worker (--key).\n");
        return argc == 2 ? HALO_EXIT_OK : HALO_EXIT_USAGE;
    }
    halo_err err = {0};
    if (halo_net_key_generate(argv[1], &err) != HALO_OK) {
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    return HALO_EXIT_OK;
}
