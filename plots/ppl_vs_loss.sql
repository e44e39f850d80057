-- Perplexity against the loss rate on the bundled model (scenarios/sweep-quality.yaml):
-- series, loss %, mean perplexity over runs and the half-width of its confidence interval
-- (ci_half, as the report's). Only numerics runs have quality rows.
SELECT r.system AS series, 100 * r.loss, avg(q.perplexity), ci_half(q.perplexity)
FROM latest_run r JOIN quality q ON q.run_id = r.id
WHERE r.scenario_name = 'sweep-quality' AND r.kind = 'numerics'
GROUP BY r.system, r.loss ORDER BY r.system DESC, r.loss;
SELECT printf('stories260K (numerics), %d simulated Pi 4B, loss on every worker''s links, %d stories (%d tokens) scored per point',
              r.n_devices, max(q.stories), max(q.tokens))
FROM latest_run r JOIN quality q ON q.run_id = r.id WHERE r.scenario_name = 'sweep-quality';
