-- Record the batch's confirmed deletions (tombstones): the latest per id, unless one at least as
-- late is in force already (deletions_superseded.sql removed the older ones).
INSERT INTO deletions BY NAME
SELECT * REPLACE ($resource AS resource)
FROM incoming_deletions AS i
WHERE NOT EXISTS (SELECT 1 FROM deletions AS d WHERE d.resource = $resource AND d.id = i.id)
QUALIFY row_number() OVER (PARTITION BY i.id ORDER BY i.deleted_at DESC) = 1
