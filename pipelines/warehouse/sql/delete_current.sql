-- Deleted records leave the live table (their history stays, closed at the deletion), unless
-- this load also holds a version fetched after the tombstone.
DELETE FROM {table}
WHERE id IN (SELECT id FROM incoming_deletions)
  AND id NOT IN (SELECT id FROM versions)
RETURNING id
