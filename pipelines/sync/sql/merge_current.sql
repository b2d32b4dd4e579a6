-- The current version of every record: the newest `updated_at` per id across the snapshot and the
-- incoming change batches (lookback re-reads collapse here; on a tie the incoming row wins, for
-- its newer lineage), minus the deletions in force (merge_deletions.sql). Only what the incoming
-- batches touch is materialized: the `winners` (incoming versions no snapshot row beats) and the
-- `superseded` ids (a winner's or a deleted one's, whose snapshot rows all give way, so a
-- duplicated id never loses every row); `merged` is a view that streams the snapshot's other rows
-- through, in their order, so a small change neither holds nor sorts the whole table.
CREATE TEMP TABLE incoming AS
SELECT *
FROM incoming_rows
QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _synced_at DESC) = 1;

CREATE TEMP TABLE winners AS
SELECT *
FROM incoming AS i
WHERE NOT EXISTS (SELECT 1 FROM current_rows AS c WHERE c.id = i.id AND c.updated_at > i.updated_at)
  AND NOT EXISTS (SELECT 1 FROM deleted_ids AS d WHERE d.id = i.id)
ORDER BY id;

CREATE TEMP TABLE superseded AS
SELECT id FROM winners
UNION
SELECT id FROM deleted_ids;

CREATE TEMP VIEW merged AS
SELECT *
FROM current_rows AS c
WHERE NOT EXISTS (SELECT 1 FROM superseded AS s WHERE s.id = c.id)
UNION ALL BY NAME
SELECT *
FROM winners;
