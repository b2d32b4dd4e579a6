-- Booking lead time per event: how long before the event's start its bookings (completed, paid
-- orders, see booking_facts) were placed, as quartiles of days. An order placed after the start
-- (at the door) counts with its negative lead time. Events not in `events`, or without a start,
-- have no lead time and are left out.
--
-- Table event_lead_time: one row per event with a start and a booking.
-- Columns:
--   event_id: the event (events.id)
--   event_name: the event's name (events.name)
--   event_start_at: when the event starts (events.start_at, UTC)
--   orders: its bookings (completed, paid orders)
--   p25_lead_days: the lower quartile of the orders' days from order to start, rounded to 1
--     decimal (interpolated, as quantile_cont)
--   median_lead_days: the median, rounded to 1 decimal
--   p75_lead_days: the upper quartile, rounded to 1 decimal
--   last_week_share: the share of orders placed less than 7 days before the start (or after
--     it), rounded to 4 decimals
SELECT
    event_id,
    event_name,
    event_start_at,
    count(*) AS orders,
    round(quantile_cont(lead_days, 0.25), 1) AS p25_lead_days,
    round(median(lead_days), 1) AS median_lead_days,
    round(quantile_cont(lead_days, 0.75), 1) AS p75_lead_days,
    round(avg((lead_days < 7)::INTEGER), 4) AS last_week_share
FROM booking_facts
WHERE lead_days IS NOT NULL
GROUP BY event_id, event_name, event_start_at
ORDER BY event_start_at, event_id
