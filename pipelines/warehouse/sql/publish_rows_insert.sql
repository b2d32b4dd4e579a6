-- The warehouse's rows of the changed keys ($keys; a NULL key when $null_key) into the copy, by
-- name (the copy's JSON columns take the JSON text as it is). `{table}` and `{key}` are quoted
-- names.
INSERT INTO _analyst_copy.{table} BY NAME
SELECT * FROM _warehouse.{table}
WHERE {key} IN (SELECT unnest($keys)) OR ({key} IS NULL AND $null_key)
