/*
 * The simulator's trace (sim/trace.h, `halo sim --trace`): the file is valid trace-event JSON
 * (parsed here by a small strict JSON reader, then every event checked against the format:
 * required fields, phase types, X durations that nest on each thread, B/E pairs), a lost
 * segment's retransmission shows in a lossy run, the cap bounds the file and counts the rest,
 * and tracing changes nothing simulated.
 */
#define _POSIX_C_SOURCE 200809L

#include "sim/scenario.h"
#include "sim/sim.h"
#include "sim/simrun.h"
#include "sim/trace.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ==== A small strict JSON reader ==== */

enum {
    J_NULL,
    J_BOOL,
    J_NUM,
    J_STR,
    J_ARR,
    J_OBJ
};

typedef struct jv {
    int type;
    double num;
    char *str;        /* J_STR */
    struct jv **item; /* J_ARR, J_OBJ: (n) values */
    char **key;       /* J_OBJ: (n) keys */
    int n;
} jv;

typedef struct jp {
    const char *s;
    int bad;
} jp;

static void ws(jp *p) {
    while (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' || *p->s == '\r')
        p->s++;
}

static jv *jnew(int type) {
    jv *v = calloc(1, sizeof *v);
    ASSERT(v != NULL);
    v->type = type;
    return v;
}

static char *jstring(jp *p) {
    if (*p->s != '"') {
        p->bad = 1;
        return NULL;
    }
    p->s++;
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    ASSERT(out != NULL);
    while (*p->s && *p->s != '"') {
        char c = *p->s++;
        if ((unsigned char)c < 0x20) {
            p->bad = 1; /* control characters must be escaped */
            break;
        }
        if (c == '\\') {
            c = *p->s++;
            if (!strchr("\"\\/bfnrtu", c) || c == '\0') {
                p->bad = 1;
                break;
            }
            if (c == 'u')
                p->s += 4;
        }
        if (n + 2 > cap) {
            cap *= 2;
            char *grown = realloc(out, cap);
            ASSERT(grown != NULL); /* a failure aborts the test: nothing to free */
            out = grown;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    if (*p->s != '"')
        p->bad = 1;
    else
        p->s++;
    return out;
}

static jv *jvalue(jp *p);

static void jpush(jv *v, char *key, jv *item) {
    jv **items = realloc(v->item, (size_t)(v->n + 1) * sizeof *v->item);
    ASSERT(items != NULL);
    v->item = items;
    if (v->type == J_OBJ) {
        char **keys = realloc(v->key, (size_t)(v->n + 1) * sizeof *v->key);
        ASSERT(keys != NULL);
        v->key = keys;
        v->key[v->n] = key;
    }
    v->item[v->n++] = item;
}

static jv *jcontainer(jp *p, int type) {
    jv *v = jnew(type);
    char close = type == J_ARR ? ']' : '}';
    p->s++;
    ws(p);
    if (*p->s == close) {
        p->s++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        ws(p);
        if (type == J_OBJ) {
            key = jstring(p);
            ws(p);
            if (*p->s++ != ':')
                p->bad = 1;
        }
        jpush(v, key, jvalue(p));
        ws(p);
        if (p->bad)
            return v;
        if (*p->s == ',') {
            p->s++;
            continue;
        }
        if (*p->s == close) {
            p->s++;
            return v;
        }
        p->bad = 1; /* a trailing comma or garbage */
        return v;
    }
}

static jv *jvalue(jp *p) {
    ws(p);
    char c = *p->s;
    if (c == '{')
        return jcontainer(p, J_OBJ);
    if (c == '[')
        return jcontainer(p, J_ARR);
    if (c == '"') {
        jv *v = jnew(J_STR);
        v->str = jstring(p);
        return v;
    }
    if (strncmp(p->s, "true", 4) == 0 || strncmp(p->s, "false", 5) == 0) {
        p->s += c == 't' ? 4 : 5;
        return jnew(J_BOOL);
    }
    if (strncmp(p->s, "null", 4) == 0) {
        p->s += 4;
        return jnew(J_NULL);
    }
    char *end;
    jv *v = jnew(J_NUM);
    v->num = strtod(p->s, &end);
    if (end == p->s || c == '+' || c == '.')
        p->bad = 1;
    p->s = end;
    return v;
}

static void jfree(jv *v) {
    if (!v)
        return;
    for (int i = 0; i < v->n; i++) {
        jfree(v->item[i]);
        if (v->key)
            free(v->key[i]);
    }
    free(v->item);
    free(v->key);
    free(v->str);
    free(v);
}

static const jv *jget(const jv *o, const char *key) {
    for (int i = 0; o && o->type == J_OBJ && i < o->n; i++)
        if (strcmp(o->key[i], key) == 0)
            return o->item[i];
    return NULL;
}

static jv *jparse_file(const char *path) {
    size_t len;
    char *buf = (char *)tu_read_file(path, &len); /* NUL-terminated */
    ASSERT(len > 0);
    jp p = {.s = buf};
    jv *v = jvalue(&p);
    ws(&p);
    if (p.bad || *p.s != '\0')
        TEST_FAIL_AT("%s: not valid JSON near offset %ld", path, (long)(p.s - buf));
    free(buf);
    return v;
}

/* ==== The trace-event format ==== */

typedef struct span {
    double ts, end;
    int pid, tid;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid - y->pid;
    if (x->tid != y->tid)
        return x->tid - y->tid;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->end > y->end ? -1 : x->end < y->end; /* the enclosing span first */
}

/*
 * Checks every event of the trace-event JSON object `doc`: name (string), ph (one of the
 * format's phases), pid and tid (integers), ts (number >= 0) except metadata, dur >= 0 for
 * X, s in t/p/g for instants, args an object when present; B/E balanced per thread; X spans
 * of one thread nested or disjoint (what viewers draw). Returns the events array.
 */
static const jv *check_trace_format(const jv *doc) {
    ASSERT_EQ(doc->type, J_OBJ);
    const jv *ev = jget(doc, "traceEvents");
    ASSERT(ev != NULL);
    ASSERT_EQ(ev->type, J_ARR);
    span *spans = calloc((size_t)ev->n + 1, sizeof *spans);
    ASSERT(spans != NULL);
    int n_spans = 0, open_b[64][8] = {{0}};
    for (int i = 0; i < ev->n; i++) {
        const jv *e = ev->item[i], *name = jget(e, "name"), *ph = jget(e, "ph");
        const jv *pid = jget(e, "pid"), *tid = jget(e, "tid"), *ts = jget(e, "ts");
        ASSERT_EQ(e->type, J_OBJ);
        ASSERT(name && name->type == J_STR && name->str[0]);
        ASSERT(ph && ph->type == J_STR && strlen(ph->str) == 1);
        ASSERT(strchr("BEXiIMCbnesftPONDRc", ph->str[0]) != NULL);
        ASSERT(pid && pid->type == J_NUM && pid->num == (double)(long)pid->num);
        ASSERT(tid && tid->type == J_NUM && tid->num == (double)(long)tid->num);
        const jv *args = jget(e, "args");
        ASSERT(!args || args->type == J_OBJ);
        char c = ph->str[0];
        if (c == 'M') {
            ASSERT(args != NULL); /* metadata carries its value in args */
            continue;
        }
        ASSERT(ts && ts->type == J_NUM && ts->num >= 0);
        int p = (int)pid->num, t = (int)tid->num;
        ASSERT(p >= 0 && p < 64 && t >= 0 && t < 8);
        if (c == 'X') {
            const jv *dur = jget(e, "dur");
            ASSERT(dur && dur->type == J_NUM && dur->num >= 0);
            spans[n_spans++] = (span){.ts = ts->num, .end = ts->num + dur->num, .pid = p, .tid = t};
        } else if (c == 'i' || c == 'I') {
            const jv *s = jget(e, "s");
            ASSERT(!s || (s->type == J_STR && strchr("tpg", s->str[0])));
        } else if (c == 'B') {
            open_b[p][t]++;
        } else if (c == 'E') {
            ASSERT(open_b[p][t] > 0); /* an E closes a B of its own thread */
            open_b[p][t]--;
        }
    }
    for (int p = 0; p < 64; p++)
        for (int t = 0; t < 8; t++)
            ASSERT_EQ(open_b[p][t], 0);
    /* X spans of one thread: each one inside the enclosing one or after it ends */
    qsort(spans, (size_t)n_spans, sizeof *spans, span_cmp);
    double stack[64];
    int depth = 0;
    for (int i = 0; i < n_spans; i++) {
        if (i > 0 && (spans[i].pid != spans[i - 1].pid || spans[i].tid != spans[i - 1].tid))
            depth = 0;
        /* times are microseconds written to the nanosecond: ts + dur is exact to rounding,
           so ends and starts compare within half a nanosecond */
        while (depth > 0 && spans[i].ts >= stack[depth - 1] - 0.0005)
            depth--;
        if (depth > 0 && spans[i].end > stack[depth - 1] + 0.0005)
            TEST_FAIL_AT("pid %d tid %d: span [%.3f, %.3f] overlaps its enclosing span ending "
                         "at %.3f",
                         spans[i].pid, spans[i].tid, spans[i].ts, spans[i].end, stack[depth - 1]);
        ASSERT(depth < 64);
        stack[depth++] = spans[i].end;
    }
    free(spans);
    return ev;
}

static int count_named(const jv *ev, const char *name) {
    int n = 0;
    for (int i = 0; i < ev->n; i++)
        n += strcmp(jget(ev->item[i], "name")->str, name) == 0;
    return n;
}

/* ==== Worlds ==== */

static void world_init(tu_star *w, long trace_max) {
    halo_device_profile dev = {
        .flops_per_s = 1e9, .mem_bw_bps = 1e9, .send_ns = 20000, .recv_ns = 20000};
    halo_link_spec link = {
        .bandwidth_bps = 1e9, .latency_ns = 100000, .mtu_bytes = 1500, .header_bytes = 66};
    tu_star_init(w, 3, HALO_DELIVERY_STREAM, dev, link, 11);
    for (int i = 1; i < 3; i++)
        w->up[i].loss = w->down[i].loss = (halo_loss_spec){.model = HALO_LOSS_BERNOULLI, .p = 0.05};
    w->cfg.trace_max_events = trace_max;
}

static int idle(void *arg) {
    (void)arg;
    return 0;
}

static void on_recv(void *ctx, int src, const void *msg, size_t len) {
    (void)src;
    (void)msg;
    (void)len;
    (*(int *)ctx)++;
}

/* Workers 1 and 2 compute and send 100 messages each to node 0, which computes on each. */
static halo_transport *run_world(tu_star *w, int *received) {
    halo_transport *t = tu_sim_new(&w->cfg);
    ASSERT_OK(t->ops->attach(t, 0, on_recv, received, NULL));
    unsigned char msg[6000] = {0};
    halo_cost c = {.flops = 2e5};
    for (int i = 0; i < 100; i++)
        for (int d = 1; d < 3; d++) {
            t->ops->charge(t, d, &c);
            ASSERT_OK(t->ops->send(t, d, 0, msg, (size_t)(1000 + (i * 131) % 5000), NULL));
        }
    ASSERT_EQ(t->ops->run(t, idle, NULL, NULL), HALO_ERR_AGAIN);
    return t;
}

static void write_trace(halo_transport *t, const char *path) {
    halo_err err = {0};
    const char *names[3] = {"device 0 (root): \"quoted\"", NULL, "device 2"};
    ASSERT_OK_ERR(halo_sim_trace_write(t, path, names, &err), err);
}

static void tmp_path(char *buf, size_t cap, const char *name) {
    const char *dir = getenv("TMPDIR");
    (void)snprintf(buf, cap, "%s/halo-test-trace-%ld-%s.json", dir && *dir ? dir : "/tmp",
                   (long)getpid(), name);
}

/* ==== Cases ==== */

static void trace_is_trace_event_json_and_shows_a_lost_segment_retransmitted(void) {
    tu_star w;
    world_init(&w, HALO_TRACE_DEFAULT_MAX_EVENTS);
    int received = 0;
    halo_transport *t = run_world(&w, &received);
    ASSERT_EQ(received, 200);
    ASSERT(t->ops->trace != NULL);
    char path[512];
    tmp_path(path, sizeof path, "lossy");
    write_trace(t, path);
    jv *doc = jparse_file(path);
    const jv *ev = check_trace_format(doc);
    ASSERT_EQ(strcmp(jget(doc, "displayTimeUnit")->str, "ms"), 0);
    ASSERT_EQ(jget(jget(doc, "otherData"), "dropped_events")->num, 0);
    /* per device: named, its tracks named */
    ASSERT_EQ(count_named(ev, "process_name"), 3);
    ASSERT_EQ(count_named(ev, "thread_name"), 3 * 5);
    ASSERT_EQ(count_named(ev, "compute"), 200);
    ASSERT_EQ(count_named(ev, "send"), 200);
    ASSERT_EQ(count_named(ev, "recv"), 200);
    /* a segment lost on its way from a worker, then retransmitted: same sender, receiver and
       sequence number, later */
    int pairs = 0;
    for (int i = 0; i < ev->n; i++) {
        const jv *e = ev->item[i];
        if (strcmp(jget(e, "name")->str, "segment lost") != 0 || jget(e, "pid")->num == 0)
            continue;
        const jv *a = jget(e, "args");
        for (int k = i + 1; k < ev->n; k++) {
            const jv *r = ev->item[k], *ra = jget(r, "args");
            if (strcmp(jget(r, "name")->str, "retransmit") == 0 &&
                jget(r, "pid")->num == jget(e, "pid")->num &&
                jget(ra, "peer")->num == jget(a, "peer")->num &&
                jget(ra, "value")->num == jget(a, "value")->num) {
                ASSERT(jget(r, "ts")->num >= jget(e, "ts")->num);
                ASSERT_EQ(jget(r, "tid")->num, HALO_TRACE_NET);
                pairs++;
                break;
            }
        }
    }
    ASSERT(pairs > 0);
    halo_sim_node_stats st;
    halo_sim_get_stats(t, 1, &st);
    ASSERT(st.retransmits > 0);
    ASSERT(count_named(ev, "retransmit") >= (int)st.retransmits); /* every one is there */
    jfree(doc);
    ASSERT_EQ(remove(path), 0);
    halo_transport_free(t);
}

static void tracing_changes_nothing_simulated(void) {
    tu_star a, b;
    world_init(&a, 0);
    world_init(&b, HALO_TRACE_DEFAULT_MAX_EVENTS);
    int ra = 0, rb = 0;
    halo_transport *ta = run_world(&a, &ra), *tb = run_world(&b, &rb);
    ASSERT(ta->ops->trace == NULL); /* untraced: core's trace notes cost one test */
    ASSERT_EQ(ra, rb);
    ASSERT_EQ(ta->ops->now_ns(ta, 0), tb->ops->now_ns(tb, 0));
    ASSERT_EQ(halo_sim_events(ta), halo_sim_events(tb));
    for (int d = 0; d < 3; d++) {
        halo_sim_node_stats sa, sb;
        halo_sim_get_stats(ta, d, &sa);
        halo_sim_get_stats(tb, d, &sb);
        ASSERT_EQ(memcmp(&sa, &sb, sizeof sa), 0);
    }
    halo_err err = {0};
    ASSERT_EQ(halo_sim_trace_write(ta, "/nonexistent/x.json", NULL, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "keeps no trace");
    ASSERT_EQ(halo_sim_trace_write(tb, "/nonexistent/x.json", NULL, &err), HALO_ERR_IO);
    ASSERT_STR_CONTAINS(err.msg, "/nonexistent/x.json");
    halo_transport_free(ta);
    halo_transport_free(tb);
}

static void the_cap_bounds_the_trace_and_counts_the_rest(void) {
    tu_star w;
    world_init(&w, 50);
    int received = 0;
    halo_transport *t = run_world(&w, &received);
    char path[512];
    tmp_path(path, sizeof path, "cap");
    write_trace(t, path);
    jv *doc = jparse_file(path);
    const jv *ev = check_trace_format(doc);
    const jv *other = jget(doc, "otherData");
    ASSERT_EQ(jget(other, "events")->num, 50);
    ASSERT_EQ(jget(other, "max_events")->num, 50);
    ASSERT(jget(other, "dropped_events")->num > 500);
    ASSERT_EQ(ev->n, 50 + 3 * 7 + 1); /* the events, metadata per device, the closing entry */
    jfree(doc);
    ASSERT_EQ(remove(path), 0);
    halo_transport_free(t);
    halo_trace *tr = NULL;
    halo_err err = {0};
    ASSERT_EQ(halo_trace_new(&tr, 2, 0, &err), HALO_ERR_ARG);
    ASSERT(tr == NULL);
}

/* A host shared by three devices (2 cores, host_mem_bw_bps): each charged a segment of 1 ms
   alone at time 0, in order. The later ones slow the first ones down after they were charged;
   every compute span shows the planned segment, all three 0 to 2 ms (test_sim,
   a_shared_host_splits_its_memory_bandwidth), not the 1 and 1.33 ms known when the first two
   were charged. */
static void a_shared_hosts_compute_spans_show_the_planned_segments(void) {
    tu_star w;
    world_init(&w, HALO_TRACE_DEFAULT_MAX_EVENTS);
    for (int i = 0; i < 3; i++) {
        w.dev[i].host = 1;
        w.dev[i].cores = 2;
        w.dev[i].host_mem_bw_bps = 1.5e9;
    }
    halo_transport *t = tu_sim_new(&w.cfg);
    halo_cost cost = {.bytes = 1e6};
    for (int i = 0; i < 3; i++)
        t->ops->charge(t, i, &cost);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(t->ops->now_ns(t, i), 2000000);
    char path[512];
    tmp_path(path, sizeof path, "shared");
    write_trace(t, path);
    jv *doc = jparse_file(path);
    const jv *ev = check_trace_format(doc);
    ASSERT_EQ(count_named(ev, "compute"), 3);
    for (int i = 0; i < ev->n; i++) {
        const jv *e = ev->item[i];
        if (strcmp(jget(e, "name")->str, "compute") != 0)
            continue;
        ASSERT(fabs(jget(e, "ts")->num) < 1e-6);
        ASSERT(fabs(jget(e, "dur")->num - 2000.0) < 1e-6); /* microseconds */
    }
    jfree(doc);
    ASSERT_EQ(remove(path), 0);
    halo_transport_free(t);
}

/* A whole simulated run (tiny-loss at 5%: the bundled model, relaxed syncs over datagrams)
   through halo_simrun_with: the same format, the root's waits and deadlines in it, and the
   same results as without the trace. */
static void a_simulated_runs_trace_has_the_roots_waits_and_deadlines(void) {
    halo_scenario *sc = NULL;
    halo_err err = {0};
    ASSERT_OK_ERR(halo_scenario_load(&sc, tu_src_path("scenarios/tiny-loss.yaml"), 2, &err), err);
    char path[512];
    tmp_path(path, sizeof path, "run");
    halo_simrun_output o = {.trace_path = path};
    halo_sim_result plain, traced;
    ASSERT_OK(halo_simrun(sc, 0, &plain, &err));
    ASSERT_OK_ERR(halo_simrun_with(sc, 0, &o, &traced, &err), err);
    ASSERT_EQ(plain.n_tokens, traced.n_tokens);
    for (int i = 0; i < plain.n_tokens; i++)
        ASSERT_EQ(plain.tokens[i].time_ns, traced.tokens[i].time_ns);
    ASSERT_EQ(plain.missing, traced.missing);
    ASSERT_EQ(plain.events, traced.events);
    jv *doc = jparse_file(path);
    const jv *ev = check_trace_format(doc);
    ASSERT(count_named(ev, "wait") > 0);
    ASSERT(count_named(ev, "deadline armed") > 0);
    ASSERT(count_named(ev, "deadline passed") > 0);
    ASSERT(count_named(ev, "datagram lost") > 0);
    ASSERT(count_named(ev, "message lost") > 0);
    int named_root = 0;
    for (int i = 0; i < ev->n; i++) {
        const jv *a = jget(ev->item[i], "args"), *n = a ? jget(a, "name") : NULL;
        named_root += n && n->type == J_STR && strcmp(n->str, "device 0 (root): rpi4b") == 0;
    }
    ASSERT_EQ(named_root, 1);
    jfree(doc);
    ASSERT_EQ(remove(path), 0);
    halo_sim_result_free(&plain);
    halo_sim_result_free(&traced);
    halo_scenario_free(sc);
}

TEST_MAIN(TEST(trace_is_trace_event_json_and_shows_a_lost_segment_retransmitted),
          TEST(a_simulated_runs_trace_has_the_roots_waits_and_deadlines),
          TEST(tracing_changes_nothing_simulated),
          TEST(a_shared_hosts_compute_spans_show_the_planned_segments),
          TEST(the_cap_bounds_the_trace_and_counts_the_rest))
