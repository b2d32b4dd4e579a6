-- The ten customers with the highest lifetime revenue (each in its own currency).
SELECT
    c.primary_email,
    c.location_country AS country,
    s.currency,
    s.revenue::DECIMAL(18, 2) AS revenue,
    s.orders
FROM customer_spend AS s
JOIN customers AS c ON c.id = s.customer_id
ORDER BY s.revenue DESC, c.primary_email
LIMIT 10
