-- Speedup over distributed-llama (strict, TCP, equal split) against the loss rate
-- (scenarios/sweep-loss.yaml): series, loss %, mean dllama ms/token / mean ms/token, its
-- interval (the view speedup_ci of _speedup.sql: the report's interval).
SELECT system AS series, 100 * loss, speedup, low, high
FROM speedup_ci WHERE scenario_name = 'sweep-loss'
ORDER BY CASE system WHEN 'balanced' THEN 1 WHEN 'relaxed' THEN 2 WHEN 'halo' THEN 3
                     ELSE 4 END, system, loss;
-- Conditions, and whether the runs are of the paper's own setup (`paper: true` at the top of
-- the scenario's text): only then does the figure mark the paper's published number.
SELECT printf('%s (%s, %s), %d devices, loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, tokens, count(*) / count(DISTINCT point)),
       (SELECT count(*) FROM scenario s WHERE s.hash = min(r.scenario_hash)
                                          AND instr(char(10) || s.text, char(10) || 'paper: true') > 0)
FROM latest_run r WHERE scenario_name = 'sweep-loss';
