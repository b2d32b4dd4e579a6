-- Replace an erased customer's id by its pseudonym in `{table}` (a mart keyed by customer_id:
-- its numbers stay, under the pseudonym).
UPDATE {table} AS t
SET customer_id = p.pseudonym
FROM erased_people AS p
WHERE t.customer_id = p.id
