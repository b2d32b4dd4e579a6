-- The current version of every record: newest updated_at per id across the snapshot and the
-- incoming change batches (lookback overlap re-reads are removed here), minus confirmed deletions.
CREATE TEMP TABLE merged AS
SELECT * EXCLUDE (_rank)
FROM (
    SELECT
        *,
        row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _synced_at DESC) AS _rank
    FROM (
        SELECT * FROM current_rows
        UNION ALL BY NAME
        SELECT * FROM incoming_rows
    )
) AS r
WHERE _rank = 1
  AND NOT EXISTS (SELECT 1 FROM deleted_ids AS d WHERE d.id = r.id)
ORDER BY id
