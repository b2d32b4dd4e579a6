-- Rows of `{table}` that an erased customer owns: by the customer link, or by a record of theirs
-- it belongs to (a companion ticket of their transaction), `erased_records`.
SELECT count(*) FROM {table} AS t WHERE {match}
