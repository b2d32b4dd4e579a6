-- The three customers with the highest lifetime revenue in each currency. Amounts in different
-- currencies are never compared: the ranking is per currency, currencies in alphabetical order.
SELECT
    s.currency,
    c.primary_email,
    c.location_country AS country,
    s.revenue::DECIMAL(18, 2) AS revenue,
    s.orders
FROM customer_spend AS s
JOIN customers AS c ON c.id = s.customer_id
QUALIFY row_number() OVER (
    PARTITION BY s.currency ORDER BY s.revenue DESC, c.primary_email, s.customer_id
) <= 3
ORDER BY s.currency, s.revenue DESC, c.primary_email, s.customer_id
