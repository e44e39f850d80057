-- Speedup over distributed-llama (strict, TCP, equal split) against the loss rate
-- (scenarios/sweep-loss.yaml): series, loss %, mean dllama ms/token / mean ms/token.
SELECT system AS series, 100 * loss, speedup FROM speedup
WHERE scenario_name = 'sweep-loss'
ORDER BY CASE system WHEN 'balanced' THEN 1 WHEN 'relaxed' THEN 2 WHEN 'halo' THEN 3
                     ELSE 4 END, system, loss;
SELECT printf('%s (%s, %s), %d devices, loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, tokens, count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-loss';
