-- One row per (customer, transaction id) listed on the customers this load changed (picked before
-- the unnest, as in customer_tags.sql).
INSERT INTO customer_transactions BY NAME
SELECT DISTINCT c.id AS customer_id, t.transaction_id, c.updated_at, c._run_id, c._synced_at
FROM (SELECT * FROM customers WHERE id IN (SELECT id FROM applied)) AS c,
    unnest(c.transaction_ids) AS t(transaction_id)
WHERE t.transaction_id IS NOT NULL
