-- The columns of every table and view of the current database (the analyst copy being written).
SELECT schema_name, table_name, column_name, data_type
FROM duckdb_columns()
WHERE database_name = current_database()
ORDER BY schema_name, table_name, column_index
