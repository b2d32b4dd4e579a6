-- One row per (customer, transaction id) listed on the customers this load changed.
INSERT INTO customer_transactions BY NAME
SELECT DISTINCT c.id AS customer_id, t.transaction_id, c.updated_at, c._run_id, c._synced_at
FROM customers AS c, unnest(c.transaction_ids) AS t(transaction_id)
WHERE c.id IN (SELECT id FROM applied) AND t.transaction_id IS NOT NULL
