-- Delete the erased customers' own rows from `{table}` (by `{key}`).
DELETE FROM {table} WHERE {key} IN (SELECT id FROM erased_people) {extra}
