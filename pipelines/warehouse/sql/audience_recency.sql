-- Customers whose last completed, paid purchase (in any currency, up to $as_of) was between
-- $recency_min_days and $recency_max_days days before $as_of (NULL: unbounded). Customers who
-- never bought are in no recency audience.
SELECT customer_id
FROM transaction_facts
WHERE is_paid AND customer_id IS NOT NULL AND purchase_date <= $as_of::DATE
GROUP BY customer_id
HAVING ($recency_min_days::INTEGER IS NULL
        OR $as_of::DATE - max(purchase_date) >= $recency_min_days::INTEGER)
   AND ($recency_max_days::INTEGER IS NULL
        OR $as_of::DATE - max(purchase_date) <= $recency_max_days::INTEGER)
