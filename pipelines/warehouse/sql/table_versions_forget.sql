-- Every recorded version forgotten (after a change no writer recorded): every table counts as
-- changed once, for the analyst copy and the analytics. The next load creates the table again.
DROP TABLE IF EXISTS internal.table_versions
