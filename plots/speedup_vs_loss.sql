-- Speedup over distributed-llama (strict, TCP, equal split) against the loss rate
-- (scenarios/sweep-loss.yaml): series, loss %, mean dllama ms/token / mean ms/token, its
-- interval.
-- The interval of each speedup is the report's: from the ends of the two confidence intervals
-- of the mean over runs (ci_half: Student's t), low = (dllama - h_d) / (ms + h), high =
-- (dllama + h_d) / (ms - h); the speedup alone when ms - h <= 0. Pairs as the view speedup.
WITH m AS (
    SELECT system, n_devices, speed_ratio, loss, tau, avg(mean_ms) AS ms, ci_half(mean_ms) AS h
    FROM latest_run WHERE scenario_name = 'sweep-loss'
    GROUP BY system, n_devices, speed_ratio, loss, tau)
SELECT a.system AS series, 100 * a.loss, d.ms / a.ms,
       CASE WHEN a.ms > a.h THEN (d.ms - d.h) / (a.ms + a.h) ELSE d.ms / a.ms END,
       CASE WHEN a.ms > a.h THEN (d.ms + d.h) / (a.ms - a.h) ELSE d.ms / a.ms END
FROM m a JOIN m d
     ON d.system = 'dllama' AND d.n_devices = a.n_devices AND d.speed_ratio = a.speed_ratio
        AND d.loss = a.loss AND d.tau = a.tau
WHERE a.system <> 'dllama'
ORDER BY CASE a.system WHEN 'balanced' THEN 1 WHEN 'relaxed' THEN 2 WHEN 'halo' THEN 3
                       ELSE 4 END, a.system, a.loss;
-- Conditions, and whether the runs are of the paper's own setup (`paper: true` at the top of
-- the scenario's text): only then does the figure mark the paper's published number.
SELECT printf('%s (%s, %s), %d devices, loss on every worker''s links, %d tokens, %d runs per point',
              model, weights, kind, n_devices, tokens, count(*) / count(DISTINCT point)),
       (SELECT count(*) FROM scenario s WHERE s.hash = min(r.scenario_hash)
                                          AND instr(char(10) || s.text, char(10) || 'paper: true') > 0)
FROM latest_run r WHERE scenario_name = 'sweep-loss';
