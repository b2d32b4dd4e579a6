-- Rows of `{table}` whose `{key}` is an erased customer (`erased_people`, registered by the
-- erasure). `{table}` and `{key}` come from the registry: DuckDB cannot bind an identifier.
SELECT count(*) FROM {table} WHERE {key} IN (SELECT id FROM erased_people) {extra}
