-- The recorded version of one table of schema main, if any.
SELECT version FROM internal.table_versions WHERE table_name = $table
