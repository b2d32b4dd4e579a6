-- Of the record versions fetched before $cutoff, those still current: the newest of their
-- record over the whole `changes` (ties by fetch time, then run). The others are compacted away.
SELECT * EXCLUDE (_newest) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY id ORDER BY updated_at DESC, _synced_at DESC, _run_id DESC
    ) = 1 AS _newest
    FROM changes
)
WHERE _synced_at < $cutoff AND _newest
