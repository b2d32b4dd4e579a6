-- The SCD2 history of `{table}`: its columns plus the validity interval of each version.
-- `{table}` is one of the loader's own table names: DuckDB cannot bind an identifier.
--
-- Table {table}_history: one row per version of a {table} row ever loaded (id, valid_from):
--   the record as it was from valid_from until valid_to. The current version has valid_to NULL;
--   a deleted record's last version ends at its deletion. As of a time T: valid_from <= T AND
--   (valid_to IS NULL OR valid_to > T).
-- Columns:
--   *: {table}
--   valid_from: when this version became current: its updated_at (UTC)
--   valid_to: when the next version (or the deletion) replaced it (UTC); NULL while current
CREATE TABLE IF NOT EXISTS {table}_history AS
SELECT *, NULL::TIMESTAMPTZ AS valid_from, NULL::TIMESTAMPTZ AS valid_to
FROM _empty
