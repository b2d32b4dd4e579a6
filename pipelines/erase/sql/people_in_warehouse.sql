-- Every version the warehouse holds of the customers named (by id, or by email in any
-- version): an erasure interrupted after the lake finds them here when it is run again.
SELECT h.*
FROM customers_history AS h
WHERE h.id IN (
    SELECT id FROM customers_history
    WHERE id = ANY($ids) OR lower(primary_email) = ANY($emails)
)
