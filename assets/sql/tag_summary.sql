-- Customers and revenue per tag of the live customers. `customers` counts everyone with the tag;
-- revenue (completed, paid, net: see transaction_facts) is per currency, one row per currency
-- the tag's customers paid in. A tag whose customers never paid has one row with currency NULL.
--
-- Table tag_summary: one row per tag and currency its customers paid in (one row with currency
--   NULL for a tag whose customers never paid).
-- Columns:
--   tag: the tag (customer_tags.tag)
--   customers: live customers with the tag (the same on each of the tag's rows)
--   currency: ISO 4217 code of revenue; NULL if the tag's customers never paid
--   paying_customers: of them, those with a paid order in currency
--   orders: their completed, paid orders in currency
--   revenue: the sum of real_price of those orders (net), in currency
WITH tagged AS (
    SELECT tag, count(DISTINCT customer_id) AS customers
    FROM customer_tags
    GROUP BY tag
),
spend AS (
    SELECT
        ct.tag,
        f.currency,
        count(DISTINCT f.customer_id) AS paying_customers,
        count(*) AS orders,
        sum(f.real_price)::DECIMAL(18, 4) AS revenue
    FROM customer_tags AS ct
    JOIN transaction_facts AS f ON f.customer_id = ct.customer_id AND f.is_paid
    GROUP BY ct.tag, f.currency
)
SELECT
    t.tag,
    t.customers,
    s.currency,
    coalesce(s.paying_customers, 0) AS paying_customers,
    coalesce(s.orders, 0) AS orders,
    coalesce(s.revenue, 0)::DECIMAL(18, 4) AS revenue
FROM tagged AS t
LEFT JOIN spend AS s USING (tag)
ORDER BY t.customers DESC, t.tag, s.currency NULLS LAST
