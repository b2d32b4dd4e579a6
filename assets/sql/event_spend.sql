-- Revenue per event and currency: completed, paid transactions (net, see transaction_facts).
SELECT
    event_id,
    currency,
    coalesce(sum(real_price) FILTER (WHERE is_paid), 0)::DECIMAL(18, 4) AS revenue,
    count(*) FILTER (WHERE is_paid) AS orders,
    coalesce(sum(ticket_count) FILTER (WHERE is_paid), 0)::BIGINT AS tickets,
    count(DISTINCT customer_id) FILTER (WHERE is_paid) AS customers,
    coalesce(sum(real_price) FILTER (WHERE is_refund), 0)::DECIMAL(18, 4) AS refunded,
    count(*) FILTER (WHERE is_refund) AS refunds,
    min(created_at) FILTER (WHERE is_paid) AS first_order_at,
    max(created_at) FILTER (WHERE is_paid) AS last_order_at
FROM transaction_facts
WHERE is_paid OR is_refund
GROUP BY ALL
ORDER BY event_id NULLS LAST, currency
