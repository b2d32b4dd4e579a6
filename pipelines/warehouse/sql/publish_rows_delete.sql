-- The copy's rows of the changed keys ($keys; a NULL key when $null_key) go, to be inserted again
-- from the warehouse (publish_rows_insert.sql). `{table}` and `{key}` are quoted names.
DELETE FROM _analyst_copy.{table}
WHERE {key} IN (SELECT unnest($keys)) OR ({key} IS NULL AND $null_key)
