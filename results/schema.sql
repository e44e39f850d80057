-- The halo results database (SQLite), schema version 5.
--
-- `halo sweep` (and `halo db import-measured`) creates it (WAL mode) and stamps PRAGMA
-- user_version = 5; a database with a newer version is refused, an older one is migrated
-- only by `halo db migrate`. Every run (one replication of one sweep point) is written in one
-- transaction: its row in `run` and all its rows in `token`, `device_stat`, `layer_stat`,
-- `run_axis` and `quality` appear together or not at all.
--
-- Version 1 is everything down to the line "-- ==== Version 2"; version 2 added the section
-- that follows it (measured runs), version 3 the one after "-- ==== Version 3" (the speedup
-- view), version 4 the one after "-- ==== Version 4" (run identity), version 5 the one after
-- "-- ==== Version 5" (re-plans of measured runs). Each migration (results/db.c) runs its
-- version's section as it is written here, so
-- a migrated database has exactly the schema of a new one.
--
-- Times are stored in milliseconds (REAL) at this edge; the engine counts integer ns.
-- This file is compiled into the halo binary (results/CMakeLists.txt embeds it), so an
-- installed halo needs no source tree.

-- One row per distinct scenario: since version 4 the sha256 of its resolved points (see
-- run.point_hash), so a comment or reformatting keeps the row and a changed profile makes a
-- new one; `text` is the text first seen with it. Before version 4: of the file's bytes.
CREATE TABLE IF NOT EXISTS scenario (
    hash        TEXT PRIMARY KEY,   -- sha256 of the name and every point's identity, hex
    name        TEXT NOT NULL,      -- the scenario's `name:` (or file name)
    path        TEXT NOT NULL,      -- as given to halo sweep (first time seen)
    text        TEXT NOT NULL,      -- the whole scenario file
    n_points    INTEGER NOT NULL,   -- points of its sweep
    first_seen  TEXT NOT NULL       -- UTC, ISO 8601
);

-- One row per (scenario, point, run): provenance, engine settings and summary.
CREATE TABLE IF NOT EXISTS run (
    id              INTEGER PRIMARY KEY,
    scenario_hash   TEXT NOT NULL REFERENCES scenario(hash),
    scenario_name   TEXT NOT NULL,
    point           INTEGER NOT NULL,   -- 0..n_points-1
    point_label     TEXT NOT NULL,      -- "engine.baseline=halo devices[1].link.loss=0.05"
    run             INTEGER NOT NULL,   -- replication number
    seed            INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('numerics', 'shape-only')),
    model           TEXT NOT NULL,      -- checkpoint file or shape name
    model_hash      TEXT NOT NULL,      -- sha256 of the checkpoint, or of the shape's config
    weights         TEXT NOT NULL,      -- f32 | q80 | q40
    n_devices       INTEGER NOT NULL,
    -- engine and its settings
    engine          TEXT NOT NULL,      -- 'sim' (the in-tree discrete-event engine) | 'ns3'
    system          TEXT NOT NULL,      -- baseline name, or 'custom'
    placement       TEXT NOT NULL,
    sync            TEXT NOT NULL,      -- strict | relaxed
    delivery        TEXT NOT NULL,      -- stream | datagram
    encoding        TEXT NOT NULL,      -- f32 | q8
    importance      TEXT NOT NULL,      -- none | predictor | oracle | synthetic | uniform
    tau             REAL NOT NULL,
    deadline_ms     REAL NOT NULL,
    adaptive_deadline INTEGER NOT NULL,
    redundancy      INTEGER NOT NULL,
    place_critical  INTEGER NOT NULL,
    memory_budget   INTEGER NOT NULL,   -- devices stream what their memory cannot hold
    prefetch        INTEGER NOT NULL,   -- read-ahead of the next streamed block
    settings        TEXT NOT NULL,      -- every engine setting, the network engine's (TCP, queue)
                                        -- included, as JSON
    -- derived conditions (plot axes)
    loss            REAL NOT NULL,      -- mean loss per packet over the workers' links
    speed_ratio     REAL NOT NULL,      -- fastest / slowest device (roofline speed)
    tokens          INTEGER NOT NULL,   -- measured tokens
    -- summary over the tokens
    mean_ms REAL NOT NULL, p50_ms REAL NOT NULL, p90_ms REAL NOT NULL,
    p99_ms REAL NOT NULL, max_ms REAL NOT NULL,
    compute_ms REAL NOT NULL, stragglers_ms REAL NOT NULL, network_ms REAL NOT NULL,
    expected INTEGER NOT NULL, missing INTEGER NOT NULL,
    retransmits INTEGER NOT NULL, timeouts INTEGER NOT NULL, probes INTEGER NOT NULL,
    msgs_lost INTEGER NOT NULL, bytes_on_wire INTEGER NOT NULL, events INTEGER NOT NULL,
    storage_read_ms REAL NOT NULL,      -- per token, summed over devices (memory_budget)
    storage_stall_ms REAL NOT NULL,     -- of which compute waited for (the rest was hidden)
    -- provenance
    git_rev         TEXT NOT NULL,      -- of the halo build ('unknown' outside git)
    host            TEXT NOT NULL,
    halo_version    TEXT NOT NULL,
    sqlite_version  TEXT NOT NULL,
    compiler        TEXT NOT NULL,
    started_at      TEXT NOT NULL,      -- UTC, ISO 8601
    finished_at     TEXT NOT NULL,
    wall_s          REAL NOT NULL,      -- real time the run took (with its evaluation)
    UNIQUE (scenario_hash, point, run)
);

-- Sweep axes of a run's point, one row per axis: key path and value as written.
CREATE TABLE IF NOT EXISTS run_axis (
    run_id  INTEGER NOT NULL REFERENCES run(id),
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

-- One row per measured token (generation).
CREATE TABLE IF NOT EXISTS token (
    run_id      INTEGER NOT NULL REFERENCES run(id),
    idx         INTEGER NOT NULL,   -- 0..tokens-1
    pos         INTEGER NOT NULL,
    token       INTEGER NOT NULL,   -- id fed (numerics runs; 1 = BOS for shapes)
    time_ms     REAL NOT NULL,
    compute_ms  REAL NOT NULL,      -- root busy
    worker_compute_ms REAL NOT NULL,-- the busiest worker
    wait_ms     REAL NOT NULL,      -- root idle at syncs
    expected    INTEGER NOT NULL,
    missing     INTEGER NOT NULL,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;

-- Per device, over the measured tokens.
CREATE TABLE IF NOT EXISTS device_stat (
    run_id      INTEGER NOT NULL REFERENCES run(id),
    device      INTEGER NOT NULL,   -- 0 is the root
    profile     TEXT NOT NULL,
    loss_up     REAL NOT NULL, loss_down REAL NOT NULL, -- mean loss per packet
    compute_ms  REAL NOT NULL,
    msgs_sent INTEGER NOT NULL, msgs_delivered INTEGER NOT NULL, msgs_lost INTEGER NOT NULL,
    packets_sent INTEGER NOT NULL, packets_lost INTEGER NOT NULL,
    bytes_on_wire INTEGER NOT NULL,
    retransmits INTEGER NOT NULL, timeouts INTEGER NOT NULL, probes INTEGER NOT NULL,
    storage_bytes INTEGER NOT NULL, storage_read_ms REAL NOT NULL, storage_stall_ms REAL NOT NULL,
    PRIMARY KEY (run_id, device)
) WITHOUT ROWID;

-- Per layer, seen from the root, over the measured tokens (sums over tokens).
CREATE TABLE IF NOT EXISTS layer_stat (
    run_id       INTEGER NOT NULL REFERENCES run(id),
    layer        INTEGER NOT NULL,
    attn_ms      REAL NOT NULL,     -- in the attention block: compute, send, wait
    attn_wait_ms REAL NOT NULL,     -- of which idle at its sync
    attn_missing INTEGER NOT NULL,
    ffn_ms       REAL NOT NULL,
    ffn_wait_ms  REAL NOT NULL,
    ffn_missing  INTEGER NOT NULL,
    PRIMARY KEY (run_id, layer)
) WITHOUT ROWID;

-- Quality (numerics runs with an evaluation text only; never for shape-only runs).
CREATE TABLE IF NOT EXISTS quality (
    run_id      INTEGER PRIMARY KEY REFERENCES run(id),
    eval_file   TEXT NOT NULL,
    eval_hash   TEXT NOT NULL,      -- sha256 of the text
    stories     INTEGER NOT NULL,
    tokens      INTEGER NOT NULL,
    nll         REAL NOT NULL,      -- mean negative log-likelihood per token, nats
    perplexity  REAL NOT NULL,
    mean_ms     REAL NOT NULL,      -- simulated time per token during the evaluation
    expected    INTEGER NOT NULL,
    missing     INTEGER NOT NULL
);

-- The runs of the newest text of each scenario name (what plots and reports read).
CREATE VIEW IF NOT EXISTS latest_run AS
    SELECT r.* FROM run r
    WHERE r.scenario_hash = (SELECT s.hash FROM scenario s WHERE s.name = r.scenario_name
                             ORDER BY s.first_seen DESC, s.rowid DESC LIMIT 1);

-- ==== Version 2: measured runs (issue 13) ====
--
-- Real systems measured by a harness (tools/ground-truth.sh: distributed-llama and halo's
-- socket cluster in network namespaces under kernel drops), imported from its CSV files by
-- `halo db import-measured DB DIR` (results/measured.h), beside the simulated runs above, so
-- that one query compares the two. A measured cell is "system/model/nodes/loss" with the loss
-- as the harness wrote it ("halo-strict/S/4/0.01"); its simulated counterpart is the scenario
-- named 'mirror/' || cell. Unknown values are NULL, never 0.

-- One row per measured run (one line of the harness's runs.csv).
CREATE TABLE IF NOT EXISTS measured_run (
    id          INTEGER PRIMARY KEY,
    harness     TEXT NOT NULL,      -- what measured: 'ground-truth' (tools/ground-truth.sh)
    cell        TEXT NOT NULL,      -- system/model/nodes/loss, loss as written in the CSV
    system      TEXT NOT NULL,      -- dllama | dllama-q40 | halo-strict | halo-udp | halo
    model       TEXT NOT NULL,      -- S (stories260K) | T (TinyLlama-shaped)
    nodes       INTEGER NOT NULL,   -- root + workers (1: one device, no network)
    loss        REAL NOT NULL,      -- drop probability set on the network
    run         INTEGER NOT NULL,   -- the harness's repetition number
    tokens      INTEGER NOT NULL,   -- token intervals counted (rows in measured_token)
    mean_ms     REAL,               -- the harness's mean ms per token; NULL without tokens
    p50_ms      REAL,               -- of the run's token intervals, nearest rank as in `run`
    p90_ms      REAL,               -- (the sorted value at index round(q * (n - 1))); NULL
    max_ms      REAL,               -- without tokens
    frames      INTEGER NOT NULL,   -- frames the network forwarded or dropped during the run
    dropped     INTEGER NOT NULL,   -- of them dropped
    drop_rate   REAL,               -- dropped / frames; NULL without frames (one device)
    missing_pct REAL,               -- contributions missing, % of expected (halo relaxed
                                    -- sync); NULL when the system does not report it
    self_ms     REAL,               -- the system's own ms/token report; NULL when none
    wall_s      REAL NOT NULL,      -- the run's whole time, start-up included
    status      TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'timeout')),
    host        TEXT NOT NULL,      -- the machine measured on (--host, else the importer's)
    imported_at TEXT NOT NULL,      -- UTC, ISO 8601
    source      TEXT NOT NULL,      -- the CSV directory as given to import-measured
    UNIQUE (harness, cell, run, source)
);

-- One row per counted token interval of a measured run (the harness's samples.csv).
CREATE TABLE IF NOT EXISTS measured_token (
    measured_run_id INTEGER NOT NULL REFERENCES measured_run(id),
    idx             INTEGER NOT NULL,   -- as the harness numbered it (from 1)
    ms              REAL NOT NULL,      -- the interval before this token
    PRIMARY KEY (measured_run_id, idx)
) WITHOUT ROWID;

-- One row per measured cell (harness, cell): its runs aggregated. A run counts in the means
-- when it completed (status 'ok') or counted tokens before it failed; the cost of loss is the
-- mean above the same harness/system/model/nodes at loss 0 (NULL at loss 0 or without one).
CREATE VIEW IF NOT EXISTS measured_cell AS
    WITH counted AS (
        SELECT m.*, (m.status = 'ok' OR m.tokens > 0) AS counts FROM measured_run m),
    cell AS (
        SELECT harness, cell, system, model, nodes, loss,
               count(*)                                 AS runs,          -- all imported
               sum(status <> 'ok')                      AS failed_runs,   -- failed, timed out
               count(CASE WHEN counts THEN mean_ms END) AS measured_runs, -- in the means
               sum(CASE WHEN counts THEN tokens END)    AS measured_tokens,
               avg(CASE WHEN counts THEN mean_ms END)   AS measured_mean_ms, -- of run means
               min(CASE WHEN counts THEN mean_ms END)   AS measured_run_min_ms,
               max(CASE WHEN counts THEN mean_ms END)   AS measured_run_max_ms,
               avg(CASE WHEN counts THEN p90_ms END)    AS measured_p90_ms   -- of run p90s
        FROM counted GROUP BY harness, cell),
    base AS (       -- the loss-0 mean of each harness/system/model/nodes
        SELECT harness, system, model, nodes, avg(measured_mean_ms) AS mean_ms
        FROM cell WHERE loss = 0 GROUP BY harness, system, model, nodes)
    SELECT c.*,
           CASE WHEN c.loss > 0 THEN c.measured_mean_ms - b.mean_ms END AS measured_cost_ms
    FROM cell c LEFT JOIN base b
         ON b.harness = c.harness AND b.system = c.system AND b.model = c.model
            AND b.nodes = c.nodes;

-- Measured against simulated: one row per measured cell that has a simulated counterpart,
-- the latest runs (view latest_run) of the scenario named 'mirror/' || cell (all its points
-- and runs). Errors are (simulated - measured) / measured * 100; the simulated cost of loss
-- is the simulated mean above the simulated counterparts of the loss-0 cells that the
-- measured cost uses. Errors are NULL where a value is NULL or the divisor is 0.
CREATE VIEW IF NOT EXISTS fidelity AS
    WITH sim AS (   -- simulated cells: mean of run means, mean of run p90s
        SELECT substr(scenario_name, 8) AS cell, count(*) AS runs,
               avg(mean_ms) AS mean_ms, avg(p90_ms) AS p90_ms
        FROM latest_run WHERE substr(scenario_name, 1, 7) = 'mirror/'
        GROUP BY scenario_name),
    pair AS (       -- measured cells with their counterpart
        SELECT c.*, s.runs AS simulated_runs, s.mean_ms AS simulated_mean_ms,
               s.p90_ms AS simulated_p90_ms
        FROM measured_cell c JOIN sim s ON s.cell = c.cell),
    base AS (       -- the simulated loss-0 mean of each harness/system/model/nodes
        SELECT harness, system, model, nodes, avg(simulated_mean_ms) AS mean_ms
        FROM pair WHERE loss = 0 GROUP BY harness, system, model, nodes),
    costed AS (
        SELECT p.*,
               CASE WHEN p.loss > 0 THEN p.simulated_mean_ms - b.mean_ms END
                   AS simulated_cost_ms
        FROM pair p LEFT JOIN base b
             ON b.harness = p.harness AND b.system = p.system AND b.model = p.model
                AND b.nodes = p.nodes)
    SELECT harness, cell, system, model, nodes, loss,
           measured_runs, measured_mean_ms, measured_run_min_ms, measured_run_max_ms,
           measured_p90_ms,
           simulated_runs, simulated_mean_ms, simulated_p90_ms,
           (simulated_mean_ms - measured_mean_ms) / NULLIF(measured_mean_ms, 0) * 100
               AS error_pct,
           (simulated_p90_ms - measured_p90_ms) / NULLIF(measured_p90_ms, 0) * 100
               AS p90_error_pct,
           measured_cost_ms, simulated_cost_ms,
           (simulated_cost_ms - measured_cost_ms) / NULLIF(measured_cost_ms, 0) * 100
               AS cost_error_pct
    FROM costed;

-- ==== Version 3: speedup over distributed-llama (the speedup figures) ====

-- One row per scenario, system other than distributed-llama ('dllama') and conditions
-- (devices, speed ratio, loss, tau) of the latest runs that distributed-llama also ran under
-- the same conditions: the mean of the run means of both, the speedup (dllama_ms / ms) and
-- the contributions missing (% of expected, over the system's runs).
CREATE VIEW IF NOT EXISTS speedup AS
    WITH m AS (
        SELECT scenario_name, system, n_devices, speed_ratio, loss, tau,
               avg(mean_ms) AS ms, 100.0 * sum(missing) / max(1, sum(expected)) AS missing_pct
        FROM latest_run GROUP BY scenario_name, system, n_devices, speed_ratio, loss, tau)
    SELECT a.scenario_name, a.system, a.n_devices, a.speed_ratio, a.loss, a.tau,
           a.ms, d.ms AS dllama_ms, d.ms / a.ms AS speedup, a.missing_pct
    FROM m a JOIN m d
         ON d.scenario_name = a.scenario_name AND d.system = 'dllama'
            AND d.n_devices = a.n_devices AND d.speed_ratio = a.speed_ratio
            AND d.loss = a.loss AND d.tau = a.tau
    WHERE a.system <> 'dllama';

-- ==== Version 4: run identity, queue drops (issue 17) ====
--
-- A run is identified by what it simulated: point_hash is the sha256 of `resolved`, the fully
-- resolved point as canonical JSON (model content, every device's profile and links after
-- names and overrides, every engine setting, workload, seed; results/identity.h). A sweep
-- simulates a (point, run) only when no run of the same scenario name has its identity and
-- run number; otherwise it copies that run's rows under the new point (copied_from names the
-- source as scenario_hash/point/run). Runs stored before version 4 have an empty identity and
-- are simulated again by the next sweep (they stay in the database).
ALTER TABLE run ADD COLUMN point_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE run ADD COLUMN resolved TEXT NOT NULL DEFAULT '';
ALTER TABLE run ADD COLUMN copied_from TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS run_identity ON run (scenario_name, point_hash, run);

-- Where packets went (over the measured tokens, summed over devices): lost by the links' loss
-- models or dropped by a full drop-tail queue (`queue_kb`, or a link file's default). Queue
-- drops happen on lossless links too, when a burst (the root's broadcast to many workers)
-- exceeds a queue; halo report shows both. Runs before version 4: 0.
ALTER TABLE run ADD COLUMN packets_lost INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run ADD COLUMN queue_drops INTEGER NOT NULL DEFAULT 0;
ALTER TABLE device_stat ADD COLUMN queue_drops INTEGER NOT NULL DEFAULT 0; -- of packets_lost

-- When a sweep last planned the scenario (UTC): a scenario edited back to an earlier version
-- is that version again, and the newest again for latest_run.
ALTER TABLE scenario ADD COLUMN last_seen TEXT NOT NULL DEFAULT '';

-- The runs of the version of each scenario name that was swept last (what plots, reports and
-- regress read).
DROP VIEW IF EXISTS latest_run;
CREATE VIEW latest_run AS
    SELECT r.* FROM run r
    WHERE r.scenario_hash = (SELECT s.hash FROM scenario s WHERE s.name = r.scenario_name
                             ORDER BY max(s.first_seen, s.last_seen) DESC, s.rowid DESC
                             LIMIT 1);

-- ==== Version 5: re-plans of measured runs (issue 15) ====

-- The runtime scheduler's re-plans during a measured run of a socket cluster
-- (engine.placement scheduled, net/replan.h): after how many tokens the new split applied,
-- why (what drifted: a link turned lossy or clean, a round trip or speed beyond the band, a
-- worker lost or back), and the split before and after as groups per device
-- ("attn 2,1,1,0 ffn 2,2,1,1", the root first). None for a run that did not re-plan.
CREATE TABLE IF NOT EXISTS measured_replan (
    measured_run_id INTEGER NOT NULL REFERENCES measured_run(id),
    idx             INTEGER NOT NULL,   -- from 1, in the order they happened
    token           INTEGER NOT NULL,   -- tokens run before the new split applied
    reason          TEXT NOT NULL,
    old_split       TEXT NOT NULL,
    new_split       TEXT NOT NULL,
    PRIMARY KEY (measured_run_id, idx)
);
