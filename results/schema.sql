-- The halo results database (SQLite), schema version 1.
--
-- `halo sweep` creates it (WAL mode) and stamps PRAGMA user_version = 1; a database with a
-- newer version is refused, an older one is migrated only by `halo db migrate` (there is no
-- older version yet). Every run (one replication of one sweep point) is written in one
-- transaction: its row in `run` and all its rows in `token`, `device_stat`, `layer_stat`,
-- `run_axis` and `quality` appear together or not at all.
--
-- Times are stored in milliseconds (REAL) at this edge; the engine counts integer ns.
-- This file is compiled into the halo binary (results/CMakeLists.txt embeds it), so an
-- installed halo needs no source tree.

-- One row per distinct scenario text (sha256 of the file's bytes).
CREATE TABLE IF NOT EXISTS scenario (
    hash        TEXT PRIMARY KEY,   -- sha256 of `text`, hex
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
