-- The proof of every erasure, holding no personal data: a salted hash of each erased id (the
-- salt stays in the lake, `_erasure/salt`), when, and what the erasure found and removed.
--
-- Table erasure_log: one row per customer erased (customer-sync erase, erase_job): the proof
--   that they were removed from every layer, without their data.
-- Columns:
--   erasure_id: the erasure (one run of customer-sync erase or erase_job, over one or more people)
--   erased_at: when the erasure ran (UTC)
--   id_hash: keyed BLAKE2b of the customer id with the lake's salt: whoever knows an id can
--     check it was erased; the hash tells nobody else who it was
--   layers: the layers that held someone of this erasure (lake, warehouse, analyst copy,
--     exports, crm, quality, webhooks)
--   rows (JSON): rows or files removed or redacted per layer and table, for the whole erasure
--   in_vivenu: whether vivenu's own copy was erased too (--also-in-vivenu) and confirmed
CREATE TABLE IF NOT EXISTS erasure_log (
    erasure_id VARCHAR NOT NULL,
    erased_at TIMESTAMPTZ NOT NULL,
    id_hash VARCHAR NOT NULL,
    layers VARCHAR[] NOT NULL,
    rows JSON NOT NULL,
    in_vivenu BOOLEAN NOT NULL
)
