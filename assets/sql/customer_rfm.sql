-- RFM as of $as_of (a DATE; purchases up to and including that day, UTC), per customer and
-- currency, scored among the customers buying in that currency.
--   recency_days: days from the last completed, paid purchase to $as_of
--   frequency: completed, paid orders; monetary: their revenue (net, see transaction_facts)
-- Scores 1-5 are quintiles by cume_dist(): equal values always get the same score, so ties are
-- deterministic (no arbitrary split as with ntile). Recency scores 5 for the most recent.
--
-- Table customer_rfm: one row per customer and currency with a completed, paid purchase up to
--   as_of: recency, frequency and monetary values, their 1-5 scores and the RFM segment.
-- Columns:
--   as_of: the reference day (UTC) the table was computed for (the asset's as_of config)
--   customer_id: the customer (customers.id)
--   currency: ISO 4217 code of monetary
--   recency_days: days from the last paid purchase to as_of
--   frequency: completed, paid orders up to as_of
--   monetary: their revenue (net), in currency
--   last_purchase_at: created_at of the latest paid purchase (UTC)
--   r_score: recency score 1-5 among the currency's customers (5 = most recent)
--   f_score: frequency score 1-5 among the currency's customers (5 = most orders)
--   m_score: monetary score 1-5 among the currency's customers (5 = highest revenue)
--   segment: champions, loyal, potential loyalists, new customers, need attention, at risk or
--     hibernating (first matching rule of the query)
WITH rfm AS (
    SELECT
        customer_id,
        currency,
        ($as_of::DATE - max(purchase_date)) AS recency_days,
        count(*) AS frequency,
        sum(real_price)::DECIMAL(18, 4) AS monetary,
        max(created_at) AS last_purchase_at
    FROM transaction_facts
    WHERE is_paid AND customer_id IS NOT NULL AND purchase_date <= $as_of::DATE
    GROUP BY customer_id, currency
),
scored AS (
    SELECT
        *,
        ceil(5 * cume_dist() OVER (PARTITION BY currency ORDER BY recency_days DESC))::INTEGER
            AS r_score,
        ceil(5 * cume_dist() OVER (PARTITION BY currency ORDER BY frequency))::INTEGER AS f_score,
        ceil(5 * cume_dist() OVER (PARTITION BY currency ORDER BY monetary))::INTEGER AS m_score
    FROM rfm
)
SELECT
    $as_of::DATE AS as_of,
    customer_id,
    currency,
    recency_days,
    frequency,
    monetary,
    last_purchase_at,
    r_score,
    f_score,
    m_score,
    -- First matching rule wins; every (r, f) pair is covered.
    CASE
        WHEN r_score >= 4 AND f_score >= 4 AND m_score >= 4 THEN 'champions'
        WHEN r_score >= 3 AND f_score >= 4 THEN 'loyal'
        WHEN r_score >= 4 AND f_score >= 2 THEN 'potential loyalists'
        WHEN r_score >= 4 THEN 'new customers'
        WHEN r_score = 3 THEN 'need attention'
        WHEN f_score >= 3 THEN 'at risk'
        ELSE 'hibernating'
    END AS segment
FROM scored
ORDER BY currency, customer_id
