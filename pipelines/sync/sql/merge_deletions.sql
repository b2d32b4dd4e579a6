-- The confirmed deletions in force, once per id. A tombstone is a fact about a time, not a ban:
-- each id keeps its latest one, and a record fetched again after it (vivenu listed it, so it
-- exists) lifts it. `_synced_at` and `deleted_at` both come from this host's clock, and syncs and
-- reconciles of a resource never overlap (the lake lock), so "fetched after" is well ordered.
-- Only incoming rows can be newer than a tombstone: a compaction merges every pending run.
CREATE TEMP TABLE deleted_ids AS
WITH tombstones AS (
    SELECT *
    FROM (
        SELECT * FROM current_deletions
        UNION ALL BY NAME
        SELECT * FROM incoming_deletions
    )
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY deleted_at DESC) = 1
)
SELECT t.*
FROM tombstones AS t
WHERE NOT EXISTS (
        SELECT 1 FROM incoming_rows AS r WHERE r.id = t.id AND r._synced_at > t.deleted_at
    )
ORDER BY id
