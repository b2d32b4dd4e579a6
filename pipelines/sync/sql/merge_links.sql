-- A link table of the merged records, built only for the records the incoming batches touch: the
-- snapshot's link rows of every other record, then those `sql/<link>.sql` derives from the winners
-- (`link_source`). `{link}` and `{key}` come from the resource's declaration (registry.py).
SELECT *
FROM current_{link} AS l
WHERE NOT EXISTS (SELECT 1 FROM superseded AS s WHERE s.id = l.{key})
UNION ALL BY NAME
SELECT *
FROM (
{link_sql}
)
