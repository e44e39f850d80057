-- HALO's speedup over distributed-llama against the number of devices
-- (scenarios/sweep-scale.yaml): series, devices, speedup, its interval (the view speedup_ci of
-- _speedup.sql: the report's interval).
SELECT system AS series, n_devices, speedup, low, high
FROM speedup_ci WHERE scenario_name = 'sweep-scale'
ORDER BY system, n_devices;
SELECT printf('%s (%s, %s), %g%% loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, loss_pct, tokens, runs_per_point)
FROM sweep_conditions WHERE scenario_name = 'sweep-scale';
