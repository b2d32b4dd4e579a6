-- Whether the open database has the table (bound schema and name).
SELECT count(*) FROM information_schema.tables
WHERE table_catalog = current_database() AND table_schema = $schema AND table_name = $name
