-- SCD2 history: every version not seen before becomes a row valid from its updated_at.
INSERT INTO {table}_history BY NAME
SELECT v.*, v.updated_at AS valid_from, NULL::TIMESTAMPTZ AS valid_to
FROM versions AS v
WHERE NOT EXISTS (
    SELECT 1 FROM {table}_history AS h WHERE h.id = v.id AND h.valid_from = v.updated_at
)
