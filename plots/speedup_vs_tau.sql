-- HALO's speedup over distributed-llama against the threshold tau
-- (scenarios/sweep-tau.yaml): series, tau, speedup, contributions dropped (%).
WITH m AS (SELECT system, tau, avg(mean_ms) AS ms,
                  100.0 * sum(missing) / max(1, sum(expected)) AS miss
           FROM latest_run WHERE scenario_name = 'sweep-tau' GROUP BY system, tau)
SELECT a.system AS series, a.tau, d.ms / a.ms, a.miss
FROM m a JOIN m d ON d.system = 'dllama' AND d.tau = a.tau
WHERE a.system <> 'dllama' ORDER BY a.system, a.tau;
SELECT printf('%s (%s, %s), %d devices, %g%% loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, 100 * max(loss), tokens,
              count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-tau';
