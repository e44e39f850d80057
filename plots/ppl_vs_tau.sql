-- Perplexity against the threshold tau on the bundled model (scenarios/threshold.yaml):
-- series, tau, mean perplexity, the half-width of its confidence interval over runs
-- (ci_half, as the report's), contributions dropped (%).
SELECT r.system AS series, r.tau, avg(q.perplexity), ci_half(q.perplexity),
       100.0 * sum(q.missing) / max(1, sum(q.expected))
FROM latest_run r JOIN quality q ON q.run_id = r.id
WHERE r.scenario_name = 'threshold' AND r.kind = 'numerics'
GROUP BY r.system, r.tau ORDER BY r.system, r.tau;
SELECT printf('stories260K (numerics), %d simulated Pi 4B, %g%% loss on every worker''s links, %d stories (%d tokens) scored per point',
              r.n_devices, 100 * max(r.loss), max(q.stories), max(q.tokens))
FROM latest_run r JOIN quality q ON q.run_id = r.id WHERE r.scenario_name = 'threshold';
