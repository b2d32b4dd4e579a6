-- What differs between the definitions of a fresh analyst copy (`_fresh`, publish_template.sql)
-- and the previous copy's: a schema, table, column (its place, type, default, nullability),
-- view (its SQL), constraint or index, or the comment of any of them. Empty: the previous copy
-- is shaped as a fresh one would be, so refreshing its rows makes it equal to one.
WITH objects AS (
    SELECT database_name, 'schema' AS kind, schema_name, NULL AS name, NULL AS part,
        NULL AS detail, comment
    FROM duckdb_schemas()
    UNION ALL
    SELECT database_name, 'table', schema_name, table_name, NULL, NULL, comment
    FROM duckdb_tables()
    UNION ALL
    SELECT database_name, 'column', schema_name, table_name, column_name,
        concat_ws(' ', column_index, data_type, is_nullable, column_default), comment
    FROM duckdb_columns()
    UNION ALL
    SELECT database_name, 'view', schema_name, view_name, NULL, sql, comment
    FROM duckdb_views() WHERE NOT internal
    UNION ALL
    SELECT database_name, 'constraint', schema_name, table_name, constraint_type, constraint_text,
        NULL
    FROM duckdb_constraints()
    UNION ALL
    SELECT database_name, 'index', schema_name, table_name, index_name, sql, comment
    FROM duckdb_indexes()
),
fresh AS (SELECT * EXCLUDE (database_name) FROM objects WHERE database_name = '_fresh'),
previous AS (SELECT * EXCLUDE (database_name) FROM objects WHERE database_name = '_analyst_copy')
SELECT kind, schema_name, name, part FROM (FROM fresh EXCEPT FROM previous)
UNION ALL
SELECT kind, schema_name, name, part FROM (FROM previous EXCEPT FROM fresh)
LIMIT 1
