-- Records still in quarantine: the latest rejected version of each record, unless a valid
-- version at least as new has since arrived or the record was deleted.
SELECT q.*
FROM (
    SELECT * FROM current_quarantine
    UNION ALL BY NAME
    SELECT * FROM incoming_quarantine
) AS q
WHERE NOT EXISTS (
        SELECT 1 FROM merged AS m
        WHERE m.id = q.record_id AND m.updated_at >= coalesce(q.updated_at, '-infinity'::TIMESTAMPTZ)
    )
  AND NOT EXISTS (SELECT 1 FROM deleted_ids AS d WHERE d.id = q.record_id)
-- Records without an id are told apart by their payload, so a re-read adds no copy.
QUALIFY row_number() OVER (
        PARTITION BY coalesce(q.record_id, md5(q.payload))
        ORDER BY q.updated_at DESC NULLS LAST, q._synced_at DESC
    ) = 1
ORDER BY q.record_id NULLS LAST, q._synced_at
