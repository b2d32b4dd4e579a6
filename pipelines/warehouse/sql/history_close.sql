-- Close the versions of the ids this load touched: a version is valid until the next version of
-- the record, or until the record's deletion; the open one (valid_to NULL) is the current one.
-- Recomputed per touched id, so a version arriving out of order lands in the right place.
UPDATE {table}_history AS h
SET valid_to = n.valid_to
FROM (
    SELECT
        hh.id,
        hh.valid_from,
        coalesce(
            lead(hh.valid_from) OVER (PARTITION BY hh.id ORDER BY hh.valid_from), d.deleted_at
        ) AS valid_to
    FROM {table}_history AS hh
    LEFT JOIN deletions AS d ON d.resource = $resource AND d.id = hh.id
    WHERE hh.id IN (SELECT id FROM versions UNION ALL SELECT id FROM incoming_deletions)
) AS n
WHERE h.id = n.id
  AND h.valid_from = n.valid_from
  AND h.valid_to IS DISTINCT FROM n.valid_to
