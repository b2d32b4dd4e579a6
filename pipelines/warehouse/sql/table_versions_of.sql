-- The recorded versions of some tables of schema main (the bound list `$tables`).
SELECT table_name, version FROM internal.table_versions WHERE list_contains($tables, table_name)
