-- Rows loaded before a field was declared get its value from their `api_extra`, where the
-- field was kept until then (pipelines/sync/evolve.py builds `{assignments}` and `{held}`).
UPDATE {table} SET {assignments} WHERE {held}
