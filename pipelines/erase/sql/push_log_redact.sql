-- A push attempt on an erased customer: the customer becomes its pseudonym, and the values
-- pushed (old, live, new) and the error message, which may quote them, are emptied.
UPDATE push_log AS t
SET customer_id = p.pseudonym, changes = NULL, error = NULL
FROM erased_people AS p
WHERE t.customer_id = p.id
