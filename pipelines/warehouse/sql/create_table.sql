-- A warehouse table with the columns (and types) of the registered empty Arrow table `_empty`.
-- `{table}` is one of the loader's own table names: DuckDB cannot bind an identifier.
CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM _empty
