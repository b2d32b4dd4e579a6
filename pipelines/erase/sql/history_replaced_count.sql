-- Versions in `{table}_history` replaced before $cutoff: closed (valid_to) by a newer version
-- of the same record. A record's newest version stays, also when its deletion closed it.
SELECT count(*)
FROM {table}_history AS h
WHERE h.valid_to < $cutoff
  AND EXISTS (
      SELECT 1 FROM {table}_history AS n WHERE n.id = h.id AND n.valid_from > h.valid_from
  )
