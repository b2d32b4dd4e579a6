-- A documented JSON column (JSON text in a VARCHAR) typed JSON. DuckDB cannot bind identifiers:
-- `{table}` and `{column}` are quoted names from the catalog's own SQL headers.
ALTER TABLE {table} ALTER COLUMN {column} SET DATA TYPE JSON;
