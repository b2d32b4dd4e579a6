-- The new analyst copy: a fresh temporary file (the path is a bound value), in the storage format
-- of DuckDB 1.0, which every DuckDB since reads: the duckdb-cli shell (1.5), DBeaver, JDBC and
-- ODBC drivers of 1.x. The default format of DuckDB 2.0 (storage version 69) shuts them out.
ATTACH $path AS _analyst_copy (STORAGE_VERSION 'v1.0.0')
