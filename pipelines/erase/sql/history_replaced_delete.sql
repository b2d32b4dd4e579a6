-- Delete the versions in `{table}_history` replaced before $cutoff (history_replaced_count).
DELETE FROM {table}_history AS h
WHERE h.valid_to < $cutoff
  AND EXISTS (
      SELECT 1 FROM {table}_history AS n WHERE n.id = h.id AND n.valid_from > h.valid_from
  )
