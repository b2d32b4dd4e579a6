-- The 15 most used tags: customers, and revenue per currency (never summed across currencies).
PIVOT (
    SELECT tag, customers, currency, revenue::DECIMAL(18, 2) AS revenue
    FROM tag_summary
    WHERE currency IS NOT NULL
)
ON currency
USING sum(revenue)
GROUP BY tag, customers
ORDER BY customers DESC, tag
LIMIT 15
