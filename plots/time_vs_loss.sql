-- Time per token against the loss rate, every engine setting (scenarios/sweep-loss.yaml):
-- series, loss %, mean ms/token over runs, sample standard deviation over runs.
SELECT system AS series, 100 * loss, avg(mean_ms),
       CASE WHEN count(*) > 1
            THEN sqrt(max(0, (sum(mean_ms * mean_ms) - sum(mean_ms) * sum(mean_ms) / count(*))
                             / (count(*) - 1)))
            ELSE 0 END
FROM latest_run WHERE scenario_name = 'sweep-loss'
GROUP BY system, loss
ORDER BY CASE system WHEN 'dllama' THEN 0 WHEN 'balanced' THEN 1 WHEN 'relaxed' THEN 2
                     WHEN 'halo' THEN 3 ELSE 4 END, system, loss;
SELECT printf('%s (%s, %s), %d devices, loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, tokens, count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-loss';
