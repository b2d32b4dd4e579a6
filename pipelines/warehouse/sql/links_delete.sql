-- Link rows of changed or deleted records are rebuilt from their current version.
-- `{link}` and `{key}` come from the resource's declaration (pipelines/registry.py).
DELETE FROM {link}
WHERE {key} IN (SELECT id FROM applied UNION ALL SELECT id FROM incoming_deletions)
