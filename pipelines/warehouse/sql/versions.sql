-- Every validated version in the pending change batches, once per (id, updated_at): versions the
-- quality gate rejected are skipped, and ids confirmed deleted never come back (vivenu does not
-- reuse ids; a lookback re-read of a record deleted since must not resurrect it).
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
      AND NOT EXISTS (SELECT 1 FROM deletions AS d WHERE d.resource = $resource AND d.id = i.id)
)
WHERE _rank = 1
