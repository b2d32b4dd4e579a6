-- Why the previous analyst copy cannot be refreshed, if its data is the reason: an erasure since
-- it was written (a refresh would leave the erased rows' old blocks in the file: after an erasure
-- the copy is written afresh), or a warehouse without versions (an erasure or the history
-- retention forgot them). Its definitions are compared in publish_definitions.sql.
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
