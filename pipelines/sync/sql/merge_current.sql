-- The current version of every record: the newest `updated_at` per id across the snapshot and the
-- incoming change batches (lookback re-reads collapse here; on a tie the incoming row wins, for
-- its newer lineage), minus the deletions in force (merge_deletions.sql). Only what the incoming
-- batches touch is materialized (`winners`, and the `superseded` ids read from the snapshot's id
-- and updated_at columns); `merged` is a view that streams the snapshot's other rows through, in
-- their order, so a small change never holds nor sorts the whole table.
CREATE TEMP TABLE incoming AS
SELECT *
FROM incoming_rows
QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _synced_at DESC) = 1;

CREATE TEMP TABLE superseded AS
SELECT c.id
FROM current_rows AS c
JOIN incoming AS i ON i.id = c.id AND i.updated_at >= c.updated_at
UNION
SELECT id FROM deleted_ids;

CREATE TEMP TABLE winners AS
SELECT *
FROM incoming AS i
WHERE NOT EXISTS (SELECT 1 FROM current_rows AS c WHERE c.id = i.id AND c.updated_at > i.updated_at)
  AND NOT EXISTS (SELECT 1 FROM deleted_ids AS d WHERE d.id = i.id)
ORDER BY id;

CREATE TEMP VIEW merged AS
SELECT *
FROM current_rows AS c
WHERE NOT EXISTS (SELECT 1 FROM superseded AS s WHERE s.id = c.id)
UNION ALL BY NAME
SELECT *
FROM winners;
