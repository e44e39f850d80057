/*
 * The results database (results/db.h): opening with version checks, one transaction per
 * run, merging, the summary per scenario. SQLite result codes become halo statuses here.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/db.h"

#include "core/grow.h"
#include "core/importance.h"
#include "halo_git_rev.h"
#include "halo_schema_sql.h"
#include "results/db_internal.h"
#include "results/sha256.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct halo_db {
    sqlite3 *db;
    char *path;
    int read_only;    /* opened with HALO_DB_READ */
    int out_of_space; /* a write failed for want of space (halo_db_out_of_space) */
};

/*
 * Migrations from version v to v + 1 (entry v - 1), applied in order by HALO_DB_MIGRATE inside
 * one transaction. An entry is SQL, or SCHEMA_SECTION: run the section of schema.sql that
 * version v + 1 added, from its line "-- ==== Version <v + 1>" to the next such line. That is
 * right while the version only added objects and schema.sql still creates them as it did (so
 * a migrated database has exactly a new one's schema, which tests/test_results_db.c checks);
 * a later change to one of them must first freeze its version's entry as SQL text here.
 */
#define SCHEMA_SECTION ""
static const char *const migrations[] = {
    SCHEMA_SECTION, /* 1 -> 2: measured runs (measured_run, measured_token, views measured_cell
                       and fidelity; issue 13) */
    SCHEMA_SECTION, /* 2 -> 3: view speedup (the speedup figures' queries) */
    SCHEMA_SECTION, /* 3 -> 4: run identity (run.point_hash, resolved, copied_from; issue 17) */
    SCHEMA_SECTION, /* 4 -> 5: re-plans of measured runs (measured_replan; issue 15) */
};

const char *halo_db_git_rev(void) {
    return HALO_GIT_REV;
}

const char *halo_db_schema_sql(void) {
    return (const char *)halo_schema_sql_bytes;
}

/* 1 when SQLite's last failure on `db` was for want of space: SQLITE_FULL, or an I/O error
   whose system reason is a full file system, a quota or the file-size limit. */
static int space_failure(sqlite3 *db) {
    int code = sqlite3_errcode(db) & 0xff, sys = sqlite3_system_errno(db);
    return code == SQLITE_FULL ||
           (code == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT || sys == EFBIG));
}

/* SQLite's message, with the system's reason when SQLite saw an I/O error or a full disk:
   "disk I/O error (File too large)" names a file-size limit (ulimit -f) or a full disk.
   Notes a failure for want of space (halo_db_out_of_space). */
static const char *sql_msg(halo_db *db, const char *msg, char *buf, size_t cap) {
    int code = sqlite3_errcode(db->db) & 0xff, sys = sqlite3_system_errno(db->db);
    if (!msg)
        msg = sqlite3_errmsg(db->db);
    if (space_failure(db->db))
        db->out_of_space = 1;
    struct rlimit fs;
    if ((code == SQLITE_IOERR || code == SQLITE_FULL) && sys != 0)
        (void)snprintf(buf, cap, "%s (%s)", msg, strerror(sys));
    else if ((code == SQLITE_IOERR || code == SQLITE_FULL) && getrlimit(RLIMIT_FSIZE, &fs) == 0 &&
             fs.rlim_cur != RLIM_INFINITY)
        (void)snprintf(buf, cap,
                       "%s (a full disk, or the file-size limit of %llu bytes: ulimit -f)", msg,
                       (unsigned long long)fs.rlim_cur);
    else if (code == SQLITE_FULL) /* SQLite saw the short write itself: no errno */
        (void)snprintf(buf, cap, "%s (no space left on its file system)", msg);
    else
        (void)snprintf(buf, cap, "%s", msg);
    return buf;
}

static int sql_fail(halo_db *db, halo_err *err, const char *what) {
    char m[200];
    return HALO_FAIL(err, HALO_ERR_IO, "%s: %s: %s", db->path, what,
                     sql_msg(db, NULL, m, sizeof m));
}

static int exec(halo_db *db, const char *sql, const char *what, halo_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        char m[200];
        int rc = HALO_FAIL(err, HALO_ERR_IO, "%s: %s: %s", db->path, what,
                           sql_msg(db, msg, m, sizeof m));
        sqlite3_free(msg);
        return rc;
    }
    return HALO_OK;
}

static int query_int(halo_db *db, const char *sql, long *out, halo_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = (long)sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    int code = sqlite3_extended_errcode(db->db);
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        if ((code & 0xff) == SQLITE_NOTADB)
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: not a SQLite database", db->path);
        return sql_fail(db, err, "query");
    }
    return HALO_OK;
}

/* The directory part of `path` exists (or path has none). */
static int dir_exists(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 1;
    if (slash == path)
        return 1;
    char dir[4096];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir)
        return 0;
    memcpy(dir, path, n);
    dir[n] = '\0';
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static int check_version(halo_db *db, int flags, halo_err *err) {
    long version = 0, tables = 0;
    /* one statement, so one snapshot: another process may create the schema meanwhile */
    int rc = query_int(db,
                       "SELECT (SELECT user_version FROM pragma_user_version) * 1000000000 + "
                       "(SELECT count(*) FROM sqlite_master)",
                       &tables, err);
    if (rc != HALO_OK)
        return rc;
    version = tables / 1000000000;
    tables %= 1000000000;
    if (version > HALO_DB_VERSION)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: schema version %ld is newer than this halo's %d; use a newer halo",
                         db->path, version, HALO_DB_VERSION);
    if (version == 0 && tables > 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: not a halo results database (tables but no schema version)",
                         db->path);
    if (version == 0) {
        if (!(flags & HALO_DB_CREATE))
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: empty database (no halo schema)", db->path);
        return HALO_OK;
    }
    if (version < HALO_DB_VERSION && !(flags & HALO_DB_MIGRATE))
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: schema version %ld is older than this halo's %d; run 'halo db "
                         "migrate %s' first",
                         db->path, version, HALO_DB_VERSION, db->path);
    return HALO_OK;
}

/* Applies the migration from version v to v + 1 (inside the caller's transaction). */
static int migrate_one(halo_db *db, long v, halo_err *err) {
    if (v < 1 || (size_t)v > sizeof migrations / sizeof migrations[0])
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: no migration from version %ld", db->path, v);
    const char *sql = migrations[v - 1];
    if (sql[0])
        return exec(db, sql, "migrating", err);
    char marker[48];
    (void)snprintf(marker, sizeof marker, "\n-- ==== Version %ld", v + 1);
    const char *schema = halo_db_schema_sql();
    const char *start = strstr(schema, marker);
    if (!start)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: the schema has no section for version %ld",
                         db->path, v + 1);
    const char *end = strstr(start + 1, "\n-- ==== Version ");
    size_t n = end ? (size_t)(end - start) : strlen(start);
    char *section = malloc(n + 1);
    if (!section)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", db->path);
    memcpy(section, start, n);
    section[n] = '\0';
    char what[64];
    (void)snprintf(what, sizeof what, "migrating to version %ld", v + 1);
    int rc = exec(db, section, what, err);
    free(section);
    return rc;
}

/* Creates the schema or applies migrations, inside one write transaction (so two processes
 * that create the same database at once do it once). */
static int create_or_migrate(halo_db *db, int flags, halo_err *err) {
    int rc = exec(db, "BEGIN IMMEDIATE", "begin", err);
    if (rc != HALO_OK)
        return rc;
    long version = 0;
    rc = query_int(db, "PRAGMA user_version", &version, err);
    if (rc == HALO_OK && version == 0 && (flags & HALO_DB_CREATE)) {
        rc = exec(db, halo_db_schema_sql(), "creating the schema", err);
        char sql[64];
        (void)snprintf(sql, sizeof sql, "PRAGMA user_version = %d", HALO_DB_VERSION);
        if (rc == HALO_OK)
            rc = exec(db, sql, "setting the schema version", err);
    } else if (rc == HALO_OK && version > 0 && version < HALO_DB_VERSION) {
        for (long v = version; rc == HALO_OK && v < HALO_DB_VERSION; v++) {
            rc = migrate_one(db, v, err);
            char sql[64];
            (void)snprintf(sql, sizeof sql, "PRAGMA user_version = %ld", v + 1);
            if (rc == HALO_OK)
                rc = exec(db, sql, "setting the schema version", err);
        }
    }
    if (rc == HALO_OK)
        return exec(db, "COMMIT", "commit", err);
    (void)sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/*
 * Switches to WAL. Changing the journal mode needs the database to itself, and SQLite
 * reports "locked" at once instead of calling the busy handler when another process is in
 * it (several sweeps opening a new database together), so this retries for up to 60 s.
 */
static int set_wal(halo_db *db, halo_err *err) {
    for (int attempt = 0;; attempt++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        int wal = 0;
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            wal = mode && strcmp(mode, "wal") == 0;
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        if (rc == SQLITE_OK && wal)
            return HALO_OK;
        int code = sqlite3_errcode(db->db) & 0xff;
        if (rc != SQLITE_OK && (code == SQLITE_BUSY || code == SQLITE_LOCKED) && attempt < 6000) {
            struct timespec ts = {0, 10L * 1000 * 1000};
            (void)nanosleep(&ts, NULL);
            continue;
        }
        return rc == SQLITE_OK
                   ? HALO_FAIL(err, HALO_ERR_IO, "%s: cannot switch to WAL mode", db->path)
                   : sql_fail(db, err, "setting WAL mode");
    }
}

/* 1 when this process may write both the file at `path` and its directory (what SQLite
   needs to keep a WAL database's -wal and -shm files beside it). */
static int writable_here(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096] = ".";
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof dir)
            return 0;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return access(path, W_OK) == 0 && access(dir, W_OK) == 0;
}

/*
 * A database this process cannot write (a read-only file or directory, another user's
 * results): opened read-only through a URI. A WAL database needs its -shm file, which cannot
 * be made in a read-only directory: without a write-ahead log beside it (a writer that
 * closed cleanly leaves none) the file is complete and is read as immutable; with one, SQLite
 * reads both (mode=ro).
 */
static int open_read_only(halo_db *db, const char *path, halo_err *err) {
    char wal[4200];
    struct stat st;
    int n = snprintf(wal, sizeof wal, "%s-wal", path);
    int has_wal = n > 0 && (size_t)n < sizeof wal && stat(wal, &st) == 0 && st.st_size > 0;
    size_t len = strlen(path);
    char *uri = malloc(len * 3 + 32);
    if (!uri)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    char *u = uri + sprintf(uri, "file:");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("/-_.~", c))
            *u++ = (char)c;
        else
            u += sprintf(u, "%%%02X", c);
    }
    (void)sprintf(u, "%s", has_wal ? "?mode=ro" : "?immutable=1");
    int rc = HALO_OK;
    if (sqlite3_open_v2(uri, &db->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: cannot open read-only: %s", path,
                       db->db ? sqlite3_errmsg(db->db) : "out of memory");
    free(uri);
    return rc;
}

int halo_db_new(halo_db **out, const char *path, int flags, halo_err *err) {
    *out = NULL;
    if (!path[0])
        return HALO_FAIL(err, HALO_ERR_ARG, "the database's file name is empty");
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (!exists && !(flags & HALO_DB_CREATE))
        return HALO_FAIL(err, HALO_ERR_IO, "%s: no such database", path);
    if (!exists && !dir_exists(path))
        return HALO_FAIL(err, HALO_ERR_IO, "%s: the directory does not exist", path);
    if (exists && !S_ISREG(st.st_mode))
        return HALO_FAIL(err, HALO_ERR_IO, "%s: not a regular file", path);
    halo_db *db = calloc(1, sizeof *db);
    if (!db || !(db->path = strdup(path))) {
        free(db);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    }
    /* A read-only database is opened read-write all the same, with PRAGMA query_only: then
     * the last connection to close still removes the WAL's side files as every writer does
     * (SQLITE_OPEN_READONLY would leave -wal and -shm files behind each report). */
    int oflags = SQLITE_OPEN_READWRITE | ((flags & HALO_DB_CREATE) ? SQLITE_OPEN_CREATE : 0);
    int writer = (flags & (HALO_DB_CREATE | HALO_DB_MIGRATE)) != 0;
    int rc = HALO_OK;
    if (!writer && !writable_here(path))
        rc = open_read_only(db, path, err);
    else if (writer && exists && !writable_here(path))
        rc = HALO_FAIL(err, HALO_ERR_IO,
                       "%s: read-only (the file or its directory cannot be written); results "
                       "need a database this user can write",
                       path);
    else if (sqlite3_open_v2(path, &db->db, oflags, NULL) != SQLITE_OK)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: cannot open: %s", path,
                       db->db ? sqlite3_errmsg(db->db) : "out of memory");
    if (rc == HALO_OK) {
        (void)sqlite3_busy_timeout(db->db, 60000);
        rc = check_version(db, flags, err);
    }
    /* A reader on a full file system (issue 18): a WAL database needs its -shm file, which
     * cannot be made there; read it as a read-only directory is read, without one. */
    if (rc != HALO_OK && !writer && db->db && space_failure(db->db)) {
        (void)sqlite3_close_v2(db->db);
        db->db = NULL;
        db->out_of_space = 0;
        rc = open_read_only(db, path, err);
        if (rc == HALO_OK) {
            (void)sqlite3_busy_timeout(db->db, 60000);
            rc = check_version(db, flags, err);
        }
    }
    /* WAL: readers never block the writer, and a process killed mid-transaction leaves
     * the last committed state. synchronous=NORMAL is safe against a killed process (not
     * against power loss, which may lose the last commits but not consistency). */
    db->read_only = !writer;
    if (rc == HALO_OK && !writer)
        rc = exec(db, "PRAGMA query_only=ON", "pragmas", err);
    if (rc == HALO_OK && writer)
        rc = set_wal(db, err);
    if (rc == HALO_OK && writer)
        rc = exec(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", "pragmas", err);
    if (rc == HALO_OK && writer)
        rc = create_or_migrate(db, flags, err);
    if (rc == HALO_OK)
        rc = check_version(db, 0, err);
    if (rc != HALO_OK) {
        halo_db_free(db);
        return rc;
    }
    *out = db;
    return HALO_OK;
}

void halo_db_free(halo_db *db) {
    if (!db)
        return;
    (void)sqlite3_close_v2(db->db);
    free(db->path);
    free(db);
}

sqlite3 *halo__db_handle(halo_db *db) {
    return db->db;
}

const char *halo_db_path(const halo_db *db) {
    return db->path;
}

const char *halo__db_errmsg(halo_db *db, char *buf, size_t cap) {
    return sql_msg(db, NULL, buf, cap);
}

int halo_db_out_of_space(const halo_db *db) {
    return db->out_of_space;
}

int halo__db_writable(const halo_db *db, halo_err *err) {
    if (db->read_only)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: opened read-only", db->path);
    return HALO_OK;
}

void halo_db_now_utc(char *buf, size_t size) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    (void)gmtime_r(&ts.tv_sec, &tm);
    char s[32];
    (void)strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    (void)snprintf(buf, size, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

int halo_db_put_scenario(halo_db *db, const halo_scenario *sc, const char *hash, halo_err *err) {
    int rc = halo__db_writable(db, err);
    if (rc != HALO_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    char now[32];
    halo_db_now_utc(now, sizeof now);
    rc = sqlite3_prepare_v2(db->db,
                            "INSERT INTO scenario (hash, name, path, text, n_points, "
                            "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?6) ON "
                            "CONFLICT (hash) DO UPDATE SET last_seen = excluded.last_seen",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        (void)sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, sc->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 3, sc->path, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 4, sc->text, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 5, sc->n_points);
        (void)sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? HALO_OK : sql_fail(db, err, "scenario");
}

int halo_db_done_runs(halo_db *db, const char *hash, long n_points, int runs, unsigned char *done,
                      halo_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->db, "SELECT point, run FROM run WHERE scenario_hash = ?", -1,
                                &st, NULL);
    if (rc == SQLITE_OK) {
        (void)sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            long p = (long)sqlite3_column_int64(st, 0), r = (long)sqlite3_column_int64(st, 1);
            if (p >= 0 && p < n_points && r >= 0 && r < runs)
                done[p * runs + r] = 1;
        }
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? HALO_OK : sql_fail(db, err, "reading finished runs");
}

int halo_db_count_runs(halo_db *db, long *n, halo_err *err) {
    return query_int(db, "SELECT count(*) FROM run", n, err);
}

/* ==== Inserting a run ==== */

static const char *weights_name(int w) {
    return w == HALO_WEIGHT_Q80 ? "q80" : w == HALO_WEIGHT_Q40 ? "q40" : "f32";
}

static const char *importance_name(int i) {
    switch (i) {
    case HALO_SCORING_PREDICTOR:
        return "predictor";
    case HALO_SCORING_ORACLE:
        return "oracle";
    case HALO_SCORING_SYNTHETIC:
        return "synthetic";
    case HALO_SCORING_UNIFORM:
        return "uniform";
    default:
        return "none";
    }
}

/* Roofline speed of a device for weights of `wbytes` bytes each: weights per second. */
static double device_speed(const halo_device_profile *p, double wbytes) {
    double t = 2.0 / p->flops_per_s, m = wbytes / p->mem_bw_bps;
    return 1.0 / (t > m ? t : m);
}

static double mean_worker_loss(const halo_scenario *sc) {
    if (sc->n_devices < 2)
        return 0.0;
    double s = 0;
    for (int d = 1; d < sc->n_devices; d++)
        s += 0.5 * (halo_loss_mean(&sc->devices[d].uplink.loss) +
                    halo_loss_mean(&sc->devices[d].downlink.loss));
    return s / (sc->n_devices - 1);
}

static double speed_ratio(const halo_scenario *sc) {
    double wb = halo_weight_bytes(sc->weight_type), lo = 0, hi = 0;
    for (int d = 0; d < sc->n_devices; d++) {
        double v = device_speed(&sc->devices[d].profile, wb);
        if (d == 0 || v < lo)
            lo = v;
        if (d == 0 || v > hi)
            hi = v;
    }
    return lo > 0 ? hi / lo : 1.0;
}

/* Model identity: the checkpoint's sha256, or a hash of the shape's configuration. */
static int model_hash(const halo_scenario *sc, char hex[65], halo_err *err) {
    if (sc->model_file)
        return halo_sha256_file(sc->model_file, hex, err);
    char buf[512];
    const halo_model_config *c = &sc->shape;
    (void)snprintf(buf, sizeof buf,
                   "shape %s dim %d hidden %d layers %d heads %d kv %d vocab %d seq %d "
                   "weights %s",
                   sc->shape_name, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                   c->vocab_size, c->seq_len, weights_name(sc->weight_type));
    halo_sha256_str(buf, hex);
    return HALO_OK;
}

static void settings_json(const halo_scenario *sc, char *buf, size_t cap) {
    char engine[1536], sigma[32];
    halo_simrun_engine_json(sc, engine, sizeof engine);
    if (sc->engine.synthetic_sigma == HALO_ENGINE_SIGMA_MEASURED)
        (void)snprintf(sigma, sizeof sigma, "\"measured\"");
    else
        (void)snprintf(sigma, sizeof sigma, "%.6g", sc->engine.synthetic_sigma);
    (void)snprintf(
        buf, cap,
        "{\"baseline\": \"%s\", \"placement\": \"%s\", \"sync\": \"%s\", \"deadline_ms\": %.6g, "
        "\"critical\": \"%s\", \"encoding\": \"%s\", \"group_size\": %d, \"delivery\": \"%s\", "
        "\"importance\": \"%s\", \"tau\": %.6g, \"place_critical\": %d, "
        "\"attention_critical\": %d, \"reliable\": \"%s\", \"synthetic_sigma\": %s, "
        "\"adaptive_deadline\": %d, \"redundancy\": %d, \"deadline_min_ms\": %.6g, "
        "\"deadline_max_ms\": %.6g, \"tcp\": {\"init_cwnd\": %d, \"rto_min_ms\": %.6g, "
        "\"rto_max_ms\": %.6g, \"rto_init_ms\": %.6g, \"delack_ms\": %.6g, \"tlp\": %d, "
        "\"dupack_threshold\": %d, \"quickack_segments\": %d}, \"tokens\": %d, "
        "\"temperature\": %.6g, \"memory_budget\": %d, \"prefetch\": %d, \"simulator\": \"%s\", "
        "\"redundancy_on_loss\": %d, \"engine_settings\": %s}",
        sc->engine.baseline, sc->engine.placement ? sc->engine.placement : "equal",
        sc->engine.policy == HALO_SYNC_POLICY_RELAXED ? "relaxed" : "strict",
        (double)sc->engine.deadline_ns / 1e6, sc->engine.critical ? sc->engine.critical : "",
        sc->engine.encoding == HALO_ENCODING_Q8 ? "q8" : "f32", sc->engine.group_size,
        sc->engine.delivery == HALO_DELIVERY_STREAM ? "stream" : "datagram",
        importance_name(sc->engine.importance), sc->engine.tau, sc->engine.place_critical,
        sc->engine.attention_critical, sc->engine.reliable ? sc->engine.reliable : "", sigma,
        sc->engine.adaptive_deadline, sc->engine.redundancy,
        (double)sc->engine.deadline_min_ns / 1e6, (double)sc->engine.deadline_max_ns / 1e6,
        sc->engine.tcp.init_cwnd, (double)sc->engine.tcp.rto_min_ns / 1e6,
        (double)sc->engine.tcp.rto_max_ns / 1e6, (double)sc->engine.tcp.rto_init_ns / 1e6,
        (double)sc->engine.tcp.delack_ns / 1e6, sc->engine.tcp.tlp, sc->engine.tcp.dupack_threshold,
        sc->engine.tcp.quickack_segments, sc->tokens, (double)sc->temperature,
        sc->engine.memory_budget, sc->engine.prefetch,
        sc->engine.simulator == HALO_SIMULATOR_NS3 ? "ns3" : "sim", sc->engine.redundancy_on_loss,
        engine);
}

/* Sequential binding of one statement's parameters. */
typedef struct binder {
    sqlite3_stmt *st;
    int i;
} binder;

static void bt(binder *b, const char *s) {
    (void)sqlite3_bind_text(b->st, ++b->i, s, -1, SQLITE_TRANSIENT);
}

static void bi(binder *b, long long v) {
    (void)sqlite3_bind_int64(b->st, ++b->i, v);
}

static void bd(binder *b, double v) {
    (void)sqlite3_bind_double(b->st, ++b->i, v);
}

static double ms(uint64_t ns) {
    return (double)ns / 1e6;
}

/* Per-point columns of a run, in binding order: what identifies and describes the point
   (also rewritten when a run is copied to another point with the same identity). */
#define POINT_COLUMNS                                                                           \
    "scenario_hash, scenario_name, point, point_label, run, seed, model, model_hash, weights, " \
    "n_devices, engine, system, placement, sync, delivery, encoding, importance, tau, "         \
    "deadline_ms, adaptive_deadline, redundancy, place_critical, memory_budget, prefetch, "     \
    "settings, loss, speed_ratio, point_hash, resolved"

static const char run_sql[] =
    "INSERT INTO run (" POINT_COLUMNS ", kind, tokens, mean_ms, p50_ms, p90_ms, p99_ms, max_ms, "
    "compute_ms, stragglers_ms, network_ms, expected, missing, retransmits, timeouts, probes, "
    "msgs_lost, bytes_on_wire, events, storage_read_ms, storage_stall_ms, git_rev, host, "
    "halo_version, sqlite_version, compiler, started_at, finished_at, wall_s, packets_lost, "
    "queue_drops) VALUES (?,?,?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?,?,?, "
    "?,?,?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?,?)";

/*
 * A value as it is written with 15 significant digits: the mean loss over identical links
 * (0.05 on 7 workers) sums to 0.05000000000000001, which would break `WHERE loss = 0.05`;
 * every value written in a scenario has at most 15 significant digits, so this gives it back
 * exactly (issue 17).
 */
static double as_written(double v) {
    char s[32];
    (void)snprintf(s, sizeof s, "%.15g", v);
    return strtod(s, NULL);
}

/* Binds the POINT_COLUMNS of replication `run` of point sc. */
static int bind_point(binder *b, const halo_scenario *sc, int run, const halo_db_run_info *in,
                      halo_err *err) {
    char mhash[65], settings[4096];
    int rc = model_hash(sc, mhash, err);
    if (rc != HALO_OK)
        return rc;
    settings_json(sc, settings, sizeof settings);
    bt(b, in->scenario_hash);
    bt(b, sc->name);
    bi(b, sc->point);
    bt(b, sc->point_label);
    bi(b, run);
    bi(b, (long long)sc->seed);
    bt(b, sc->model_file ? sc->model_file : sc->shape_name);
    bt(b, mhash);
    bt(b, weights_name(sc->weight_type));
    bi(b, sc->n_devices);
    bt(b, sc->engine.simulator == HALO_SIMULATOR_NS3 ? "ns3" : "sim");
    bt(b, sc->engine.baseline[0] ? sc->engine.baseline : "custom");
    bt(b, sc->engine.placement ? sc->engine.placement : "equal");
    bt(b, sc->engine.policy == HALO_SYNC_POLICY_RELAXED ? "relaxed" : "strict");
    bt(b, sc->engine.delivery == HALO_DELIVERY_STREAM ? "stream" : "datagram");
    bt(b, sc->engine.encoding == HALO_ENCODING_Q8 ? "q8" : "f32");
    bt(b, importance_name(sc->engine.importance));
    bd(b, sc->engine.tau);
    bd(b, ms(sc->engine.deadline_ns));
    bi(b, sc->engine.adaptive_deadline);
    bi(b, sc->engine.redundancy);
    bi(b, sc->engine.place_critical);
    bi(b, sc->engine.memory_budget);
    bi(b, sc->engine.prefetch);
    bt(b, settings);
    bd(b, as_written(mean_worker_loss(sc)));
    bd(b, speed_ratio(sc));
    bt(b, in->point_hash ? in->point_hash : "");
    bt(b, in->resolved ? in->resolved : "");
    return HALO_OK;
}

static int insert_main(halo_db *db, const halo_scenario *sc, int run, const halo_db_run_info *in,
                       const halo_sim_result *r, int *dup, halo_err *err) {
    char host[256] = "unknown";
    (void)gethostname(host, sizeof host - 1);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db, run_sql, -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, err, "run");
    binder b = {st, 0};
    int rc = bind_point(&b, sc, run, in, err);
    if (rc != HALO_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    bt(&b, r->numerics ? "numerics" : "shape-only");
    bi(&b, r->n_tokens);
    bd(&b, r->mean_ms);
    bd(&b, r->p50_ms);
    bd(&b, r->p90_ms);
    bd(&b, r->p99_ms);
    bd(&b, r->max_ms);
    bd(&b, r->compute_ms);
    bd(&b, r->stragglers_ms);
    bd(&b, r->network_ms);
    bi(&b, (long long)r->expected);
    bi(&b, (long long)r->missing);
    bi(&b, (long long)r->retransmits);
    bi(&b, (long long)r->timeouts);
    bi(&b, (long long)r->probes);
    bi(&b, (long long)r->msgs_lost);
    bi(&b, (long long)r->bytes_on_wire);
    bi(&b, (long long)r->events);
    bd(&b, r->storage_read_ms);
    bd(&b, r->storage_stall_ms);
    bt(&b, in->git_rev ? in->git_rev : HALO_GIT_REV);
    bt(&b, host);
    bt(&b, HALO_VERSION);
    bt(&b, sqlite3_libversion());
    bt(&b, __VERSION__);
    bt(&b, in->started_at);
    bt(&b, in->finished_at);
    bd(&b, (double)r->wall_ns / 1e9);
    uint64_t lost = 0, qdrops = 0;
    for (int d = 0; d < r->n_devices; d++) {
        lost += r->devices[d].packets_lost;
        qdrops += r->devices[d].queue_drops;
    }
    bi(&b, (long long)lost);
    bi(&b, (long long)qdrops);
    HALO_ASSERT(b.i == sqlite3_bind_parameter_count(st)); /* run_sql and the binds agree */
    int s = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(db->db);
    sqlite3_finalize(st);
    if (s == SQLITE_DONE)
        return HALO_OK;
    if (ext == SQLITE_CONSTRAINT_UNIQUE) {
        *dup = 1;
        return HALO_OK;
    }
    return sql_fail(db, err, "run");
}

static int insert_axes(halo_db *db, sqlite3_int64 id, const char *label, halo_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db, "INSERT OR REPLACE INTO run_axis VALUES (?, ?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        return sql_fail(db, err, "run_axis");
    int rc = HALO_OK;
    const char *s = label;
    while (rc == HALO_OK && *s) {
        while (*s == ' ')
            s++;
        const char *end = strchr(s, ' '), *eq = strchr(s, '=');
        if (!end)
            end = s + strlen(s);
        if (end == s)
            break;
        if (!eq || eq > end) {
            s = end;
            continue;
        }
        (void)sqlite3_bind_int64(st, 1, id);
        (void)sqlite3_bind_text(st, 2, s, (int)(eq - s), SQLITE_TRANSIENT);
        (void)sqlite3_bind_text(st, 3, eq + 1, (int)(end - eq - 1), SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, err, "run_axis");
        (void)sqlite3_reset(st);
        s = end;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Binds the values of row i after its run id (already bound); ctx is the caller's. */
typedef void (*bind_row_fn)(binder *b, int i, const void *ctx);

/* Inserts rows 0..n-1 into `table` by `sql`, each as the run id followed by what `bind`
 * binds; the first failure stops the loop and names the table. */
static int insert_rows(halo_db *db, const char *table, const char *sql, sqlite3_int64 id, int n,
                       bind_row_fn bind, const void *ctx, halo_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, err, table);
    int rc = HALO_OK;
    for (int i = 0; rc == HALO_OK && i < n; i++) {
        binder b = {st, 0};
        bi(&b, id);
        bind(&b, i, ctx);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, err, table);
        (void)sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static void bind_token(binder *b, int i, const void *ctx) {
    const halo_sim_token *t = &((const halo_sim_result *)ctx)->tokens[i];
    bi(b, i);
    bi(b, t->pos);
    bi(b, t->token);
    bd(b, ms(t->time_ns));
    bd(b, ms(t->compute_ns));
    bd(b, ms(t->worker_compute_ns));
    bd(b, ms(t->wait_ns));
    bi(b, t->expected);
    bi(b, t->missing);
}

typedef struct device_rows {
    const halo_scenario *sc;
    const halo_sim_result *r;
} device_rows;

static void bind_device(binder *b, int d, const void *ctx) {
    const device_rows *x = ctx;
    const halo_scenario_device *dev = &x->sc->devices[d];
    const halo_sim_node_stats *s = &x->r->devices[d];
    bi(b, d);
    bt(b, dev->profile_name);
    bd(b, halo_loss_mean(&dev->uplink.loss));
    bd(b, halo_loss_mean(&dev->downlink.loss));
    bd(b, ms(s->compute_ns));
    bi(b, (long long)s->msgs_sent);
    bi(b, (long long)s->msgs_delivered);
    bi(b, (long long)s->msgs_lost);
    bi(b, (long long)s->packets_sent);
    bi(b, (long long)s->packets_lost);
    bi(b, (long long)s->bytes_on_wire);
    bi(b, (long long)s->retransmits);
    bi(b, (long long)s->timeouts);
    bi(b, (long long)s->probes);
    bi(b, (long long)s->storage_bytes);
    bd(b, ms(s->storage_read_ns));
    bd(b, ms(s->storage_stall_ns));
    bi(b, (long long)s->queue_drops);
}

static void bind_layer(binder *b, int l, const void *ctx) {
    const halo_sim_layer *y = &((const halo_sim_result *)ctx)->layers[l];
    bi(b, l);
    bd(b, ms(y->attn_ns));
    bd(b, ms(y->attn_wait_ns));
    bi(b, (long long)y->attn_missing);
    bd(b, ms(y->ffn_ns));
    bd(b, ms(y->ffn_wait_ns));
    bi(b, (long long)y->ffn_missing);
}

typedef struct quality_row {
    const halo_db_run_info *in;
    const halo_eval_result *q;
    const halo_sim_result *qr; /* may be NULL */
} quality_row;

static void bind_quality(binder *b, int i, const void *ctx) {
    const quality_row *x = ctx;
    double nll = halo_eval_mean_nll(x->q);
    (void)i;
    bt(b, x->in->eval_file ? x->in->eval_file : "");
    bt(b, x->in->eval_hash ? x->in->eval_hash : "");
    bi(b, x->q->stories);
    bi(b, x->q->tokens);
    bd(b, nll);
    bd(b, exp(nll));
    bd(b, x->qr ? x->qr->mean_ms : 0.0);
    bi(b, x->qr ? (long long)x->qr->expected : 0);
    bi(b, x->qr ? (long long)x->qr->missing : 0);
}

/* The rows that hang off run `id`: its tokens, devices, layers and (q not NULL) quality. */
static int insert_details(halo_db *db, sqlite3_int64 id, const halo_scenario *sc,
                          const halo_db_run_info *in, const halo_sim_result *r,
                          const halo_eval_result *q, const halo_sim_result *qr, halo_err *err) {
    device_rows dr = {sc, r};
    quality_row qrow = {in, q, qr};
    int n_dev = r->n_devices < sc->n_devices ? r->n_devices : sc->n_devices;
    int rc = insert_rows(db, "token", "INSERT INTO token VALUES (?,?,?,?,?,?,?,?,?,?)", id,
                         r->n_tokens, bind_token, r, err);
    if (rc == HALO_OK)
        rc = insert_rows(db, "device_stat",
                         "INSERT INTO device_stat VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         id, n_dev, bind_device, &dr, err);
    if (rc == HALO_OK)
        rc = insert_rows(db, "layer_stat", "INSERT INTO layer_stat VALUES (?,?,?,?,?,?,?,?)", id,
                         r->n_layers, bind_layer, r, err);
    if (rc == HALO_OK && q)
        rc = insert_rows(db, "quality", "INSERT INTO quality VALUES (?,?,?,?,?,?,?,?,?,?)", id, 1,
                         bind_quality, &qrow, err);
    return rc;
}

int halo_db_insert_run(halo_db *db, const halo_scenario *sc, int run, const halo_db_run_info *info,
                       const halo_sim_result *r, const halo_eval_result *q,
                       const halo_sim_result *qr, int *inserted, halo_err *err) {
    *inserted = 0;
    int rc = halo__db_writable(db, err);
    if (rc != HALO_OK)
        return rc;
    if (q && !r->numerics)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: point %ld: quality of a shape-only run (no numerics)", sc->path,
                         sc->point);
    rc = exec(db, "BEGIN IMMEDIATE", "begin", err);
    if (rc != HALO_OK)
        return rc;
    int dup = 0;
    rc = insert_main(db, sc, run, info, r, &dup, err);
    if (rc == HALO_OK && !dup) {
        sqlite3_int64 id = sqlite3_last_insert_rowid(db->db);
        rc = insert_axes(db, id, sc->point_label, err);
        if (rc == HALO_OK)
            rc = insert_details(db, id, sc, info, r, q, qr, err);
    }
    if (rc == HALO_OK && !dup) {
        rc = exec(db, "COMMIT", "commit", err);
        if (rc == HALO_OK)
            *inserted = 1;
        else
            (void)sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    (void)sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ==== Merging ==== */

/* "c1, c2, ..." of `table`'s columns after the first (run_id) or all but `id`. */
static int columns(halo_db *db, const char *table, int skip_first, char *buf, size_t cap,
                   halo_err *err) {
    char sql[128];
    (void)snprintf(sql, sizeof sql, "PRAGMA main.table_info(%s)", table);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, err, "table_info");
    size_t used = 0;
    int i = 0;
    buf[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if (i++ == 0 && skip_first)
            continue;
        used += (size_t)snprintf(buf + used, used < cap ? cap - used : 0, "%s%s", used ? ", " : "",
                                 name ? name : "");
    }
    sqlite3_finalize(st);
    if (used >= cap)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: too many columns", table);
    return HALO_OK;
}

/* The measured runs of src that main lacks, with their tokens (inside merge's transaction). */
static int merge_measured(halo_db *db, long *n_measured, halo_err *err) {
    char cols[2048], sql[8192];
    long n = 0;
    int rc = exec(db,
                  "CREATE TEMP TABLE merge_measured AS SELECT s.id AS old_id FROM "
                  "src.measured_run s WHERE NOT EXISTS (SELECT 1 FROM main.measured_run m WHERE "
                  "m.harness = s.harness AND m.cell = s.cell AND m.run = s.run AND m.source = "
                  "s.source) ORDER BY s.id",
                  "merge measured runs", err);
    if (rc == HALO_OK)
        rc = query_int(db, "SELECT count(*) FROM temp.merge_measured", &n, err);
    if (rc == HALO_OK)
        rc = columns(db, "measured_run", 1, cols, sizeof cols, err);
    if (rc == HALO_OK) {
        (void)snprintf(sql, sizeof sql,
                       "INSERT INTO main.measured_run (%s) SELECT %s FROM src.measured_run WHERE "
                       "id IN (SELECT old_id FROM temp.merge_measured) ORDER BY id;"
                       "INSERT INTO main.measured_token SELECT m.id, c.idx, c.ms FROM "
                       "src.measured_token c JOIN src.measured_run s ON c.measured_run_id = s.id "
                       "JOIN main.measured_run m ON m.harness = s.harness AND m.cell = s.cell AND "
                       "m.run = s.run AND m.source = s.source WHERE s.id IN (SELECT old_id FROM "
                       "temp.merge_measured);"
                       "INSERT INTO main.measured_replan SELECT m.id, c.idx, c.token, c.reason, "
                       "c.old_split, c.new_split FROM src.measured_replan c JOIN src.measured_run "
                       "s ON c.measured_run_id = s.id JOIN main.measured_run m ON m.harness = "
                       "s.harness AND m.cell = s.cell AND m.run = s.run AND m.source = s.source "
                       "WHERE s.id IN (SELECT old_id FROM temp.merge_measured);"
                       "DROP TABLE temp.merge_measured",
                       cols, cols);
        rc = exec(db, sql, "merge measured runs", err);
    }
    if (rc == HALO_OK && n_measured)
        *n_measured = n;
    return rc;
}

int halo_db_merge(halo_db *db, const char *src_path, long *n_copied, long *n_skipped,
                  long *n_measured, halo_err *err) {
    *n_copied = *n_skipped = 0;
    if (n_measured)
        *n_measured = 0;
    int rc = halo__db_writable(db, err);
    if (rc != HALO_OK)
        return rc;
    halo_db *src = NULL;
    rc = halo_db_new(&src, src_path, HALO_DB_READ, err); /* checks its version */
    halo_db_free(src);
    if (rc != HALO_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db, "ATTACH DATABASE ? AS src", -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, err, "attach");
    (void)sqlite3_bind_text(st, 1, src_path, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? HALO_OK : sql_fail(db, err, "attach");
    sqlite3_finalize(st);
    if (rc != HALO_OK)
        return rc;
    char cols[4096], sql[16384];
    long total = 0;
    rc = exec(db, "BEGIN IMMEDIATE", "begin", err);
    if (rc == HALO_OK)
        rc = query_int(db, "SELECT count(*) FROM src.run", &total, err);
    if (rc == HALO_OK)
        rc = exec(db,
                  "INSERT OR IGNORE INTO main.scenario SELECT * FROM src.scenario;"
                  "CREATE TEMP TABLE merge_new AS SELECT s.id AS old_id FROM src.run s WHERE "
                  "NOT EXISTS (SELECT 1 FROM main.run m WHERE m.scenario_hash = s.scenario_hash "
                  "AND m.point = s.point AND m.run = s.run) ORDER BY s.id",
                  "merge", err);
    if (rc == HALO_OK)
        rc = query_int(db, "SELECT count(*) FROM temp.merge_new", n_copied, err);
    if (rc == HALO_OK)
        rc = columns(db, "run", 1, cols, sizeof cols, err);
    if (rc == HALO_OK) {
        (void)snprintf(sql, sizeof sql,
                       "INSERT INTO main.run (%s) SELECT %s FROM src.run WHERE id IN (SELECT "
                       "old_id FROM temp.merge_new) ORDER BY id",
                       cols, cols);
        rc = exec(db, sql, "merge runs", err);
    }
    static const char *const children[] = {"run_axis", "token", "device_stat", "layer_stat",
                                           "quality"};
    for (size_t i = 0; rc == HALO_OK && i < sizeof children / sizeof children[0]; i++) {
        rc = columns(db, children[i], 1, cols, sizeof cols, err);
        if (rc != HALO_OK)
            break;
        char prefixed[8192];
        size_t used = 0;
        prefixed[0] = '\0';
        for (const char *c = cols; *c && used < sizeof prefixed;) {
            const char *e = strstr(c, ", ");
            size_t n = e ? (size_t)(e - c) : strlen(c);
            used += (size_t)snprintf(prefixed + used, sizeof prefixed - used, "%sc.%.*s",
                                     used ? ", " : "", (int)n, c);
            c = e ? e + 2 : c + n;
        }
        (void)snprintf(sql, sizeof sql,
                       "INSERT INTO main.%s SELECT m.id, %s FROM src.%s c JOIN src.run s ON "
                       "c.run_id = s.id JOIN main.run m ON m.scenario_hash = s.scenario_hash "
                       "AND m.point = s.point AND m.run = s.run WHERE s.id IN (SELECT old_id "
                       "FROM temp.merge_new)",
                       children[i], prefixed, children[i]);
        rc = exec(db, sql, children[i], err);
    }
    if (rc == HALO_OK)
        rc = merge_measured(db, n_measured, err);
    if (rc == HALO_OK)
        rc = exec(db, "DROP TABLE temp.merge_new; COMMIT", "commit", err);
    else
        (void)sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
    (void)sqlite3_exec(db->db, "DETACH DATABASE src", NULL, NULL, NULL);
    if (rc == HALO_OK)
        *n_skipped = total - *n_copied;
    return rc;
}

/* ==== Runs by identity (issue 17) ==== */

int halo_db_find_run(halo_db *db, const char *scenario_name, const char *point_hash, int run,
                     long long *id, halo_err *err) {
    *id = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->db,
                                "SELECT id FROM run WHERE scenario_name = ? AND point_hash = ? "
                                "AND run = ? AND point_hash <> '' ORDER BY copied_from <> '', id "
                                "LIMIT 1",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        (void)sqlite3_bind_text(st, 1, scenario_name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, point_hash, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int(st, 3, run);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *id = sqlite3_column_int64(st, 0);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? HALO_OK : sql_fail(db, err, "looking up a run by identity");
}

/* The copy's select list: the run's columns after `id`, each per-point column a numbered
   parameter (?1.. in POINT_COLUMNS order), copied_from naming the source (or its source). */
static int copy_select(halo_db *db, char *cols, size_t ccap, char *sel, size_t cap, halo_err *err) {
    int rc = columns(db, "run", 1, cols, ccap, err);
    if (rc != HALO_OK)
        return rc;
    static const char point_cols[] = POINT_COLUMNS;
    size_t used = 0;
    sel[0] = '\0';
    for (const char *c = cols; *c;) {
        const char *e = strstr(c, ", ");
        size_t n = e ? (size_t)(e - c) : strlen(c);
        char name[64], expr[160];
        (void)snprintf(name, sizeof name, "%.*s", (int)n, c);
        int k = 0, found = 0;
        for (const char *p = point_cols; *p && !found;) {
            const char *q = strstr(p, ", ");
            size_t m = q ? (size_t)(q - p) : strlen(p);
            k++;
            found = m == strlen(name) && strncmp(p, name, m) == 0;
            p = q ? q + 2 : p + m;
        }
        if (found)
            (void)snprintf(expr, sizeof expr, "?%d", k);
        else if (strcmp(name, "copied_from") == 0)
            (void)snprintf(expr, sizeof expr,
                           "CASE WHEN copied_from <> '' THEN copied_from ELSE scenario_hash || "
                           "'/' || point || '/' || run END");
        else
            (void)snprintf(expr, sizeof expr, "%s", name);
        used += (size_t)snprintf(sel + used, used < cap ? cap - used : 0, "%s%s", used ? ", " : "",
                                 expr);
        c = e ? e + 2 : c + n;
    }
    if (used >= cap)
        return HALO_FAIL(err, HALO_ERR_ARG, "run: too many columns");
    return HALO_OK;
}

int halo_db_copy_run(halo_db *db, long long src_id, const halo_scenario *sc, int run,
                     const halo_db_run_info *info, int *inserted, halo_err *err) {
    *inserted = 0;
    int rc = halo__db_writable(db, err);
    if (rc != HALO_OK)
        return rc;
    char cols[4096], sel[8192], sql[16384];
    rc = copy_select(db, cols, sizeof cols, sel, sizeof sel, err);
    if (rc != HALO_OK)
        return rc;
    rc = exec(db, "BEGIN IMMEDIATE", "begin", err);
    if (rc != HALO_OK)
        return rc;
    int n_point = 1;
    for (const char *p = POINT_COLUMNS; (p = strstr(p, ", ")); p += 2)
        n_point++;
    (void)snprintf(sql, sizeof sql, "INSERT INTO run (%s) SELECT %s FROM run WHERE id = ?%d", cols,
                   sel, n_point + 1);
    sqlite3_stmt *st = NULL;
    int dup = 0;
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        rc = sql_fail(db, err, "copying a run");
    binder b = {st, 0};
    if (rc == HALO_OK)
        rc = bind_point(&b, sc, run, info, err);
    if (rc == HALO_OK) {
        (void)sqlite3_bind_int64(st, n_point + 1, src_id);
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE && sqlite3_changes(db->db) == 0)
            rc = HALO_FAIL(err, HALO_ERR_ARG, "%s: no run %lld to copy", db->path, src_id);
        else if (s != SQLITE_DONE && sqlite3_extended_errcode(db->db) == SQLITE_CONSTRAINT_UNIQUE)
            dup = 1;
        else if (s != SQLITE_DONE)
            rc = sql_fail(db, err, "copying a run");
    }
    sqlite3_finalize(st);
    sqlite3_int64 id = sqlite3_last_insert_rowid(db->db);
    if (rc == HALO_OK && !dup)
        rc = insert_axes(db, id, sc->point_label, err);
    static const char *const children[] = {"token", "device_stat", "layer_stat", "quality"};
    for (size_t i = 0; rc == HALO_OK && !dup && i < sizeof children / sizeof children[0]; i++) {
        rc = columns(db, children[i], 1, cols, sizeof cols, err);
        if (rc != HALO_OK)
            break;
        (void)snprintf(sql, sizeof sql,
                       "INSERT INTO %s (run_id, %s) SELECT %lld, %s FROM %s WHERE run_id = %lld",
                       children[i], cols, (long long)id, cols, children[i], src_id);
        rc = exec(db, sql, children[i], err);
    }
    if (rc == HALO_OK && !dup) {
        rc = exec(db, "COMMIT", "commit", err);
        if (rc == HALO_OK) {
            *inserted = 1;
            return HALO_OK;
        }
    }
    (void)sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ==== Summary ==== */

void halo_db_info_free(halo_db_info *info) {
    free(info->scenarios);
    free(info->measured);
    *info = (halo_db_info){0};
}

static void copy_text(char *dst, size_t cap, const unsigned char *src) {
    (void)snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

/* Reads one result row of st into ctx: HALO_OK, or HALO_ERR_NOMEM. */
typedef int (*read_row_fn)(sqlite3_stmt *st, void *ctx);

/* Runs the query `sql` and hands each row to `row`; `what` names the query in errors. */
static int select_rows(halo_db *db, const char *what, const char *sql, read_row_fn row, void *ctx,
                       halo_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, err, what);
    int rc = HALO_OK, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        if (row(st, ctx) != HALO_OK) {
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", db->path);
            break;
        }
    if (rc == HALO_OK && s != SQLITE_DONE)
        rc = sql_fail(db, err, what);
    sqlite3_finalize(st);
    return rc;
}

typedef struct info_rows {
    halo_db_info *info;
    long cap; /* of the list being read */
} info_rows;

/* One (harness, source) group of measured runs. */
static int read_measured(sqlite3_stmt *st, void *ctx) {
    info_rows *c = ctx;
    halo_db_info *info = c->info;
    halo_db_measured_info *x =
        halo__push(&info->measured, &info->n_measured, &c->cap, sizeof *x, 8);
    if (!x)
        return HALO_ERR_NOMEM;
    copy_text(x->harness, sizeof x->harness, sqlite3_column_text(st, 0));
    copy_text(x->source, sizeof x->source, sqlite3_column_text(st, 1));
    x->n_runs = (long)sqlite3_column_int64(st, 2);
    x->n_cells = (long)sqlite3_column_int64(st, 3);
    x->n_tokens = (long)sqlite3_column_int64(st, 4);
    x->n_mirrored = (long)sqlite3_column_int64(st, 5);
    info->n_measured_runs += x->n_runs;
    return HALO_OK;
}

/* One scenario text with runs. */
static int read_scenario(sqlite3_stmt *st, void *ctx) {
    info_rows *c = ctx;
    halo_db_info *info = c->info;
    halo_db_scenario_info *x =
        halo__push(&info->scenarios, &info->n_scenarios, &c->cap, sizeof *x, 16);
    if (!x)
        return HALO_ERR_NOMEM;
    copy_text(x->name, sizeof x->name, sqlite3_column_text(st, 0));
    copy_text(x->hash, sizeof x->hash, sqlite3_column_text(st, 1));
    x->n_runs = (long)sqlite3_column_int64(st, 2);
    x->n_points = (long)sqlite3_column_int64(st, 3);
    copy_text(x->kind, sizeof x->kind, sqlite3_column_text(st, 4));
    return HALO_OK;
}

int halo_db_get_info(halo_db *db, halo_db_info *info, halo_err *err) {
    *info = (halo_db_info){.version = HALO_DB_VERSION};
    info_rows scenarios = {info, 0}, measured = {info, 0};
    int rc = select_rows(db, "info",
                         "SELECT scenario_name, scenario_hash, count(*), count(DISTINCT point), "
                         "kind FROM run GROUP BY scenario_hash ORDER BY min(id)",
                         read_scenario, &scenarios, err);
    if (rc == HALO_OK)
        rc = select_rows(
            db, "info on measured runs",
            "SELECT m.harness, m.source, count(*), count(DISTINCT m.cell), sum(m.tokens), "
            "(SELECT count(*) FROM fidelity f WHERE f.harness = m.harness AND f.cell IN "
            "(SELECT cell FROM measured_run x WHERE x.harness = m.harness AND x.source = "
            "m.source)) FROM measured_run m GROUP BY m.harness, m.source ORDER BY min(m.id)",
            read_measured, &measured, err);
    if (rc != HALO_OK)
        halo_db_info_free(info);
    return rc;
}
