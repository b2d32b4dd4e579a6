-- One row per (customer, tag) of the customers this load changed.
INSERT INTO customer_tags BY NAME
SELECT DISTINCT c.id AS customer_id, t.tag, c.updated_at, c._run_id, c._synced_at
FROM customers AS c, unnest(c.tags) AS t(tag)
WHERE c.id IN (SELECT id FROM applied) AND t.tag IS NOT NULL
