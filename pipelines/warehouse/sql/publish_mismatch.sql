-- Why the previous analyst copy cannot be refreshed, if it cannot: a table, view or column of the
-- warehouse it lacks or holds otherwise (a JSON column is VARCHAR in the warehouse, JSON in the
-- copy), or an erasure since it was written (a refresh would leave the erased rows' old blocks in
-- the file: after an erasure the copy is written afresh), or a warehouse without versions (an
-- erasure of an earlier release dropped them). The views are created again anyway.
WITH w AS (
    SELECT schema_name, table_name, column_name, data_type
    FROM duckdb_columns() WHERE database_name = '_warehouse'
),
c AS (
    SELECT schema_name, table_name, column_name, data_type
    FROM duckdb_columns() WHERE database_name = '_analyst_copy'
)
SELECT 'column ' || coalesce(w.table_name, c.table_name) || '.' || coalesce(w.column_name, c.column_name)
FROM w FULL OUTER JOIN c USING (schema_name, table_name, column_name)
WHERE w.data_type IS DISTINCT FROM c.data_type
  AND NOT coalesce(w.data_type = 'VARCHAR' AND c.data_type = 'JSON', false)
UNION ALL
SELECT 'erasure ' || erasure_id
FROM (
    SELECT erasure_id FROM _warehouse.main.erasure_log
    EXCEPT
    SELECT erasure_id FROM _analyst_copy.main.erasure_log
)
UNION ALL
SELECT 'no table versions'
WHERE NOT EXISTS (
    SELECT 1 FROM duckdb_tables()
    WHERE database_name = '_warehouse' AND schema_name = 'internal' AND table_name = 'table_versions'
)
LIMIT 1
