-- Speedup over distributed-llama against heterogeneity, measured as the speed ratio of the
-- fastest to the slowest device (scenarios/sweep-hetero.yaml): series, ratio, speedup, its
-- interval (the view speedup_ci of _speedup.sql: the report's interval).
SELECT system AS series, speed_ratio, speedup, low, high
FROM speedup_ci WHERE scenario_name = 'sweep-hetero'
ORDER BY system, speed_ratio;
SELECT printf('%s (%s, %s), %d devices (4 slowed), %g%% loss on workers'' links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, loss_pct, tokens, runs_per_point)
FROM sweep_conditions WHERE scenario_name = 'sweep-hetero';
