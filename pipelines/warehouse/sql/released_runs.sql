-- Runs holding a held-back version that the quality gate now lets through. The gate judges only
-- the snapshot's current version of each record (`current_versions`), so a held version is
-- released only when it is that version and it is no longer rejected. An older held version was
-- never judged again: it is never released (rejected_forget.sql drops it once superseded).
SELECT DISTINCT v.run_id
FROM internal.rejected_versions AS v
SEMI JOIN current_versions AS c ON c.id = v.id AND c.updated_at = v.updated_at
WHERE v.resource = $resource
  AND NOT EXISTS (
      SELECT 1 FROM rejected AS q WHERE q.record_id = v.id AND q.updated_at = v.updated_at
  )
ORDER BY v.run_id
