-- The three customers with the highest lifetime revenue in each currency. Amounts in different
-- currencies are never compared: the ranking is per currency, currencies in alphabetical order.
-- Customers by id, never by email: this summary is kept in Dagster's run storage, which an
-- erasure cannot reach (the analytics assets are tagged personal_data=no).
SELECT
    s.currency,
    s.customer_id,
    c.location_country AS country,
    s.revenue::DECIMAL(18, 2) AS revenue,
    s.orders
FROM customer_spend AS s
JOIN customers AS c ON c.id = s.customer_id
QUALIFY row_number() OVER (
    PARTITION BY s.currency ORDER BY s.revenue DESC, s.customer_id
) <= 3
ORDER BY s.currency, s.revenue DESC, s.customer_id
