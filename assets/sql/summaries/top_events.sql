SELECT event_id, currency, revenue, orders, tickets
FROM event_spend
ORDER BY revenue DESC, event_id
LIMIT 10
