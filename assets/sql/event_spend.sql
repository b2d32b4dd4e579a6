-- Revenue per event and currency: completed, paid transactions (net, see transaction_facts).
--
-- Table event_spend: one row per event and currency with a paid or refunded order.
-- Columns:
--   event_id: the event (transactions.event_id); NULL for orders without an event
--   currency: ISO 4217 code of every amount in the row
--   revenue: sum of real_price of the event's completed, paid orders (net)
--   orders: completed, paid orders
--   tickets: tickets in those orders
--   customers: distinct customers with a paid order
--   refunded: sum of real_price of refunded or charged-back orders
--   refunds: refunded or charged-back orders
--   first_order_at: created_at of the first paid order (UTC)
--   last_order_at: created_at of the latest paid order (UTC)
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
