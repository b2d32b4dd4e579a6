-- Revenue per UTC month of purchase and currency: completed, paid transactions (net, see
-- transaction_facts), with refunds in the month the refunded order was placed.
--
-- Table monthly_spend: one row per UTC month of purchase and currency with a paid or refunded
--   order.
-- Columns:
--   month: the month (its first day, UTC)
--   currency: ISO 4217 code of every amount in the row
--   revenue: sum of real_price of the month's completed, paid orders (net)
--   orders: completed, paid orders placed in the month
--   customers: distinct customers with a paid order in the month
--   avg_order_value: revenue / orders; NULL without orders
--   refunded: sum of real_price of the month's orders since refunded or charged back
--   refunds: orders placed in the month since refunded or charged back
SELECT
    date_trunc('month', purchase_date)::DATE AS month,
    currency,
    coalesce(sum(real_price) FILTER (WHERE is_paid), 0)::DECIMAL(18, 4) AS revenue,
    count(*) FILTER (WHERE is_paid) AS orders,
    count(DISTINCT customer_id) FILTER (WHERE is_paid) AS customers,
    (sum(real_price) FILTER (WHERE is_paid) / count(*) FILTER (WHERE is_paid))::DECIMAL(18, 4)
        AS avg_order_value,
    coalesce(sum(real_price) FILTER (WHERE is_refund), 0)::DECIMAL(18, 4) AS refunded,
    count(*) FILTER (WHERE is_refund) AS refunds
FROM transaction_facts
WHERE (is_paid OR is_refund) AND purchase_date IS NOT NULL
GROUP BY ALL
ORDER BY month, currency
