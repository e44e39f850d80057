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

static void usage(FILE *f) {
    (void)fprintf(f, "usage: halo worker --listen ADDR:PORT --key FILE [options]\n\n"
                     "Serves a socket cluster: loads its own copy of the model, waits for a root\n"
                     "(halo generate --cluster FILE) to join it, computes the groups it is asked\n"
                     "for. Runs until SIGINT or SIGTERM; nothing a peer sends stops it.\n\n"
                     "options:\n"
                     "  -l, --listen ADDR:PORT  where to listen (e.g. 127.0.0.1:7001)\n"
                     "  -k, --key FILE          cluster key file (64 hex digits; halo keygen)\n"
                     "  -m, --model FILE        llama2.c checkpoint (default: bundled)\n"
                     "      --transport T       udp (default) or tcp, as in the cluster file\n"
                     "      --threads T         compute threads, 0 = one per core (default 1)\n"
                     "  -h, --help              this help\n");
}

int halo_cmd_worker(int argc, char **argv) {
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"key", required_argument, NULL, 'k'},
        {"model", required_argument, NULL, 'm'},
        {"transport", required_argument, NULL, 'x'},
        {"threads", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = NULL, *key_path = NULL, *model = NULL;
    int kind = HALO_NET_KIND_UDP;
    long threads = 1;
    halo_err err = {0};
    int c, rc = HALO_OK;
    optind = 1;
    opterr = 0;
    while (rc == HALO_OK && (c = getopt_long(argc, argv, ":l:k:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'k':
            key_path = optarg;
            break;
        case 'm':
            model = optarg;
            break;
        case 'x':
            if (strcmp(optarg, "udp") == 0)
                kind = HALO_NET_KIND_UDP;
            else if (strcmp(optarg, "tcp") == 0)
                kind = HALO_NET_KIND_TCP;
            else
                rc =
                    HALO_FAIL(&err, HALO_ERR_ARG, "--transport: '%s', expected udp or tcp", optarg);
            break;
        case 'T':
            rc = halo_cli_parse_long("--threads", optarg, 0, 1024, &threads, &err);
            break;
        case 'h':
            usage(stdout);
            return HALO_EXIT_OK;
        case ':':
            rc = HALO_FAIL(&err, HALO_ERR_ARG, "option %s needs a value", argv[optind - 1]);
            break;
        default:
            rc = HALO_FAIL(&err, HALO_ERR_ARG, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc == HALO_OK && optind < argc)
        rc = HALO_FAIL(&err, HALO_ERR_ARG, "unexpected argument '%s'", argv[optind]);
    if (rc == HALO_OK && (!listen || !key_path))
        rc = HALO_FAIL(&err, HALO_ERR_ARG, "--listen and --key are required");
    if (rc != HALO_OK)
        return halo_cli_usage_error(&err, "worker");
    uint8_t key[HALO_NET_KEY_BYTES];
    halo_bundle s = {0};
    rc = halo_net_key_load(key_path, key, &err);
    if (rc == HALO_OK)
        rc = halo_bundle_open(&s, model, NULL, (int)threads, &err);
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
