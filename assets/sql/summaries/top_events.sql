-- The three events with the highest revenue in each currency, by name (the id where the event is
-- not synced), with the share of their capacity filled. Amounts in different currencies are never
-- compared: the ranking is per currency, currencies in alphabetical order.
SELECT
    currency,
    coalesce(event_name, event_id) AS event,
    event_start_at::DATE AS starts,
    revenue::DECIMAL(18, 2) AS revenue,
    tickets,
    capacity_filled AS filled
FROM event_spend
QUALIFY row_number() OVER (PARTITION BY currency ORDER BY revenue DESC, event_id) <= 3
ORDER BY currency, revenue DESC, event_id
