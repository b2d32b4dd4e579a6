-- The rows to merge: the pending runs' change batches, plus versions skipped earlier because the
-- quality gate rejected them, that are the version the gate judges now (the snapshot's current
-- one, `current_versions`) and that it no longer rejects (they validate now). A held version
-- superseded by a newer one was never validated: it is not merged, not even into the history.
CREATE OR REPLACE TEMP TABLE incoming AS
SELECT * FROM pending_rows
UNION ALL BY NAME
SELECT r.*
FROM released_rows AS r
SEMI JOIN internal.rejected_versions AS v
    ON v.resource = $resource AND v.id = r.id AND v.updated_at = r.updated_at
SEMI JOIN current_versions AS c ON c.id = r.id AND c.updated_at = r.updated_at
WHERE NOT EXISTS (
    SELECT 1 FROM rejected AS q WHERE q.record_id = r.id AND q.updated_at = r.updated_at
)
