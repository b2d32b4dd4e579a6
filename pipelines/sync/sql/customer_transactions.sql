-- One row per (customer, transaction id) listed on the customers in `link_source` (as in
-- customer_tags.sql).
SELECT DISTINCT id AS customer_id, transaction_id, updated_at, _run_id, _synced_at
FROM link_source, unnest(transaction_ids) AS t(transaction_id)
ORDER BY customer_id, transaction_id
