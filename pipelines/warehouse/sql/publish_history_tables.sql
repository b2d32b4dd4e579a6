-- The `*_history` tables both the warehouse and the previous analyst copy hold.
SELECT table_name FROM duckdb_tables()
WHERE database_name = '_warehouse' AND schema_name = 'main' AND table_name LIKE '%\_history' ESCAPE '\'
INTERSECT
SELECT table_name FROM duckdb_tables()
WHERE database_name = '_analyst_copy' AND schema_name = 'main'
