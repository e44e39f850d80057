-- HALO's speedup over distributed-llama against the threshold tau
-- (scenarios/sweep-tau.yaml): series, tau, speedup, its interval, contributions dropped (%).
-- The speedup's interval is the report's (see speedup_vs_loss.sql): from the ends of the two
-- confidence intervals of the mean over runs (ci_half).
WITH m AS (
    SELECT system, n_devices, speed_ratio, loss, tau, avg(mean_ms) AS ms, ci_half(mean_ms) AS h,
           100.0 * sum(missing) / max(1, sum(expected)) AS missing_pct
    FROM latest_run WHERE scenario_name = 'sweep-tau'
    GROUP BY system, n_devices, speed_ratio, loss, tau)
SELECT a.system AS series, a.tau, d.ms / a.ms,
       CASE WHEN a.ms > a.h THEN (d.ms - d.h) / (a.ms + a.h) ELSE d.ms / a.ms END,
       CASE WHEN a.ms > a.h THEN (d.ms + d.h) / (a.ms - a.h) ELSE d.ms / a.ms END,
       a.missing_pct
FROM m a JOIN m d
     ON d.system = 'dllama' AND d.n_devices = a.n_devices AND d.speed_ratio = a.speed_ratio
        AND d.loss = a.loss AND d.tau = a.tau
WHERE a.system <> 'dllama'
ORDER BY a.system, a.tau;
SELECT printf('%s (%s, %s), %d devices, %g%% loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, 100 * max(loss), tokens,
              count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-tau';
