-- Upsert by id: the newest updated_at wins, so a lookback re-read or an older version arriving
-- late never overwrites a newer row. RETURNING lists exactly the rows that changed. By name: a
-- column added since the table was created (evolve.py) is last in it, not in the declaration.
MERGE INTO {table} AS t
USING staged AS s
ON t.id = s.id
WHEN MATCHED AND s.updated_at > t.updated_at THEN UPDATE BY NAME
WHEN NOT MATCHED THEN INSERT BY NAME
RETURNING merge_action AS action, t.id
