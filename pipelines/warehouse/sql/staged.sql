-- The newest version per id among the pending versions: what the upsert merges.
CREATE OR REPLACE TEMP TABLE staged AS
SELECT * EXCLUDE (_rank)
FROM (
    SELECT *, row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) AS _rank
    FROM versions
)
WHERE _rank = 1
