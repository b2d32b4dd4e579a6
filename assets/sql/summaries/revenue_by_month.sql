-- Revenue of the 12 latest months that had sales, one column per currency.
PIVOT (
    SELECT strftime(month, '%Y-%m') AS month, currency, revenue::DECIMAL(18, 2) AS revenue
    FROM monthly_spend
    WHERE month IN (SELECT DISTINCT month FROM monthly_spend ORDER BY month DESC LIMIT 12)
)
ON currency
USING sum(revenue)
GROUP BY month
ORDER BY month DESC
