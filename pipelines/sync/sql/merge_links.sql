-- A link table of the merged records, built only for the records the incoming batches touch: the
-- snapshot's link rows of the other records still in the snapshot (a record removed from it
-- without its links, by an erasure killed halfway, loses them here), then those
-- `sql/<link>.sql` derives from the winners (`link_source`). The link table and its key column
-- come from the resource's declaration (registry.py).
SELECT *
FROM current_{link} AS l
WHERE l.{key} IN (SELECT id FROM current_rows)
  AND NOT EXISTS (SELECT 1 FROM superseded AS s WHERE s.id = l.{key})
UNION ALL BY NAME
SELECT *
FROM (
{link_sql}
)
