-- The ids of a resource with a version held back by the quality gate.
SELECT DISTINCT id FROM internal.rejected_versions WHERE resource = $resource ORDER BY id
