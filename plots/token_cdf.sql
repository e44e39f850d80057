-- Latency CDF of tokens at the highest loss rate of scenarios/sweep-loss.yaml, every engine
-- setting: series, ms, fraction of tokens at most that slow (all runs pooled).
SELECT r.system AS series, t.time_ms,
       cume_dist() OVER (PARTITION BY r.system ORDER BY t.time_ms)
FROM token t JOIN latest_run r ON r.id = t.run_id
WHERE r.scenario_name = 'sweep-loss'
  AND r.loss = (SELECT max(loss) FROM latest_run WHERE scenario_name = 'sweep-loss')
ORDER BY CASE r.system WHEN 'dllama' THEN 0 WHEN 'balanced' THEN 1 WHEN 'relaxed' THEN 2
                       WHEN 'halo' THEN 3 ELSE 4 END, r.system, t.time_ms;
SELECT printf('%s (%s, %s), %d devices, %g%% loss on every worker''s links, %d tokens x %d runs per setting',
              model, weights, kind, n_devices, 100 * loss, tokens, count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-loss'
  AND loss = (SELECT max(loss) FROM latest_run WHERE scenario_name = 'sweep-loss');
