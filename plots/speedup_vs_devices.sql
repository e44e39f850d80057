-- HALO's speedup over distributed-llama against the number of devices
-- (scenarios/sweep-scale.yaml): series, devices, speedup.
WITH m AS (SELECT system, n_devices, avg(mean_ms) AS ms FROM latest_run
           WHERE scenario_name = 'sweep-scale' GROUP BY system, n_devices)
SELECT a.system AS series, a.n_devices, d.ms / a.ms
FROM m a JOIN m d ON d.system = 'dllama' AND d.n_devices = a.n_devices
WHERE a.system <> 'dllama' ORDER BY a.system, a.n_devices;
SELECT printf('%s (%s, %s), %g%% loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, 100 * max(loss), tokens, count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-scale';
