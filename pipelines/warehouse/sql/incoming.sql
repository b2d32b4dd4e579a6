-- The rows to merge: the pending runs' change batches, plus versions skipped earlier because the
-- quality gate rejected them and that it no longer rejects (they validate now).
CREATE OR REPLACE TEMP TABLE incoming AS
SELECT * FROM pending_rows
UNION ALL BY NAME
SELECT r.*
FROM released_rows AS r
SEMI JOIN _rejected_versions AS v
    ON v.resource = $resource AND v.id = r.id AND v.updated_at = r.updated_at
WHERE NOT EXISTS (
    SELECT 1 FROM rejected AS q WHERE q.record_id = r.id AND q.updated_at = r.updated_at
)
