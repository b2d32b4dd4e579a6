-- Monthly first-purchase cohorts (UTC months) and how many of each cohort bought again in each
-- later month. A cohort is the month of a customer's first completed, paid purchase in any
-- currency; customer counts do not mix money, so cohorts span currencies. Every month from the
-- cohort's first to the latest month with a purchase is listed, including months with zero.
--
-- Table cohorts: one row per first-purchase cohort (month) and each month from it to the latest
--   month with a purchase: how many of the cohort bought in that month.
-- Columns:
--   cohort_month: the UTC month of the cohort's customers' first paid purchase (first day)
--   month_number: months since cohort_month (0 = the cohort's first month)
--   month: the month counted (first day)
--   cohort_size: customers in the cohort
--   customers: of them, those with a paid purchase in month
--   retention: customers / cohort_size, rounded to 4 decimals
WITH purchases AS (
    SELECT DISTINCT customer_id, date_trunc('month', purchase_date)::DATE AS month
    FROM transaction_facts
    WHERE is_paid AND customer_id IS NOT NULL
),
firsts AS (
    SELECT customer_id, min(month) AS cohort_month FROM purchases GROUP BY customer_id
),
sizes AS (
    SELECT cohort_month, count(*) AS cohort_size FROM firsts GROUP BY cohort_month
),
grid AS (
    SELECT s.cohort_month, s.cohort_size, m.month::DATE AS month
    FROM sizes AS s,
        generate_series(
            s.cohort_month, (SELECT max(month) FROM purchases), INTERVAL 1 MONTH
        ) AS m(month)
),
active AS (
    SELECT f.cohort_month, p.month, count(*) AS customers
    FROM purchases AS p JOIN firsts AS f USING (customer_id)
    GROUP BY f.cohort_month, p.month
)
SELECT
    g.cohort_month,
    date_diff('month', g.cohort_month, g.month)::INTEGER AS month_number,
    g.month,
    g.cohort_size,
    coalesce(a.customers, 0) AS customers,
    round(coalesce(a.customers, 0) / g.cohort_size, 4) AS retention
FROM grid AS g
LEFT JOIN active AS a USING (cohort_month, month)
ORDER BY g.cohort_month, month_number
