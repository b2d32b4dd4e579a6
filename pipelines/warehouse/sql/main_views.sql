-- The views of the current database's schema main, with their SQL.
SELECT view_name, sql FROM duckdb_views()
WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
