-- Every confirmed deletion so far, once per id.
CREATE TEMP TABLE deleted_ids AS
SELECT * EXCLUDE (_rank)
FROM (
    SELECT *, row_number() OVER (PARTITION BY id ORDER BY deleted_at) AS _rank
    FROM (
        SELECT * FROM current_deletions
        UNION ALL BY NAME
        SELECT * FROM incoming_deletions
    )
)
WHERE _rank = 1
ORDER BY id
