-- Lifetime spend per customer and currency (currencies are never added together).
-- revenue: completed, paid transactions (see transaction_facts for the definitions); refunded and
-- canceled transactions are not paid, so revenue is net of them. Refunds are shown beside it.
-- Purchase dates are the paid transactions' created_at.
SELECT
    customer_id,
    currency,
    coalesce(sum(real_price) FILTER (WHERE is_paid), 0)::DECIMAL(18, 4) AS revenue,
    count(*) FILTER (WHERE is_paid) AS orders,
    (sum(real_price) FILTER (WHERE is_paid) / count(*) FILTER (WHERE is_paid))::DECIMAL(18, 4)
        AS avg_order_value,
    coalesce(sum(real_price) FILTER (WHERE is_refund), 0)::DECIMAL(18, 4) AS refunded,
    count(*) FILTER (WHERE is_refund) AS refunds,
    count(*) FILTER (WHERE is_canceled) AS cancellations,
    min(created_at) FILTER (WHERE is_paid) AS first_purchase_at,
    max(created_at) FILTER (WHERE is_paid) AS last_purchase_at
FROM transaction_facts
WHERE customer_id IS NOT NULL AND (is_paid OR is_refund OR is_canceled)
GROUP BY customer_id, currency
ORDER BY customer_id, currency
