-- Customers who booked between $events_min and $events_max (NULL: unbounded) distinct events:
-- event ids of their completed, paid transactions (a refunded or canceled booking is not one),
-- over the $events_days days up to and including $as_of (NULL: every booking up to $as_of).
SELECT customer_id
FROM transaction_facts
WHERE is_paid
  AND customer_id IS NOT NULL
  AND event_id IS NOT NULL
  AND purchase_date <= $as_of::DATE
  AND ($events_days::INTEGER IS NULL OR purchase_date > $as_of::DATE - $events_days::INTEGER)
GROUP BY customer_id
HAVING ($events_min::INTEGER IS NULL OR count(DISTINCT event_id) >= $events_min::INTEGER)
   AND ($events_max::INTEGER IS NULL OR count(DISTINCT event_id) <= $events_max::INTEGER)
