-- HALO's speedup over distributed-llama against the number of devices
-- (scenarios/sweep-scale.yaml): series, devices, speedup, its interval.
-- The interval of each speedup is the report's: from the ends of the two confidence intervals
-- of the mean over runs (ci_half: Student's t), low = (dllama - h_d) / (ms + h), high =
-- (dllama + h_d) / (ms - h); the speedup alone when ms - h <= 0. Pairs as the view speedup.
WITH m AS (
    SELECT system, n_devices, speed_ratio, loss, tau, avg(mean_ms) AS ms, ci_half(mean_ms) AS h
    FROM latest_run WHERE scenario_name = 'sweep-scale'
    GROUP BY system, n_devices, speed_ratio, loss, tau)
SELECT a.system AS series, a.n_devices, d.ms / a.ms,
       CASE WHEN a.ms > a.h THEN (d.ms - d.h) / (a.ms + a.h) ELSE d.ms / a.ms END,
       CASE WHEN a.ms > a.h THEN (d.ms + d.h) / (a.ms - a.h) ELSE d.ms / a.ms END
FROM m a JOIN m d
     ON d.system = 'dllama' AND d.n_devices = a.n_devices AND d.speed_ratio = a.speed_ratio
        AND d.loss = a.loss AND d.tau = a.tau
WHERE a.system <> 'dllama'
ORDER BY a.system, a.n_devices;
SELECT printf('%s (%s, %s), %g%% loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, 100 * max(loss), tokens, count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-scale';
