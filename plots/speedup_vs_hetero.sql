-- Speedup over distributed-llama against heterogeneity, measured as the speed ratio of the
-- fastest to the slowest device (scenarios/sweep-hetero.yaml): series, ratio, speedup.
WITH m AS (SELECT system, speed_ratio, avg(mean_ms) AS ms FROM latest_run
           WHERE scenario_name = 'sweep-hetero' GROUP BY system, speed_ratio)
SELECT a.system AS series, a.speed_ratio, d.ms / a.ms
FROM m a JOIN m d ON d.system = 'dllama' AND d.speed_ratio = a.speed_ratio
WHERE a.system <> 'dllama' ORDER BY a.system, a.speed_ratio;
SELECT printf('%s (%s, %s), %d devices (4 slowed), %g%% loss on workers'' links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, 100 * max(loss), tokens,
              count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-hetero';
