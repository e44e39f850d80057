-- Shared by the figures' conditions lines (their queries' second statements; `halo plot` runs
-- every plots/_*.sql first). sweep_conditions: one row per scenario of the latest runs, taken
-- from its run with the highest loss (SQLite's bare columns beside max()): model, weights,
-- kind, devices, tokens; the highest loss in %, and the runs per sweep point.
CREATE TEMP VIEW IF NOT EXISTS sweep_conditions AS
    SELECT scenario_name, model, weights, kind, n_devices, tokens, 100 * max(loss) AS loss_pct,
           count(*) / count(DISTINCT point) AS runs_per_point
    FROM latest_run GROUP BY scenario_name;
