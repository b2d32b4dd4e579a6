-- The columns of one warehouse table of schema main (the name is a bound value).
SELECT column_name FROM duckdb_columns()
WHERE database_name = '_warehouse' AND schema_name = 'main' AND table_name = $table
ORDER BY column_index
