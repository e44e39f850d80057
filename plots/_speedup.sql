-- Shared by the speedup figures: `halo plot` runs every plots/_*.sql on its connection before
-- the figures' queries (files starting with "_" are not figures).
-- speedup_ci: one row per scenario, system other than distributed-llama ('dllama') and
-- conditions (devices, speed ratio, loss, tau) of the latest runs that distributed-llama also
-- ran under the same conditions (paired as the view speedup): the speedup (mean dllama
-- ms/token / mean ms/token, means over runs), its interval and the contributions missing (%
-- of expected, over the system's runs). The interval is the report's: from the ends of the
-- two confidence intervals of the mean over runs (ci_half: Student's t), low = (dllama - h_d)
-- / (ms + h), high = (dllama + h_d) / (ms - h); the speedup alone when ms - h <= 0.
CREATE TEMP VIEW IF NOT EXISTS speedup_ci AS
    WITH m AS (
        SELECT scenario_name, system, n_devices, speed_ratio, loss, tau, avg(mean_ms) AS ms,
               ci_half(mean_ms) AS h, 100.0 * sum(missing) / max(1, sum(expected)) AS missing_pct
        FROM latest_run GROUP BY scenario_name, system, n_devices, speed_ratio, loss, tau)
    SELECT a.scenario_name, a.system, a.n_devices, a.speed_ratio, a.loss, a.tau,
           d.ms / a.ms AS speedup,
           CASE WHEN a.ms > a.h THEN (d.ms - d.h) / (a.ms + a.h) ELSE d.ms / a.ms END AS low,
           CASE WHEN a.ms > a.h THEN (d.ms + d.h) / (a.ms - a.h) ELSE d.ms / a.ms END AS high,
           a.missing_pct
    FROM m a JOIN m d
         ON d.scenario_name = a.scenario_name AND d.system = 'dllama'
            AND d.n_devices = a.n_devices AND d.speed_ratio = a.speed_ratio
            AND d.loss = a.loss AND d.tau = a.tau
    WHERE a.system <> 'dllama';
