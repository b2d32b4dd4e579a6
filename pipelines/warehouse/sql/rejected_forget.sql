-- Forget held-back versions merged now (the quality gate lets them through).
DELETE FROM _rejected_versions AS v
WHERE v.resource = $resource
  AND EXISTS (SELECT 1 FROM versions AS s WHERE s.id = v.id AND s.updated_at = v.updated_at)
