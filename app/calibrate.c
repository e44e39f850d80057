/*
 * `halo calibrate`: fits the importance predictor of a model (core/predictor.h) on a text
 * of stories, measures it on stories it was not fitted on, and writes the predictor file.
 *
 * The stories of the text are split in two: stories 1..K-1 are held out (measured) and
 * stories K..N are fitted on (--fit-from K; by default the last 30%). Two passes of the
 * traced forward (core/trace.h) run over them:
 *  1. fit stories: the second moments C = E[xb xb^T] of each block's normalised input, per
 *     layer, and the mean oracle score of every group (the "static" baseline: one fixed
 *     ranking per layer, whatever the token);
 *  2. held-out stories: for every token, layer and block, the oracle's critical groups at
 *     50/80/90% of the importance mass (k groups), how many of them each candidate
 *     predictor ranks among its k best, and the time each candidate spends scoring beside
 *     the time the block itself takes.
 *
 * Fitting methods, per layer, for W1 and W3 (and Wv for the attention scores); each gives
 * W ~ U V of rank r:
 *  svd       truncated SVD of W (U V = U_r S_r V_r^T, the best rank r in Frobenius norm);
 *  aware     activation-aware: the W~ of rank r minimising E||(W - W~) xb||^2 over the
 *            calibration inputs: the projection of W on the top r left singular vectors
 *            of W C^{1/2} (U = U_r, V = U_r^T W; no inverse of C is needed);
 *  aware-w2  as aware, with the FFN rows weighted by ||W2[:, j]|| (the weight of neuron j
 *            in its score): the top left singular vectors of D W C^{1/2}, D = diag of the
 *            norms, give U = D^-1 U_r, V = U_r^T D W.
 * Attention groups are scored by the value factors (fitted like W1, W3), by a prior (the mean
 * oracle importance of each group on the fit stories) or equally (--attn).
 * With --compare, every method at ranks 4, 8, 16, 32 and full rank (with attention value
 * factors) is fitted and measured in the same pass, and a comparison table follows the
 * chosen predictor's.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "core/eval.h"
#include "core/plan.h"
#include "core/predictor.h"
#include "core/trace.h"
#include "core/wire.h"

#include <errno.h>
#include <getopt.h>
#include <gsl/gsl_blas.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The rank measured as the best trade-off for the bundled model (docs/predictor.md). */
enum {
    DEFAULT_RANK = 16,
    N_SIZES = 3,
    N_TAUS = 3,
    MAX_CANDS = 24,
};

static const int SIZES[N_SIZES] = {8, 16, 32};
static const double TAUS[N_TAUS] = {0.5, 0.8, 0.9};
static const int COMPARE_RANKS[] = {4, 8, 16, 32, 64};

enum {
    METHOD_SVD,
    METHOD_AWARE,
    METHOD_AWARE_W2,
    METHOD_COUNT_
};

static const char *const METHOD_NAMES[METHOD_COUNT_] = {"svd", "aware", "aware-w2"};

#define DEFAULT_METHOD METHOD_AWARE

enum {
    ATTN_FACTORS,
    ATTN_PRIOR,
    ATTN_NONE,
    ATTN_COUNT_
};

static const char *const ATTN_NAMES[ATTN_COUNT_] = {"factors", "prior", "none"};
static const int ATTN_FLAGS[ATTN_COUNT_] = {HALO_PREDICTOR_ATTN, HALO_PREDICTOR_ATTN_PRIOR, 0};

#define DEFAULT_ATTN ATTN_PRIOR

static void usage(FILE *f) {
    (void)fprintf(
        f,
        "usage: halo calibrate [options] TEXTFILE\n\n"
        "Fits the importance predictor of a model on the stories in TEXTFILE (separated by\n"
        "lines holding only <|endoftext|>), measures it on stories it was not fitted on,\n"
        "prints the recall of the oracle's critical groups per layer and writes the\n"
        "predictor file (atomically: the old file stays until the new one is complete).\n\n"
        "options:\n"
        "  -m, --model FILE       llama2.c checkpoint (default: bundled)\n"
        "  -z, --tokenizer FILE   llama2.c tokenizer (default: bundled)\n"
        "  -o, --out FILE         predictor file to write (default: the model's name with\n"
        "                         .pred, in the current directory)\n"
        "  -r, --rank R           rank of the factors, 1..min(dim, hidden_dim) (default %d)\n"
        "      --method M         svd, aware or aware-w2 (default %s)\n"
        "      --attn A           how attention groups are scored: factors (low-rank\n"
        "                         values), prior (a fixed score per group) or none (all\n"
        "                         equal) (default %s)\n"
        "      --fit-from K       fit on stories K..N, measure on 1..K-1 (default: the last\n"
        "                         30%% are fitted on)\n"
        "      --max-stories N    read only the first N stories of TEXTFILE\n"
        "      --compare          also fit and measure every method at ranks 4, 8, 16, 32\n"
        "                         and full rank, and print the comparison\n"
        "      --json             print one JSON object instead of tables\n"
        "  -h, --help             this help\n",
        DEFAULT_RANK, METHOD_NAMES[DEFAULT_METHOD], ATTN_NAMES[DEFAULT_ATTN]);
}

/* ==== Options ==== */

typedef struct cal_opts {
    const char *model, *tokenizer, *out, *file;
    long rank, fit_from, max_stories;
    int method, attn, compare, json;
} cal_opts;

static int parse(int argc, char **argv, cal_opts *o, halo_err *err) {
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},    {"tokenizer", required_argument, NULL, 'z'},
        {"out", required_argument, NULL, 'o'},      {"rank", required_argument, NULL, 'r'},
        {"method", required_argument, NULL, 'M'},   {"attn", required_argument, NULL, 'A'},
        {"fit-from", required_argument, NULL, 'F'}, {"max-stories", required_argument, NULL, 'S'},
        {"compare", no_argument, NULL, 'C'},        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    *o = (cal_opts){
        .rank = DEFAULT_RANK, .max_stories = -1, .method = DEFAULT_METHOD, .attn = DEFAULT_ATTN};
    optind = 1;
    opterr = 0;
    int c, rc = HALO_OK;
    while (rc == HALO_OK && (c = getopt_long(argc, argv, ":m:z:o:r:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->model = optarg;
            break;
        case 'z':
            o->tokenizer = optarg;
            break;
        case 'o':
            if (optarg[0] == '\0')
                return HALO_FAIL(err, HALO_ERR_ARG, "--out: empty file name");
            o->out = optarg;
            break;
        case 'r':
            rc = halo_cli_parse_long("--rank", optarg, 1, 1 << 16, &o->rank, err);
            break;
        case 'M':
            o->method = -1;
            for (int i = 0; i < METHOD_COUNT_; i++)
                if (strcmp(optarg, METHOD_NAMES[i]) == 0)
                    o->method = i;
            if (o->method < 0)
                return HALO_FAIL(err, HALO_ERR_ARG,
                                 "--method: '%s' is not one of svd, aware, aware-w2", optarg);
            break;
        case 'A':
            o->attn = -1;
            for (int i = 0; i < ATTN_COUNT_; i++)
                if (strcmp(optarg, ATTN_NAMES[i]) == 0)
                    o->attn = i;
            if (o->attn < 0)
                return HALO_FAIL(err, HALO_ERR_ARG,
                                 "--attn: '%s' is not one of factors, prior, none", optarg);
            break;
        case 'F':
            rc = halo_cli_parse_long("--fit-from", optarg, 2, 1L << 30, &o->fit_from, err);
            break;
        case 'S':
            rc = halo_cli_parse_long("--max-stories", optarg, 2, 1L << 30, &o->max_stories, err);
            break;
        case 'C':
            o->compare = 1;
            break;
        case 'J':
            o->json = 1;
            break;
        case 'h':
            return 1;
        default:
            return halo_cli_bad_option(c, argv, err);
        }
    }
    if (rc != HALO_OK)
        return rc;
    return halo_cli_one_arg(argc, argv, "TEXTFILE to calibrate on", &o->file, err);
}

/* Reads a whole file into a NUL-terminated buffer; rejects embedded NULs. */
static int read_text(const char *path, char **out, halo_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        (void)fclose(f);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        (void)fclose(f);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, size, f);
    int bad = ferror(f), e = errno;
    (void)fclose(f);
    if (bad || got != size) {
        free(buf);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: read error: %s", path,
                         bad ? strerror(e) : "file changed while reading");
    }
    buf[size] = '\0';
    if (strlen(buf) != size) {
        free(buf);
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: contains a NUL byte; not a text file", path);
    }
    *out = buf;
    return HALO_OK;
}

/* The default output: the model file's name with .pred, in the current directory. */
static const char *default_out(const char *model_path, char *buf, size_t size) {
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    const char *dot = strrchr(base, '.');
    int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    (void)snprintf(buf, size, "%.*s.pred", len, base);
    return buf;
}

/* Refuses an output that cannot be written, before the work rather than after it. */
static int check_out(const char *out, halo_err *err) {
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return HALO_FAIL(err, HALO_ERR_IO, "%s: is a directory", out);
    char dir[4096];
    const char *slash = strrchr(out, '/');
    if (!slash)
        (void)snprintf(dir, sizeof dir, ".");
    else if (slash == out)
        (void)snprintf(dir, sizeof dir, "/");
    else
        (void)snprintf(dir, sizeof dir, "%.*s", (int)(slash - out), out);
    if (access(dir, W_OK) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot write in %s: %s", out, dir, strerror(errno));
    return HALO_OK;
}

/* ==== Measurement state ==== */

/* Recall of one scorer for one kind of group, summed over tokens. */
typedef struct recall_acc {
    double recall[N_TAUS]; /* sum of |predicted top k & oracle's critical| / k */
    double mass[N_TAUS];   /* sum of the oracle mass the predicted top k holds */
    long n;                /* tokens */
} recall_acc;

typedef struct cand {
    int method, rank, flags;
    float *ffn, *attn, *prior; /* as halo_predictor_factors */
    halo_predictor *p;
    recall_acc *ffn_acc;  /* (n_layers, N_SIZES) */
    recall_acc *attn_acc; /* (n_layers) */
    uint64_t score_ns[2]; /* time spent scoring, per block kind (enum halo_phase) */
    float *pred_attn;     /* (n_kv) this layer's attention scores, until the oracle's */
} cand;

typedef struct cal {
    const halo_model *model;
    const halo_model_config *c;
    const halo_weights *w;
    halo_trace *trace;
    halo_groups groups[N_SIZES];
    int dim, hidden, n_layers, kv_dim, n_kv;

    int pass;          /* 1: fit statistics; 2: measurement */
    long story;        /* index of the story being run (0-based) */
    long first, last;  /* this pass runs stories first..last-1 */
    long tokens[3];    /* tokens run in pass 1 and 2 */
    double pos_sum;    /* sum of (pos + 1) over measured tokens (attention FLOPs) */
    float *zero;       /* (vocab_size) logits of the stories a pass skips */
    int show_progress; /* stderr is a terminal */
    long n_stories;
    long held;       /* stories 1..held are measured, held+1..n_stories fitted on */
    int usage_error; /* the failure is a bad option value (exit status 2) */

    /* pass 1 */
    double *c_att, *c_ffn;       /* (n_layers, dim, dim): sums of xb xb^T */
    double *static_ffn[N_SIZES]; /* (n_layers, n_ffn): sums of oracle scores */
    double *static_attn;         /* (n_layers, n_kv) */

    /* pass 2 */
    cand cands[MAX_CANDS];
    int n_cands, chosen;
    recall_acc *static_ffn_acc, *chance_ffn_acc;                    /* (n_layers, N_SIZES) */
    recall_acc *static_attn_acc, *chance_attn_acc, *equal_attn_acc; /* (n_layers) */
    uint64_t block_ns[2], t_start; /* time in the blocks, per kind (enum halo_phase) */
    uint64_t clock_ns;             /* cost of one clock reading, subtracted from every interval */

    /* scratch */
    float *scratch;             /* (hidden + dim) */
    float *oracle[N_SIZES + 1]; /* (n_ffn of G=1) per group size, then attention */
    float *pred[N_SIZES];       /* (n_ffn) */
    float *fixed;               /* (max groups) static or equal scores */
    unsigned char *crit[N_SIZES + 1][N_TAUS];
    int k[N_SIZES + 1][N_TAUS];
    int *order; /* (max groups) */
} cal;

static void cal_free(cal *x) {
    halo_trace_free(x->trace);
    free(x->zero);
    free(x->c_att);
    free(x->c_ffn);
    free(x->static_attn);
    for (int s = 0; s < N_SIZES; s++) {
        free(x->static_ffn[s]);
        free(x->pred[s]);
    }
    for (int i = 0; i < x->n_cands; i++) {
        cand *k = &x->cands[i];
        free(k->ffn);
        free(k->attn);
        free(k->prior);
        halo_predictor_free(k->p);
        free(k->ffn_acc);
        free(k->attn_acc);
        free(k->pred_attn);
    }
    free(x->static_ffn_acc);
    free(x->chance_ffn_acc);
    free(x->static_attn_acc);
    free(x->chance_attn_acc);
    free(x->equal_attn_acc);
    free(x->scratch);
    for (int s = 0; s <= N_SIZES; s++) {
        free(x->oracle[s]);
        for (int t = 0; t < N_TAUS; t++)
            free(x->crit[s][t]);
    }
    free(x->fixed);
    free(x->order);
}

static void *zalloc(size_t n, size_t size, int *failed) {
    void *p = calloc(n ? n : 1, size);
    if (!p)
        *failed = 1;
    return p;
}

static int cal_init(cal *x, const halo_model *model, halo_err *err) {
    memset(x, 0, sizeof *x);
    x->model = model;
    x->c = halo_model_get_config(model);
    x->w = halo_model_get_weights(model);
    x->dim = x->c->dim;
    x->hidden = x->c->hidden_dim;
    x->n_layers = x->c->n_layers;
    x->kv_dim = halo_model_kv_dim(x->c);
    x->n_kv = x->c->n_kv_heads;
    int rc = halo_trace_new(&x->trace, model, err);
    for (int s = 0; rc == HALO_OK && s < N_SIZES; s++)
        rc =
            halo_groups_init(&x->groups[s], x->c, SIZES[s] < x->hidden ? SIZES[s] : x->hidden, err);
    if (rc != HALO_OK)
        return rc;
    size_t L = (size_t)x->n_layers, dd = (size_t)x->dim * (size_t)x->dim;
    size_t max_groups = (size_t)(x->hidden > x->n_kv ? x->hidden : x->n_kv);
    int failed = 0;
    x->zero = zalloc((size_t)x->c->vocab_size, sizeof(float), &failed);
    x->c_att = zalloc(L * dd, sizeof(double), &failed);
    x->c_ffn = zalloc(L * dd, sizeof(double), &failed);
    x->static_attn = zalloc(L * (size_t)x->n_kv, sizeof(double), &failed);
    for (int s = 0; s < N_SIZES; s++) {
        x->static_ffn[s] = zalloc(L * (size_t)x->groups[s].n_ffn, sizeof(double), &failed);
        x->pred[s] = zalloc(max_groups, sizeof(float), &failed);
    }
    x->static_ffn_acc = zalloc(L * N_SIZES, sizeof(recall_acc), &failed);
    x->chance_ffn_acc = zalloc(L * N_SIZES, sizeof(recall_acc), &failed);
    x->static_attn_acc = zalloc(L, sizeof(recall_acc), &failed);
    x->chance_attn_acc = zalloc(L, sizeof(recall_acc), &failed);
    x->equal_attn_acc = zalloc(L, sizeof(recall_acc), &failed);
    x->scratch = zalloc((size_t)x->hidden + (size_t)x->dim, sizeof(float), &failed);
    for (int s = 0; s <= N_SIZES; s++) {
        x->oracle[s] = zalloc(max_groups, sizeof(float), &failed);
        for (int t = 0; t < N_TAUS; t++)
            x->crit[s][t] = zalloc(max_groups, 1, &failed);
    }
    x->fixed = zalloc(max_groups, sizeof(float), &failed);
    x->order = zalloc(max_groups, sizeof(int), &failed);
    if (failed)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "calibrate: out of memory");
    return HALO_OK;
}

/* ==== Recall ==== */

/* order[0..n) = group indices by decreasing score, ties by index (insertion sort; n small). */
static void rank_groups(const float *s, int n, int *order) {
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && s[order[j - 1]] < s[i])
            j--;
        memmove(order + j + 1, order + j, (size_t)(i - j) * sizeof *order);
        order[j] = i;
    }
}

/*
 * The oracle's critical sets of kind `kind` (a group size index, or N_SIZES: attention).
 * Written with explicit pointers: gcc 12.2 at -O1 deleted the call of an earlier version
 * (that indexed x->k[kind] inside) from after_block as if it had no effect (clang, and gcc
 * with -fno-ipa-modref -fno-ipa-pure-const, kept it). add_recall asserts the result.
 */
static void oracle_sets(const float *oracle, int n, unsigned char *const *crit, int *k) {
    for (int t = 0; t < N_TAUS; t++)
        k[t] = halo_select_critical(oracle, n, TAUS[t], crit[t]);
}

static void add_recall(cal *x, recall_acc *a, int kind, const float *pred, int n) {
    rank_groups(pred, n, x->order);
    double total = 0;
    for (int i = 0; i < n; i++)
        total += (double)x->oracle[kind][i];
    for (int t = 0; t < N_TAUS; t++) {
        int k = x->k[kind][t], hit = 0;
        HALO_ASSERT(k >= 1 && k <= n); /* tau > 0 and n >= 1: never an empty set */
        double mass = 0;
        for (int i = 0; i < k; i++) {
            hit += x->crit[kind][t][x->order[i]];
            mass += (double)x->oracle[kind][x->order[i]];
        }
        a->recall[t] += k > 0 ? (double)hit / k : 1.0;
        a->mass[t] += total > 0 ? mass / total : 1.0;
    }
    a->n++;
}

/* Expected recall of a random ranking: k / n. */
static void add_chance(cal *x, recall_acc *a, int kind, int n) {
    for (int t = 0; t < N_TAUS; t++) {
        a->recall[t] += (double)x->k[kind][t] / n;
        a->mass[t] += (double)x->k[kind][t] / n;
    }
    a->n++;
}

/* ==== Hooks ==== */

/*
 * CPU time of this thread in nanoseconds. Timing uses it rather than the wall clock: on a
 * loaded machine a preempted interval would count another process's time (2026-11-26: the
 * wall-clock ratios of one run varied 3x under a load of 8 on 2 cores).
 */
static uint64_t cpu_ns(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU nanoseconds since t0, less the cost of reading the clock (measured once). */
static uint64_t elapsed(const cal *x, uint64_t t0) {
    uint64_t d = cpu_ns() - t0;
    return d > x->clock_ns ? d - x->clock_ns : 0;
}

/* The smallest interval two consecutive clock readings show, over many tries. */
static uint64_t clock_cost_ns(void) {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 10000; i++) {
        uint64_t t0 = cpu_ns(), d = cpu_ns() - t0;
        if (d < best)
            best = d;
    }
    return best;
}

static void add_outer(double *c, const float *xb, int dim) {
    for (int i = 0; i < dim; i++)
        for (int j = 0; j < dim; j++)
            c[(size_t)i * (size_t)dim + (size_t)j] += (double)xb[i] * (double)xb[j];
}

/* The predictor's G = 8 scores aggregated to larger groups: the root of the sum of squares
 * (what scoring with that group size computes, up to rounding). */
static void regroup(const float *fine, int fine_size, float *coarse, const halo_groups *g) {
    for (int f = 0; f < g->n_ffn; f++) {
        int a = halo_groups_ffn_start(g, f) / fine_size;
        int b =
            (halo_groups_ffn_start(g, f) + halo_groups_ffn_len(g, f) + fine_size - 1) / fine_size;
        float s = 0;
        for (int i = a; i < b; i++)
            s += fine[i] * fine[i];
        coarse[f] = sqrtf(s);
    }
}

static void before_block(void *arg, int layer, int phase, const float *xb) {
    cal *x = arg;
    size_t L = (size_t)layer;
    if (x->pass == 1) {
        size_t dd = (size_t)x->dim * (size_t)x->dim;
        if (phase == HALO_PHASE_ATTN) {
            add_outer(x->c_att + L * dd, xb, x->dim);
            return;
        }
        add_outer(x->c_ffn + L * dd, xb, x->dim);
        for (int s = 0; s < N_SIZES; s++) {
            const halo_groups *g = &x->groups[s];
            halo_oracle_score_ffn(x->model, g, layer, xb, x->scratch, x->oracle[s]);
            for (int f = 0; f < g->n_ffn; f++)
                x->static_ffn[s][L * (size_t)g->n_ffn + (size_t)f] += (double)x->oracle[s][f];
        }
        return;
    }
    if (phase == HALO_PHASE_ATTN) {
        for (int i = 0; i < x->n_cands; i++) {
            cand *k = &x->cands[i];
            uint64_t t0 = cpu_ns();
            halo_predictor_score_attn(k->p, &x->groups[0], layer, xb, k->pred_attn);
            k->score_ns[HALO_PHASE_ATTN] += elapsed(x, t0);
        }
        x->t_start = cpu_ns();
        return;
    }
    /* FFN: the oracle first (untimed), then each candidate (timed), then the bookkeeping. */
    for (int s = 0; s < N_SIZES; s++) {
        halo_oracle_score_ffn(x->model, &x->groups[s], layer, xb, x->scratch, x->oracle[s]);
        oracle_sets(x->oracle[s], x->groups[s].n_ffn, x->crit[s], x->k[s]);
    }
    for (int i = 0; i < x->n_cands; i++) {
        cand *k = &x->cands[i];
        uint64_t t0 = cpu_ns();
        halo_predictor_score_ffn(k->p, &x->groups[0], layer, xb, x->pred[0]);
        k->score_ns[HALO_PHASE_FFN] += elapsed(x, t0);
        for (int s = 0; s < N_SIZES; s++) {
            if (s > 0)
                regroup(x->pred[0], x->groups[0].ffn_size, x->pred[s], &x->groups[s]);
            add_recall(x, &k->ffn_acc[L * N_SIZES + (size_t)s], s, x->pred[s], x->groups[s].n_ffn);
        }
    }
    for (int s = 0; s < N_SIZES; s++) {
        const halo_groups *g = &x->groups[s];
        for (int f = 0; f < g->n_ffn; f++)
            x->fixed[f] = (float)x->static_ffn[s][L * (size_t)g->n_ffn + (size_t)f];
        add_recall(x, &x->static_ffn_acc[L * N_SIZES + (size_t)s], s, x->fixed, g->n_ffn);
        add_chance(x, &x->chance_ffn_acc[L * N_SIZES + (size_t)s], s, g->n_ffn);
    }
    x->t_start = cpu_ns();
}

static void after_block(void *arg, int layer, int phase, const float *out) {
    cal *x = arg;
    size_t L = (size_t)layer;
    if (x->pass == 2)
        x->block_ns[phase] += elapsed(x, x->t_start);
    if (phase != HALO_PHASE_ATTN)
        return;
    float *oracle = x->oracle[N_SIZES];
    halo_oracle_score_attn(x->model, &x->groups[0], layer, out, oracle);
    if (x->pass == 1) {
        for (int k = 0; k < x->n_kv; k++)
            x->static_attn[L * (size_t)x->n_kv + (size_t)k] += (double)oracle[k];
        return;
    }
    oracle_sets(x->oracle[N_SIZES], x->n_kv, x->crit[N_SIZES], x->k[N_SIZES]);
    for (int i = 0; i < x->n_cands; i++)
        add_recall(x, &x->cands[i].attn_acc[L], N_SIZES, x->cands[i].pred_attn, x->n_kv);
    for (int k = 0; k < x->n_kv; k++)
        x->fixed[k] = (float)x->static_attn[L * (size_t)x->n_kv + (size_t)k];
    add_recall(x, &x->static_attn_acc[L], N_SIZES, x->fixed, x->n_kv);
    for (int k = 0; k < x->n_kv; k++)
        x->fixed[k] = 1.0f;
    add_recall(x, &x->equal_attn_acc[L], N_SIZES, x->fixed, x->n_kv);
    add_chance(x, &x->chance_attn_acc[L], N_SIZES, x->n_kv);
}

static int forward_cb(void *arg, int token, int pos, const float **logits, halo_err *err) {
    cal *x = arg;
    (void)err;
    if (x->story < x->first || x->story >= x->last) {
        *logits = x->zero;
        return HALO_OK;
    }
    halo_trace_hooks hooks = {x, before_block, after_block};
    *logits = halo_trace_forward(x->trace, token, pos, &hooks);
    x->tokens[x->pass]++;
    if (x->pass == 2)
        x->pos_sum += pos + 1;
    return HALO_OK;
}

static int count_cb(void *arg, int token, int pos, const float **logits, halo_err *err) {
    (void)token;
    (void)pos;
    (void)err;
    *logits = ((cal *)arg)->zero;
    return HALO_OK;
}

static void progress_cb(void *arg, long stories, long tokens) {
    cal *x = arg;
    (void)tokens;
    x->story = stories;
    if (x->show_progress && stories > x->first && stories <= x->last)
        (void)fprintf(stderr, "\rhalo calibrate: %s: story %ld of %ld..%ld  ",
                      x->pass == 1 ? "fitting" : "measuring", stories, x->first + 1, x->last);
}

/* Runs pass `pass` over stories first..last-1 of `text`. */
static int run_pass(cal *x, const halo_tokenizer *tok, const char *text, int pass, long first,
                    long last, halo_err *err) {
    x->pass = pass;
    x->story = 0;
    x->first = first;
    x->last = last;
    halo_eval_config ec = {.tok = tok,
                           .seq_len = x->c->seq_len,
                           .vocab_size = x->c->vocab_size,
                           .max_stories = last,
                           .forward = forward_cb,
                           .forward_ctx = x,
                           .progress = progress_cb,
                           .progress_ctx = x};
    halo_eval_result r;
    int rc = halo_eval_text(&ec, text, &r, err);
    if (x->show_progress)
        (void)fprintf(stderr, "\n");
    return rc;
}

/* ==== Fitting ==== */

/* Top r left singular vectors of A (m x n) into U (m x r), zero columns past A's rank. */
static int left_singular(const gsl_matrix *A, int r, gsl_matrix *U) {
    size_t m = A->size1, n = A->size2;
    int transpose = m < n;
    size_t rows = transpose ? n : m, cols = transpose ? m : n;
    gsl_matrix *work = gsl_matrix_alloc(rows, cols);
    gsl_matrix *V = gsl_matrix_alloc(cols, cols);
    gsl_vector *S = gsl_vector_alloc(cols), *tmp = gsl_vector_alloc(cols);
    int rc = -1;
    if (work && V && S && tmp) {
        if (transpose)
            gsl_matrix_transpose_memcpy(work, A);
        else
            gsl_matrix_memcpy(work, A);
        /* A = work S V^T, singular values in decreasing order. For A^T = U' S V'^T, A's left
         * singular vectors are the columns of V'. */
        if (gsl_linalg_SV_decomp(work, V, S, tmp) == GSL_SUCCESS) {
            const gsl_matrix *left = transpose ? V : work;
            gsl_matrix_set_zero(U);
            for (size_t k = 0; k < (size_t)r && k < cols; k++)
                for (size_t i = 0; i < m; i++)
                    gsl_matrix_set(U, i, k, gsl_matrix_get(left, i, k));
            rc = 0;
        }
    }
    gsl_matrix_free(work);
    gsl_matrix_free(V);
    gsl_vector_free(S);
    gsl_vector_free(tmp);
    return rc;
}

/* B = C^{1/2} up to a right rotation: Q diag(sqrt(max(lambda, 0))) for C = Q diag(lambda) Q^T
 * (enough here: only the left singular vectors of W B are used). */
static int half_power(const double *c, long n_samples, int dim, gsl_matrix *B) {
    gsl_matrix *C = gsl_matrix_alloc((size_t)dim, (size_t)dim);
    gsl_matrix *Q = gsl_matrix_alloc((size_t)dim, (size_t)dim);
    gsl_vector *lambda = gsl_vector_alloc((size_t)dim);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc((size_t)dim);
    int rc = -1;
    if (C && Q && lambda && ws) {
        for (size_t i = 0; i < (size_t)dim; i++)
            for (size_t j = 0; j < (size_t)dim; j++)
                gsl_matrix_set(C, i, j, c[i * (size_t)dim + j] / (double)n_samples);
        if (gsl_eigen_symmv(C, lambda, Q, ws) == GSL_SUCCESS) {
            for (size_t i = 0; i < (size_t)dim; i++)
                for (size_t j = 0; j < (size_t)dim; j++) {
                    double l = gsl_vector_get(lambda, j);
                    gsl_matrix_set(B, i, j, gsl_matrix_get(Q, i, j) * sqrt(l > 0 ? l : 0));
                }
            rc = 0;
        }
    }
    gsl_matrix_free(C);
    gsl_matrix_free(Q);
    gsl_vector_free(lambda);
    gsl_eigen_symmv_free(ws);
    return rc;
}

/*
 * Fits W (rows x dim) ~ U V (U: rows x r into u, V: r x dim into v) with row weights d
 * (NULL: none) and input whitening B (NULL: plain SVD): U_r = top left singular vectors of
 * D W B, U = D^-1 U_r, V = U_r^T D W.
 */
static int fit_matrix(const float *w, int rows, int dim, const double *d, const gsl_matrix *B,
                      int r, float *u, float *v) {
    gsl_matrix *DW = gsl_matrix_alloc((size_t)rows, (size_t)dim);
    gsl_matrix *A = gsl_matrix_alloc((size_t)rows, (size_t)dim);
    gsl_matrix *U = gsl_matrix_alloc((size_t)rows, (size_t)r);
    int rc = -1;
    if (DW && A && U) {
        for (size_t i = 0; i < (size_t)rows; i++)
            for (size_t j = 0; j < (size_t)dim; j++)
                gsl_matrix_set(DW, i, j, (d ? d[i] : 1.0) * (double)w[i * (size_t)dim + j]);
        if (B)
            rc = gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, 1.0, DW, B, 0.0, A) == GSL_SUCCESS ? 0
                                                                                               : -1;
        else
            rc = gsl_matrix_memcpy(A, DW) == GSL_SUCCESS ? 0 : -1;
        if (rc == 0)
            rc = left_singular(A, r, U);
    }
    if (rc == 0) {
        for (size_t i = 0; i < (size_t)rows; i++)
            for (size_t k = 0; k < (size_t)r; k++)
                u[i * (size_t)r + k] = (float)(gsl_matrix_get(U, i, k) / (d ? d[i] : 1.0));
        for (size_t k = 0; k < (size_t)r; k++)
            for (size_t j = 0; j < (size_t)dim; j++) {
                double s = 0;
                for (size_t i = 0; i < (size_t)rows; i++)
                    s += gsl_matrix_get(U, i, k) * gsl_matrix_get(DW, i, j);
                v[k * (size_t)dim + j] = (float)s;
            }
    }
    gsl_matrix_free(DW);
    gsl_matrix_free(A);
    gsl_matrix_free(U);
    return rc;
}

/* Fits candidate k (method, rank, flags set) from the pass-1 statistics. */
static int fit_cand(cal *x, cand *k, halo_err *err) {
    size_t L = (size_t)x->n_layers, r = (size_t)k->rank, dim = (size_t)x->dim;
    size_t hidden = (size_t)x->hidden, kv_dim = (size_t)x->kv_dim, dd = dim * dim;
    size_t nf = 2 * (r * dim + hidden * r), na = r * dim + kv_dim * r;
    int failed = 0;
    k->ffn = zalloc(L * nf, sizeof(float), &failed);
    if (k->flags & HALO_PREDICTOR_ATTN)
        k->attn = zalloc(L * na, sizeof(float), &failed);
    if (k->flags & HALO_PREDICTOR_ATTN_PRIOR)
        k->prior = zalloc(L * (size_t)x->n_kv, sizeof(float), &failed);
    k->ffn_acc = zalloc(L * N_SIZES, sizeof(recall_acc), &failed);
    k->attn_acc = zalloc(L, sizeof(recall_acc), &failed);
    k->pred_attn = zalloc((size_t)x->n_kv, sizeof(float), &failed);
    double *d = zalloc(hidden, sizeof(double), &failed);
    gsl_matrix *B_ffn = gsl_matrix_alloc(dim, dim), *B_att = gsl_matrix_alloc(dim, dim);
    if (failed || !B_ffn || !B_att) {
        free(d);
        gsl_matrix_free(B_ffn);
        gsl_matrix_free(B_att);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "calibrate: out of memory");
    }
    int aware = k->method != METHOD_SVD, rc = 0;
    for (size_t l = 0; l < L && rc == 0; l++) {
        if (aware)
            rc = half_power(x->c_ffn + l * dd, x->tokens[1], x->dim, B_ffn) ||
                 half_power(x->c_att + l * dd, x->tokens[1], x->dim, B_att);
        const double *rows = NULL;
        if (k->method == METHOD_AWARE_W2) {
            const float *w2 = x->w->w2 + l * dim * hidden;
            for (size_t j = 0; j < hidden; j++) {
                double s = 0;
                for (size_t i = 0; i < dim; i++)
                    s += (double)w2[i * hidden + j] * (double)w2[i * hidden + j];
                d[j] = sqrt(s) > 1e-12 ? sqrt(s) : 1e-12;
            }
            rows = d;
        }
        float *f = k->ffn + l * nf;
        float *v1 = f, *u1 = v1 + r * dim, *v3 = u1 + hidden * r, *u3 = v3 + r * dim;
        const gsl_matrix *bf = aware ? B_ffn : NULL, *ba = aware ? B_att : NULL;
        if (rc == 0)
            rc = fit_matrix(x->w->w1 + l * hidden * dim, x->hidden, x->dim, rows, bf, k->rank, u1,
                            v1) ||
                 fit_matrix(x->w->w3 + l * hidden * dim, x->hidden, x->dim, rows, bf, k->rank, u3,
                            v3);
        if (rc == 0 && k->attn) {
            float *vv = k->attn + l * na, *uv = vv + r * dim;
            rc = fit_matrix(x->w->wv + l * kv_dim * dim, x->kv_dim, x->dim, NULL, ba, k->rank, uv,
                            vv);
        }
    }
    free(d);
    gsl_matrix_free(B_ffn);
    gsl_matrix_free(B_att);
    /* The prior: each attention group's mean oracle importance on the fit stories. */
    for (size_t i = 0; k->prior && i < L * (size_t)x->n_kv; i++)
        k->prior[i] = (float)(x->static_attn[i] / (double)x->tokens[1]);
    if (rc != 0)
        return HALO_FAIL(err, HALO_ERR_ARG, "calibrate: %s fit of rank %d failed (GSL)",
                         METHOD_NAMES[k->method], k->rank);
    return HALO_OK;
}

static const char *attn_name(int flags) {
    return flags & HALO_PREDICTOR_ATTN         ? ATTN_NAMES[ATTN_FACTORS]
           : flags & HALO_PREDICTOR_ATTN_PRIOR ? ATTN_NAMES[ATTN_PRIOR]
                                               : ATTN_NAMES[ATTN_NONE];
}

static halo_predictor_factors factors_of(const cand *k) {
    return (halo_predictor_factors){k->rank, k->flags, k->ffn, k->attn, k->prior};
}

/* Writes candidate k to a file in `dir` and loads it back: the measurement then runs the
 * very code and bytes a user of the file runs. */
static int load_cand(cal *x, cand *k, const char *dir, int idx, halo_err *err) {
    char path[4200];
    (void)snprintf(path, sizeof path, "%s/cand%d.pred", dir, idx);
    halo_predictor_factors f = factors_of(k);
    int rc = halo_predictor_write(path, x->model, &f, err);
    if (rc == HALO_OK)
        rc = halo_predictor_load(&k->p, path, x->model, err);
    (void)remove(path);
    return rc;
}

/* ==== Report ==== */

typedef struct summary {
    double ffn[N_SIZES][N_TAUS], attn[N_TAUS]; /* recall, mean over layers */
    double ffn_mass[N_SIZES][N_TAUS], attn_mass[N_TAUS];
} summary;

static double acc_recall(const recall_acc *a, int t) {
    return a && a->n ? a->recall[t] / (double)a->n : (double)NAN;
}

static double acc_mass(const recall_acc *a, int t) {
    return a && a->n ? a->mass[t] / (double)a->n : (double)NAN;
}

static summary summarise(const cal *x, const recall_acc *ffn, const recall_acc *attn) {
    summary s;
    memset(&s, 0, sizeof s);
    for (int l = 0; l < x->n_layers; l++)
        for (int t = 0; t < N_TAUS; t++) {
            for (int g = 0; g < N_SIZES; g++) {
                s.ffn[g][t] += acc_recall(&ffn[l * N_SIZES + g], t) / x->n_layers;
                s.ffn_mass[g][t] += acc_mass(&ffn[l * N_SIZES + g], t) / x->n_layers;
            }
            s.attn[t] += acc_recall(&attn[l], t) / x->n_layers;
            s.attn_mass[t] += acc_mass(&attn[l], t) / x->n_layers;
        }
    return s;
}

/* Multiply-adds of one layer: projections and FFN, and the attention over `mean_pos`
 * cached positions (scores and weighted sum). */
static double layer_macs(const cal *x, double mean_pos) {
    double dim = x->dim, hidden = x->hidden, kv = x->kv_dim;
    double proj = 2 * dim * dim + 2 * kv * dim, ffn = 3 * dim * hidden;
    return proj + ffn + mean_pos * 2 * dim;
}

static double mean_pos(const cal *x) {
    return x->tokens[2] ? x->pos_sum / (double)x->tokens[2] : 0;
}

static double time_ratio(const cal *x, const cand *k) {
    uint64_t blocks = x->block_ns[0] + x->block_ns[1];
    return blocks ? (double)(k->score_ns[0] + k->score_ns[1]) / (double)blocks : (double)NAN;
}

/* The FFN part alone: FFN scoring against the FFN block. */
static double ffn_time_ratio(const cal *x, const cand *k) {
    return x->block_ns[HALO_PHASE_FFN]
               ? (double)k->score_ns[HALO_PHASE_FFN] / (double)x->block_ns[HALO_PHASE_FFN]
               : (double)NAN;
}

/* Mean nanoseconds per layer and position. */
static double per_layer_ns(const cal *x, uint64_t ns) {
    double n = (double)x->tokens[2] * x->n_layers;
    return n > 0 ? (double)ns / n : (double)NAN;
}

static void print_row(const char *label, const summary *s) {
    (void)printf("%-8s", label);
    for (int g = 0; g < N_SIZES; g++) {
        for (int t = 0; t < N_TAUS; t++)
            (void)printf(" %5.3f", s->ffn[g][t]);
        (void)printf("  ");
    }
    for (int t = 0; t < N_TAUS; t++)
        (void)printf(" %5.3f", s->attn[t]);
    (void)printf("\n");
}

static void print_header(const cal *x, const char *first) {
    (void)printf("%-8s", first);
    for (int g = 0; g < N_SIZES; g++)
        (void)printf(" FFN G=%-2d (%2d groups) ", x->groups[g].ffn_size, x->groups[g].n_ffn);
    (void)printf(" attention (%d groups)\n%-8s", x->n_kv, "");
    for (int g = 0; g <= N_SIZES; g++) {
        for (int t = 0; t < N_TAUS; t++)
            (void)printf("  %3.0f%%", 100 * TAUS[t]);
        (void)printf("  ");
    }
    (void)printf("\n");
}

static void print_text(const cal *x, const cal_opts *o, const char *out, uint64_t bytes) {
    const cand *ch = &x->cands[x->chosen];
    (void)printf("text        %s: %ld stories\n", o->file, x->n_stories);
    (void)printf("fitted on   stories %ld..%ld (%ld positions)\n", x->held + 1, x->n_stories,
                 x->tokens[1]);
    (void)printf("measured on stories 1..%ld (%ld positions, held out)\n", x->held, x->tokens[2]);
    (void)printf("predictor   %s, rank %d, attention %s; %llu bytes -> %s\n\n",
                 METHOD_NAMES[ch->method], ch->rank, attn_name(ch->flags),
                 (unsigned long long)bytes, out);
    (void)printf(
        "Recall of the oracle's critical groups: k = the fewest groups holding 50/80/90%%\n"
        "of the true importance; recall = share of them among the predictor's top k.\n");
    print_header(x, "layer");
    for (int l = 0; l < x->n_layers; l++) {
        summary s;
        memset(&s, 0, sizeof s);
        for (int t = 0; t < N_TAUS; t++) {
            for (int g = 0; g < N_SIZES; g++)
                s.ffn[g][t] = acc_recall(&ch->ffn_acc[l * N_SIZES + g], t);
            s.attn[t] = acc_recall(&ch->attn_acc[l], t);
        }
        char label[16];
        (void)snprintf(label, sizeof label, "%d", l);
        print_row(label, &s);
    }
    summary mean = summarise(x, ch->ffn_acc, ch->attn_acc);
    summary stat = summarise(x, x->static_ffn_acc, x->static_attn_acc);
    summary chance = summarise(x, x->chance_ffn_acc, x->chance_attn_acc);
    print_row("mean", &mean);
    print_row("static", &stat);
    print_row("chance", &chance);
    double mp = mean_pos(x), pf = halo_predictor_flops(ch->p);
    summary equal = summarise(x, x->chance_ffn_acc, x->equal_attn_acc);
    (void)printf("(static: one fixed ranking per layer, the mean oracle score on the fit stories;\n"
                 " chance: k / groups; attention scored equally (--attn none): %.3f %.3f %.3f.)\n"
                 "Oracle mass in the predicted top k at 80%%: FFN G=16 %.3f, attention %.3f.\n\n",
                 equal.attn[0], equal.attn[1], equal.attn[2], mean.ffn_mass[1][1],
                 mean.attn_mass[1]);
    (void)printf("cost per layer: %.0f multiply-adds = %.1f%% of the layer's %.0f (projections "
                 "and FFN), %.1f%% with attention over the mean %.0f positions;\n"
                 "measured: scoring takes %.1f%% of the time of the blocks it scores, FFN "
                 "scoring %.1f%% of the FFN block's\n(per layer and position: attention block "
                 "%.0f ns, FFN block %.0f ns, scoring %.0f ns; %ld positions x %d layers)\n",
                 pf, 100 * pf / layer_macs(x, 0), layer_macs(x, 0), 100 * pf / layer_macs(x, mp),
                 mp, 100 * time_ratio(x, ch), 100 * ffn_time_ratio(x, ch),
                 per_layer_ns(x, x->block_ns[HALO_PHASE_ATTN]),
                 per_layer_ns(x, x->block_ns[HALO_PHASE_FFN]),
                 per_layer_ns(x, ch->score_ns[0] + ch->score_ns[1]), x->tokens[2], x->n_layers);
    if (!o->compare)
        return;
    (void)printf("\nComparison (mean over layers; MACs per layer; time = scoring / blocks):\n");
    print_header(x, "method");
    for (int i = 0; i < x->n_cands; i++) {
        const cand *k = &x->cands[i];
        summary s = summarise(x, k->ffn_acc, k->attn_acc);
        char label[32];
        (void)snprintf(label, sizeof label, "%s", METHOD_NAMES[k->method]);
        (void)printf("r=%-3d ", k->rank);
        print_row(label, &s);
        double f = halo_predictor_flops(k->p);
        (void)printf("%14s attention %s; MACs %.0f = %.1f%% (%.1f%% with attention), time "
                     "%.1f%% (FFN %.1f%%)\n",
                     "", attn_name(k->flags), f, 100 * f / layer_macs(x, 0),
                     100 * f / layer_macs(x, mp), 100 * time_ratio(x, k),
                     100 * ffn_time_ratio(x, k));
    }
}

static void json_summary(const summary *s) {
    (void)printf("{\"ffn\": {");
    for (int g = 0; g < N_SIZES; g++) {
        (void)printf("%s\"%d\": [", g ? ", " : "", SIZES[g]);
        for (int t = 0; t < N_TAUS; t++)
            (void)printf("%s%.4f", t ? ", " : "", s->ffn[g][t]);
        (void)printf("]");
    }
    (void)printf("}, \"attn\": [");
    for (int t = 0; t < N_TAUS; t++)
        (void)printf("%s%.4f", t ? ", " : "", s->attn[t]);
    (void)printf("], \"ffn_mass_80\": [");
    for (int g = 0; g < N_SIZES; g++)
        (void)printf("%s%.4f", g ? ", " : "", s->ffn_mass[g][1]);
    (void)printf("], \"attn_mass_80\": %.4f}", s->attn_mass[1]);
}

static void print_json(const cal *x, const cal_opts *o, const char *out, uint64_t bytes) {
    const cand *ch = &x->cands[x->chosen];
    double mp = mean_pos(x);
    (void)printf("{\"text\": ");
    halo_cli_print_json_string(stdout, o->file);
    (void)printf(", \"out\": ");
    halo_cli_print_json_string(stdout, out);
    (void)printf(", \"bytes\": %llu, \"stories\": %ld, \"fit_stories\": [%ld, %ld], "
                 "\"heldout_stories\": [1, %ld], \"fit_positions\": %ld, "
                 "\"heldout_positions\": %ld, \"method\": \"%s\", \"rank\": %d, \"attn\": \"%s\", "
                 "\"taus\": [0.5, 0.8, 0.9], \"group_sizes\": [%d, %d, %d], \"layers\": [",
                 (unsigned long long)bytes, x->n_stories, x->held + 1, x->n_stories, x->held,
                 x->tokens[1], x->tokens[2], METHOD_NAMES[ch->method], ch->rank,
                 attn_name(ch->flags), x->groups[0].ffn_size, x->groups[1].ffn_size,
                 x->groups[2].ffn_size);
    for (int l = 0; l < x->n_layers; l++) {
        summary s;
        memset(&s, 0, sizeof s);
        for (int t = 0; t < N_TAUS; t++) {
            for (int g = 0; g < N_SIZES; g++) {
                s.ffn[g][t] = acc_recall(&ch->ffn_acc[l * N_SIZES + g], t);
                s.ffn_mass[g][t] = acc_mass(&ch->ffn_acc[l * N_SIZES + g], t);
            }
            s.attn[t] = acc_recall(&ch->attn_acc[l], t);
            s.attn_mass[t] = acc_mass(&ch->attn_acc[l], t);
        }
        (void)printf("%s", l ? ", " : "");
        json_summary(&s);
    }
    summary mean = summarise(x, ch->ffn_acc, ch->attn_acc);
    summary stat = summarise(x, x->static_ffn_acc, x->static_attn_acc);
    summary chance = summarise(x, x->chance_ffn_acc, x->chance_attn_acc);
    summary equal = summarise(x, x->chance_ffn_acc, x->equal_attn_acc);
    (void)printf("], \"mean\": ");
    json_summary(&mean);
    (void)printf(", \"static\": ");
    json_summary(&stat);
    (void)printf(", \"chance\": ");
    json_summary(&chance);
    (void)printf(", \"equal_attn\": [%.4f, %.4f, %.4f]", equal.attn[0], equal.attn[1],
                 equal.attn[2]);
    double pf = halo_predictor_flops(ch->p);
    (void)printf(", \"cost\": {\"predictor_macs\": %.0f, \"layer_macs\": %.0f, "
                 "\"mean_positions\": %.1f, \"layer_macs_with_attention\": %.0f, "
                 "\"flops_fraction\": %.4f, \"flops_fraction_with_attention\": %.4f, "
                 "\"time_ratio\": %.4f, \"ffn_time_ratio\": %.4f, \"attn_block_ns\": %.1f, "
                 "\"ffn_block_ns\": %.1f, \"score_ns\": %.1f}",
                 pf, layer_macs(x, 0), mp, layer_macs(x, mp), pf / layer_macs(x, 0),
                 pf / layer_macs(x, mp), time_ratio(x, ch), ffn_time_ratio(x, ch),
                 per_layer_ns(x, x->block_ns[HALO_PHASE_ATTN]),
                 per_layer_ns(x, x->block_ns[HALO_PHASE_FFN]),
                 per_layer_ns(x, ch->score_ns[0] + ch->score_ns[1]));
    if (o->compare) {
        (void)printf(", \"compare\": [");
        for (int i = 0; i < x->n_cands; i++) {
            const cand *k = &x->cands[i];
            summary s = summarise(x, k->ffn_acc, k->attn_acc);
            double f = halo_predictor_flops(k->p);
            (void)printf("%s{\"method\": \"%s\", \"rank\": %d, \"attn\": \"%s\", "
                         "\"macs\": %.0f, \"flops_fraction\": %.4f, \"time_ratio\": %.4f, "
                         "\"ffn_time_ratio\": %.4f, \"recall\": ",
                         i ? ", " : "", METHOD_NAMES[k->method], k->rank, attn_name(k->flags), f,
                         f / layer_macs(x, 0), time_ratio(x, k), ffn_time_ratio(x, k));
            json_summary(&s);
            (void)printf("}");
        }
        (void)printf("]");
    }
    (void)printf("}\n");
}

/* ==== The command ==== */

static int add_cand(cal *x, int method, int rank, int flags) {
    for (int i = 0; i < x->n_cands; i++)
        if (x->cands[i].method == method && x->cands[i].rank == rank && x->cands[i].flags == flags)
            return i;
    HALO_ASSERT(x->n_cands < MAX_CANDS);
    x->cands[x->n_cands] = (cand){.method = method, .rank = rank, .flags = flags};
    return x->n_cands++;
}

static int calibrate(cal *x, const cal_opts *o, const halo_tokenizer *tok, const char *text,
                     const char *out, uint64_t *bytes, halo_err *err) {
    /* Count the stories (tokenization only). */
    halo_eval_config ec = {.tok = tok,
                           .seq_len = x->c->seq_len,
                           .vocab_size = x->c->vocab_size,
                           .max_stories = o->max_stories,
                           .forward = count_cb,
                           .forward_ctx = x};
    halo_eval_result r;
    int rc = halo_eval_text(&ec, text, &r, err);
    if (rc != HALO_OK)
        return rc;
    x->n_stories = r.stories;
    if (x->n_stories < 2)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: %ld stor%s; at least 2 are needed (one to fit, one to measure)",
                         o->file, x->n_stories, x->n_stories == 1 ? "y" : "ies");
    long held = o->fit_from ? o->fit_from - 1 : lround(0.7 * (double)x->n_stories);
    if (held < 1)
        held = 1;
    if (held >= x->n_stories) {
        if (o->fit_from) {
            x->usage_error = 1;
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "--fit-from: %ld leaves no story to fit on (%s has %ld)", o->fit_from,
                             o->file, x->n_stories);
        }
        held = x->n_stories - 1;
    }
    x->held = held;
    /* Pass 1: statistics of the fit stories. */
    rc = run_pass(x, tok, text, 1, held, x->n_stories, err);
    if (rc != HALO_OK)
        return rc;
    if (x->tokens[1] == 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: the fit stories hold no position", o->file);
    /* The candidates: the chosen predictor, and with --compare every method and rank. */
    int max_rank = x->dim < x->hidden ? x->dim : x->hidden;
    x->chosen = add_cand(x, o->method, (int)o->rank, ATTN_FLAGS[o->attn]);
    if (o->compare)
        for (int m = 0; m < METHOD_COUNT_; m++)
            for (size_t i = 0; i < sizeof COMPARE_RANKS / sizeof COMPARE_RANKS[0]; i++)
                (void)add_cand(x, m, COMPARE_RANKS[i] < max_rank ? COMPARE_RANKS[i] : max_rank,
                               HALO_PREDICTOR_ATTN);
    char dir[4096];
    const char *tmp = getenv("TMPDIR");
    (void)snprintf(dir, sizeof dir, "%s/halo-calibrate-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    for (int i = 0; rc == HALO_OK && i < x->n_cands; i++) {
        rc = fit_cand(x, &x->cands[i], err);
        if (rc == HALO_OK)
            rc = load_cand(x, &x->cands[i], dir, i, err);
    }
    (void)rmdir(dir);
    if (rc != HALO_OK)
        return rc;
    /* Pass 2: measurement on the held-out stories. */
    x->clock_ns = clock_cost_ns();
    rc = run_pass(x, tok, text, 2, 0, held, err);
    if (rc != HALO_OK)
        return rc;
    halo_predictor_factors f = factors_of(&x->cands[x->chosen]);
    rc = halo_predictor_write(out, x->model, &f, err);
    *bytes = halo_predictor_file_bytes(x->c, f.rank, f.flags);
    return rc;
}

int halo_cmd_calibrate(int argc, char **argv) {
    halo_err err = {0};
    cal_opts o;
    int rc = parse(argc, argv, &o, &err);
    int status = halo_cli_after_parse(rc, "calibrate", usage, &err);
    if (status >= 0)
        return status;
    gsl_set_error_handler_off(); /* GSL reports through return codes, never aborts */
    char mbuf[4096], tbuf[4096], obuf[4096];
    const char *model_path =
        o.model ? o.model : halo_cli_bundled_path("stories260K.bin", mbuf, sizeof mbuf);
    const char *tok_path =
        o.tokenizer ? o.tokenizer : halo_cli_bundled_path("tok512.bin", tbuf, sizeof tbuf);
    const char *out = o.out ? o.out : default_out(model_path, obuf, sizeof obuf);
    halo_model *model = NULL;
    halo_tokenizer *tok = NULL;
    char *text = NULL;
    cal x;
    memset(&x, 0, sizeof x);
    uint64_t bytes = 0;
    int usage_error = 0;
    rc = halo_model_load(&model, model_path, &err);
    if (rc == HALO_OK) {
        const halo_model_config *c = halo_model_get_config(model);
        int max_rank = c->dim < c->hidden_dim ? c->dim : c->hidden_dim;
        if (o.rank > max_rank) {
            rc = HALO_FAIL(&err, HALO_ERR_ARG,
                           "--rank: %ld is out of range 1..%d (min(dim, hidden_dim) of %s)", o.rank,
                           max_rank, model_path);
            usage_error = 1;
        }
    }
    if (rc == HALO_OK)
        rc = halo_tokenizer_load(&tok, tok_path, halo_model_get_config(model)->vocab_size, &err);
    if (rc == HALO_OK)
        rc = check_out(out, &err);
    if (rc == HALO_OK)
        rc = read_text(o.file, &text, &err);
    if (rc == HALO_OK)
        rc = cal_init(&x, model, &err);
    if (rc == HALO_OK) {
        x.show_progress = isatty(STDERR_FILENO);
        rc = calibrate(&x, &o, tok, text, out, &bytes, &err);
        usage_error = x.usage_error;
    }
    if (rc == HALO_OK) {
        if (o.json)
            print_json(&x, &o, out, bytes);
        else
            print_text(&x, &o, out, bytes);
    }
    cal_free(&x);
    free(text);
    halo_tokenizer_free(tok);
    halo_model_free(model);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        if (usage_error)
            (void)fprintf(stderr, "Try 'halo calibrate --help'.\n");
        return usage_error ? HALO_EXIT_USAGE : HALO_EXIT_FAIL;
    }
    return HALO_EXIT_OK;
}
