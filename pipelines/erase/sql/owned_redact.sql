-- Redact the rows an erased customer owns in `{table}`: personal columns emptied, the customer
-- link replaced by its pseudonym (`erased_people.pseudonym`); money, dates and statuses stay.
UPDATE {table} AS t
SET {assignments}
WHERE {match}
