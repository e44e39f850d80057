-- Speedup over distributed-llama (strict, TCP, equal split) against the loss rate
-- (scenarios/sweep-loss.yaml): series, loss %, mean dllama ms/token / mean ms/token.
WITH m AS (SELECT system, loss, avg(mean_ms) AS ms FROM latest_run
           WHERE scenario_name = 'sweep-loss' GROUP BY system, loss)
SELECT a.system AS series, 100 * a.loss, d.ms / a.ms
FROM m a JOIN m d ON d.system = 'dllama' AND d.loss = a.loss
WHERE a.system <> 'dllama'
ORDER BY CASE a.system WHEN 'balanced' THEN 1 WHEN 'relaxed' THEN 2 WHEN 'halo' THEN 3
                       ELSE 4 END, a.system, a.loss;
SELECT printf('%s (%s, %s), %d devices, loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, tokens, count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-loss';
