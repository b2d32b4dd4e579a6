-- One row per (customer, tag) of the customers in `link_source`: every merged one, or only those the
-- incoming batches touch (Lake._link keeps the other rows).
SELECT DISTINCT id AS customer_id, tag, updated_at, _run_id, _synced_at
FROM link_source, unnest(tags) AS t(tag)
ORDER BY customer_id, tag
