-- Customers whose revenue in $spend_currency (completed, paid transactions, net of refunds and
-- cancellations: see transaction_facts) is between $spend_min and $spend_max (NULL: unbounded),
-- over the $spend_days days up to and including $as_of (NULL: every purchase up to $as_of).
-- Revenue of 0 counts only for customers with a paid purchase in the period.
SELECT customer_id
FROM transaction_facts
WHERE is_paid
  AND customer_id IS NOT NULL
  AND currency = $spend_currency::VARCHAR
  AND purchase_date <= $as_of::DATE
  AND ($spend_days::INTEGER IS NULL OR purchase_date > $as_of::DATE - $spend_days::INTEGER)
GROUP BY customer_id
HAVING ($spend_min::DECIMAL(18, 4) IS NULL OR sum(real_price) >= $spend_min::DECIMAL(18, 4))
   AND ($spend_max::DECIMAL(18, 4) IS NULL OR sum(real_price) <= $spend_max::DECIMAL(18, 4))
