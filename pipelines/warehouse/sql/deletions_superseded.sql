-- A tombstone is a fact about a time: a later one for the same id replaces it.
DELETE FROM deletions AS d
WHERE d.resource = $resource
  AND EXISTS (
        SELECT 1 FROM incoming_deletions AS i WHERE i.id = d.id AND i.deleted_at > d.deleted_at
    )
