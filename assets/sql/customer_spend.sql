-- Lifetime spend per customer and currency (currencies are never added together).
-- revenue: completed, paid transactions (see transaction_facts for the definitions); refunded and
-- canceled transactions are not paid, so revenue is net of them. Refunds are shown beside it.
-- Purchase dates are the paid transactions' created_at.
--
-- Table customer_spend: one row per customer and currency in which the customer has a paid,
--   refunded or canceled transaction: lifetime spend, never summed across currencies.
-- Columns:
--   customer_id: the customer (customers.id)
--   currency: ISO 4217 code of every amount in the row
--   revenue: lifetime revenue: the sum of real_price over completed, paid transactions (net of
--     refunds and cancellations); 0 if none
--   orders: completed, paid transactions
--   avg_order_value: revenue / orders; NULL without orders
--   refunded: the sum of real_price over refunded or charged-back transactions
--   refunds: refunded or charged-back transactions
--   cancellations: canceled transactions
--   first_purchase_at: created_at of the first paid transaction (UTC)
--   last_purchase_at: created_at of the latest paid transaction (UTC)
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
