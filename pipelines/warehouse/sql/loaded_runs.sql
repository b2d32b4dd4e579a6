-- Mark the pending runs loaded (in the same transaction as their merge: exactly once).
INSERT INTO internal.loaded_runs
SELECT $resource, r.run_id, count(p._run_id), now()
FROM unnest($runs::VARCHAR[]) AS r(run_id)
LEFT JOIN pending_rows AS p ON p._run_id = r.run_id
GROUP BY r.run_id
