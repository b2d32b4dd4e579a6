-- The current version of every record: the newest `updated_at` per id across the snapshot and the
-- incoming change batches (lookback re-reads collapse here; on a tie the incoming row wins, for
-- its newer lineage), minus the deletions in force (merge_deletions.sql). Hash anti-joins rather
-- than a window over the whole table: the snapshot streams through, and only the incoming ids are
-- held in memory.
CREATE TEMP TABLE merged AS
WITH incoming AS (
    SELECT *
    FROM incoming_rows
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _synced_at DESC) = 1
)
SELECT *
FROM current_rows AS c
WHERE NOT EXISTS (SELECT 1 FROM incoming AS i WHERE i.id = c.id AND i.updated_at >= c.updated_at)
  AND NOT EXISTS (SELECT 1 FROM deleted_ids AS d WHERE d.id = c.id)
UNION ALL BY NAME
SELECT *
FROM incoming AS i
WHERE NOT EXISTS (SELECT 1 FROM current_rows AS c WHERE c.id = i.id AND c.updated_at > i.updated_at)
  AND NOT EXISTS (SELECT 1 FROM deleted_ids AS d WHERE d.id = i.id)
-- Sorted by id, so each row group covers a narrow id range for lookups by id. Only within a batch:
-- delta-rs 1.6 writes the batches of a stream in an order of its own (measured: two interleaved
-- runs), so readers must not assume the table sorted.
ORDER BY id
