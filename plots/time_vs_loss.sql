-- Time per token against the loss rate, every engine setting (scenarios/sweep-loss.yaml):
-- series, loss %, mean ms/token over runs, the half-width of its confidence interval over
-- runs (ci_half: Student's t at halo plot's --confidence, as halo report).
SELECT system AS series, 100 * loss, avg(mean_ms), ci_half(mean_ms)
FROM latest_run WHERE scenario_name = 'sweep-loss'
GROUP BY system, loss
ORDER BY CASE system WHEN 'dllama' THEN 0 WHEN 'balanced' THEN 1 WHEN 'relaxed' THEN 2
                     WHEN 'halo' THEN 3 ELSE 4 END, system, loss;
SELECT printf('%s (%s, %s), %d devices, loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, tokens, count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-loss';
