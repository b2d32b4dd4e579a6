-- How long before the event's start bookings are placed, over all bookings: orders and their
-- share per band of lead time, shortest first (every band listed, empty ones with 0).
WITH bands(band, low, high) AS (
    VALUES
        ('after the start', NULL, 0),
        ('under 1 day', 0, 1),
        ('1-6 days', 1, 7),
        ('7-29 days', 7, 30),
        ('30-89 days', 30, 90),
        ('90 days or more', 90, NULL)
),
booked AS (
    SELECT lead_days FROM booking_facts WHERE lead_days IS NOT NULL
)
SELECT
    b.band,
    count(k.lead_days) AS orders,
    round(count(k.lead_days) / nullif((SELECT count(*) FROM booked), 0), 4) AS share
FROM bands AS b
LEFT JOIN booked AS k
    ON (b.low IS NULL OR k.lead_days >= b.low) AND (b.high IS NULL OR k.lead_days < b.high)
GROUP BY b.band, b.low
ORDER BY b.low NULLS FIRST
