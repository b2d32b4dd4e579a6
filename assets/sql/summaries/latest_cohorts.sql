SELECT cohort_month, any_value(cohort_size) AS size, max(retention) FILTER (WHERE month_number = 1) AS month_1, max(retention) FILTER (WHERE month_number = 3) AS month_3
FROM cohorts
GROUP BY cohort_month
ORDER BY cohort_month DESC
LIMIT 12
