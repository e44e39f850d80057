-- Overlapped neuron-group loading (scenarios/loading.yaml): time per token against the
-- workers' memory, USB 3 SSD storage, per engine with and without read-ahead:
-- series, worker memory (MiB), mean ms/token, hidden share of the storage reading (%)
-- (halo plot passes the columns after the series name).
SELECT r.system || CASE r.prefetch WHEN 1 THEN ', read-ahead' ELSE ', on demand' END AS series,
       CAST(m.value AS REAL), avg(r.mean_ms),
       CASE WHEN sum(r.storage_read_ms) > 0
            THEN 100.0 * (1 - sum(r.storage_stall_ms) / sum(r.storage_read_ms)) ELSE 0 END
FROM latest_run r
JOIN run_axis m ON m.run_id = r.id AND m.key = 'devices[1].memory_mb'
JOIN run_axis s ON s.run_id = r.id AND s.key = 'devices[1].profile.storage_mbps'
WHERE r.scenario_name = 'loading' AND CAST(s.value AS REAL) = 350
GROUP BY r.system, r.prefetch, m.value
ORDER BY r.system, r.prefetch, CAST(m.value AS REAL);
SELECT printf('%s (%s, %s), %d devices, %g%% loss on the workers'' links, USB 3 SSD (350 MB/s), %d tokens',
              model, weights, kind, n_devices, 100 * max(loss), tokens)
FROM latest_run WHERE scenario_name = 'loading';
