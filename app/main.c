/*
 * The `halo` command: dispatches to subcommands.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "core/quant.h"
#include "results/db.h"
#include "sim/world.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"generate", halo_cmd_generate, "generate text with a model on this machine"},
    {"eval", halo_cmd_eval, "teacher-forced perplexity over a file of stories"},
    {"bench", halo_cmd_bench, "decode speed against this machine's memory bandwidth"},
    {"convert", halo_cmd_convert, "write a model as GGUF (f32, f16, q8_0, q4_0, q4_k_m)"},
    {"sim", halo_cmd_sim, "run a scenario in the discrete-event simulator"},
    {"calibrate", halo_cmd_calibrate, "fit the importance predictor of a model on a text"},
    {"worker", halo_cmd_worker, "serve a socket cluster: compute the groups a root asks for"},
    {"keygen", halo_cmd_keygen, "write a fresh cluster key file"},
    {"sweep", halo_cmd_sweep, "run a scenario's sweep into a results database (resumable)"},
    {"db", halo_cmd_db, "merge, migrate or inspect results databases"},
    {"plot", halo_cmd_plot, "gnuplot figures (PNG, SVG) from a results database"},
    {"report", halo_cmd_report, "markdown tables with confidence intervals from a database"},
    {"regress", halo_cmd_regress, "compare a database's curves with a committed baseline"},
    {"export", halo_cmd_export, "a database's runs as one tidy CSV table"},
};

enum {
    N_COMMANDS = sizeof commands / sizeof commands[0]
};

static void usage(FILE *f) {
    (void)fprintf(f, "usage: halo <command> [options]\n\n"
                     "Distributed LLaMA inference over lossy edge networks (the HALO system).\n\n"
                     "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        (void)fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    (void)fprintf(f, "\nRun 'halo <command> --help' for a command's options.\n"
                     "Environment: HALO_MODEL_DIR overrides where the bundled model is found.\n");
}

/* The version, the source revision and what this build can do (issue 17): a result's
   provenance names the binary, and a missing feature is found before a run needs it. */
static void print_version(void) {
    (void)printf("halo %s\ngit revision %s\n", HALO_VERSION, halo_db_git_rev());
    const char *ns3 = halo_world_version(HALO_SIMULATOR_NS3);
    if (ns3)
        (void)printf("ns-3 backend: yes (ns-3 %s)\n", ns3);
    else
        (void)printf("ns-3 backend: no (configure with -DHALO_NS3=ON and libns3-dev)\n");
    (void)printf("GGUF kernels on this processor:");
    for (int isa = 0; isa < HALO_ISA_COUNT_; isa++) {
        const halo_qkernels *k = halo_qkernels_get(isa);
        if (k)
            (void)printf(" %s", k->name);
    }
    (void)printf(" (in use: %s)\n", halo_qkernels_best()->name);
}

/*
 * A command's exit status, made a failure when its standard output could not be written
 * whole (issue 18: `halo report --json > FILE` on a full disk exited 0 with an empty or cut
 * file). The reason comes from one more write: stdio keeps no errno.
 */
static int stdout_checked(int status) {
    int bad = ferror(stdout);
    errno = 0;
    if (fflush(stdout) == 0 && !bad)
        return status;
    int e = errno;
    char c = '\n';
    if (e == 0 && write(STDOUT_FILENO, &c, 1) < 0)
        e = errno;
    (void)fprintf(stderr, "halo: standard output: write failed: %s\n",
                  e ? strerror(e) : "write error");
    return status == HALO_EXIT_OK ? HALO_EXIT_FAIL : status;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return HALO_EXIT_USAGE;
    }
    /* A write past the file-size limit (ulimit -f) then fails with EFBIG, which the writer
       reports by name, instead of SIGXFSZ killing the process without a word (issue 18). */
    (void)signal(SIGXFSZ, SIG_IGN);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return HALO_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        print_version();
        return HALO_EXIT_OK;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return stdout_checked(commands[i].run(argc - 1, argv + 1));
    (void)fprintf(stderr, "halo: unknown command '%s'\n", cmd);
    usage(stderr);
    return HALO_EXIT_USAGE;
}
