-- Where time goes per layer, seen from the root, at the highest loss rate of
-- scenarios/sweep-loss.yaml, distributed-llama against HALO: series, layer, ms per token
-- in the layer's two blocks (compute, sending, waiting), and of which waiting at syncs.
SELECT series, layer, ms FROM (
    SELECT r.system || ': in the layer' AS series, l.layer AS layer,
           sum(l.attn_ms + l.ffn_ms) / sum(r.tokens) AS ms,
           CASE r.system WHEN 'dllama' THEN 0 ELSE 1 END AS o, 0 AS k
    FROM layer_stat l JOIN latest_run r ON r.id = l.run_id
    WHERE r.scenario_name = 'sweep-loss' AND r.system IN ('dllama', 'halo')
      AND r.loss = (SELECT max(loss) FROM latest_run WHERE scenario_name = 'sweep-loss')
    GROUP BY r.system, l.layer
    UNION ALL
    SELECT r.system || ': waiting at its syncs', l.layer,
           sum(l.attn_wait_ms + l.ffn_wait_ms) / sum(r.tokens),
           CASE r.system WHEN 'dllama' THEN 0 ELSE 1 END, 1
    FROM layer_stat l JOIN latest_run r ON r.id = l.run_id
    WHERE r.scenario_name = 'sweep-loss' AND r.system IN ('dllama', 'halo')
      AND r.loss = (SELECT max(loss) FROM latest_run WHERE scenario_name = 'sweep-loss')
    GROUP BY r.system, l.layer)
ORDER BY o, k, layer;
SELECT printf('%s (%s, %s), %d devices, %g%% loss on every worker''s links, mean over %d tokens x %d runs',
              model, weights, kind, n_devices, 100 * loss, tokens, count(*) / count(DISTINCT point))
FROM latest_run WHERE scenario_name = 'sweep-loss'
  AND loss = (SELECT max(loss) FROM latest_run WHERE scenario_name = 'sweep-loss');
