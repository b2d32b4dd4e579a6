-- Versions of a resource still held back by the quality gate.
SELECT count(*) FROM internal.rejected_versions WHERE resource = $resource
