-- HALO's speedup over distributed-llama against the threshold tau
-- (scenarios/sweep-tau.yaml): series, tau, speedup, its interval (the view speedup_ci of
-- _speedup.sql: the report's interval), contributions dropped (%).
SELECT system AS series, tau, speedup, low, high, missing_pct
FROM speedup_ci WHERE scenario_name = 'sweep-tau'
ORDER BY system, tau;
SELECT printf('%s (%s, %s), %d devices, %g%% loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, loss_pct, tokens, runs_per_point)
FROM sweep_conditions WHERE scenario_name = 'sweep-tau';
