-- Record versions fetched before $cutoff.
SELECT count(*) FROM changes WHERE _synced_at < $cutoff
