-- Whether the database has the table (name bound).
SELECT count(*) FROM duckdb_tables() WHERE table_name = $table AND schema_name = 'main'
