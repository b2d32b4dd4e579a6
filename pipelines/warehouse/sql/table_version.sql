-- A new version of a warehouse table, recorded in the transaction that changes it, so the next
-- analyst copy copies it again (publish_stale.sql). `$table` is a table of schema main.
INSERT OR REPLACE INTO internal.table_versions VALUES ($table, uuid()::VARCHAR)
