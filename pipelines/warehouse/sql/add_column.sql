-- A column for a field declared after `{table}` was created (pipelines/sync/evolve.py).
-- `{table}`, `{column}` and `{type}` come from the registry: DuckDB cannot bind identifiers.
ALTER TABLE {table} ADD COLUMN {column} {type}
