-- HALO's speedup over distributed-llama against the threshold tau
-- (scenarios/sweep-tau.yaml): series, tau, speedup, contributions dropped (%).
SELECT system AS series, tau, speedup, missing_pct FROM speedup
WHERE scenario_name = 'sweep-tau' ORDER BY system, tau;
SELECT printf('%s (%s, %s), %d devices, %g%% loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, 100 * max(loss), tokens,
              count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-tau';
