-- Files read by name as the declaration's table (pipelines/sync/evolve.py): its columns in its
-- order and types (an empty typed table), those declared after a file was written filled from
-- `api_extra`. The column list and both names are built from the registry, never from input.
SELECT
    {columns}
FROM (
    SELECT * FROM {typed}
    UNION ALL BY NAME
    SELECT * FROM {source}
)
