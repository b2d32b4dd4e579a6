-- Remember the versions skipped as rejected, to merge them once the gate lets them through.
INSERT INTO internal.rejected_versions
SELECT DISTINCT $resource, i.id, i.updated_at, i._run_id
FROM incoming AS i
SEMI JOIN rejected AS q ON q.record_id = i.id AND q.updated_at = i.updated_at
WHERE NOT EXISTS (
    SELECT 1 FROM internal.rejected_versions AS v
    WHERE v.resource = $resource AND v.id = i.id AND v.updated_at = i.updated_at
)
