-- Every validated version in the pending change batches, once per (id, updated_at): versions the
-- quality gate rejected are skipped, and so are versions fetched before a tombstone of their id
-- (a record deleted since must not come back); one fetched after it is vivenu listing the record
-- again, and brings it back (deletions_lifted.sql).
CREATE OR REPLACE TEMP TABLE versions AS
SELECT * EXCLUDE (_rank)
FROM (
    SELECT
        i.*,
        row_number() OVER (PARTITION BY i.id, i.updated_at ORDER BY i._synced_at DESC) AS _rank
    FROM incoming AS i
    WHERE NOT EXISTS (
            SELECT 1 FROM rejected AS r WHERE r.record_id = i.id AND r.updated_at = i.updated_at
        )
      AND NOT EXISTS (
            SELECT 1 FROM deletions AS d
            WHERE d.resource = $resource AND d.id = i.id AND i._synced_at <= d.deleted_at
        )
)
WHERE _rank = 1
