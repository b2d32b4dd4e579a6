-- Deleted records leave the live table (their history stays, closed at the deletion).
DELETE FROM {table}
WHERE id IN (SELECT id FROM incoming_deletions)
RETURNING id
