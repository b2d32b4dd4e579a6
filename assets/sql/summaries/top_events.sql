-- The three events with the highest revenue in each currency. Amounts in different currencies
-- are never compared: the ranking is per currency, currencies in alphabetical order.
SELECT currency, event_id, revenue, orders, tickets
FROM event_spend
QUALIFY row_number() OVER (PARTITION BY currency ORDER BY revenue DESC, event_id) <= 3
ORDER BY currency, revenue DESC, event_id
