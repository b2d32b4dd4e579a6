-- The SCD2 history of `{table}`: its columns plus the validity interval of each version.
-- `{table}` is one of the loader's own table names: DuckDB cannot bind an identifier.
CREATE TABLE IF NOT EXISTS {table}_history AS
SELECT *, NULL::TIMESTAMPTZ AS valid_from, NULL::TIMESTAMPTZ AS valid_to
FROM _empty
