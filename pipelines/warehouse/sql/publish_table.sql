-- One table of the analyst copy replaced by the warehouse's rows; its definition (JSON types,
-- comments) stays. `{table}` is a quoted name read from the warehouse's own catalog.
DELETE FROM _analyst_copy.{table};
INSERT INTO _analyst_copy.{table} BY NAME SELECT * FROM _warehouse.{table};
