-- How the incoming batches relate to the snapshot: new ids, newer versions, re-read versions,
-- and deletions of ids the snapshot held.
WITH incoming AS (
    SELECT id, max(updated_at) AS updated_at FROM incoming_rows GROUP BY id
)
SELECT
    count(*) FILTER (WHERE c.id IS NULL) AS new,
    count(*) FILTER (WHERE c.id IS NOT NULL AND i.updated_at > c.updated_at) AS changed,
    count(*) FILTER (WHERE c.id IS NOT NULL AND i.updated_at <= c.updated_at) AS unchanged,
    (SELECT count(*) FROM current_rows AS cr WHERE cr.id IN (SELECT id FROM deleted_ids)) AS deleted
FROM incoming AS i
LEFT JOIN current_rows AS c USING (id)
