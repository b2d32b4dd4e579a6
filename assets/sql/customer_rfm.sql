-- RFM as of $as_of (a DATE; purchases up to and including that day, UTC), per customer and
-- currency, scored among the customers buying in that currency.
--   recency_days: days from the last completed, paid purchase to $as_of
--   frequency: completed, paid orders; monetary: their revenue (net, see transaction_facts)
-- Scores 1-5 are quintiles by cume_dist(): equal values always get the same score, so ties are
-- deterministic (no arbitrary split as with ntile). Recency scores 5 for the most recent.
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
