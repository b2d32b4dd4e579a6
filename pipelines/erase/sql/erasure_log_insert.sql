-- One proof row per erased customer (`erased_hashes`: the registered hashes).
INSERT INTO erasure_log
SELECT $erasure_id, $erased_at, h.id_hash, $layers, $rows, $in_vivenu
FROM erased_hashes AS h
