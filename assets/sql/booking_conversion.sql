-- Repeat-booking conversion: of the customers who booked an event (a completed, paid order for it,
-- see booking_facts), how many went on to book a 2nd, a 3rd, ... distinct event, and how long
-- they took. A customer's n-th event is the n-th distinct event by its first order. Customers are
-- counted, not money, so currencies do not matter here. `$steps` (bound) is the deepest step
-- listed; a step nobody reached has 0 customers.
--
-- Table booking_conversion: one row per step n from 1 to the asset's `steps` (default 4): the
--   customers who booked at least n distinct events.
-- Columns:
--   events_booked: n, the number of distinct events booked
--   customers: customers who booked at least n distinct events
--   share_of_bookers: customers / the customers who booked any event (n = 1), rounded to 4
--     decimals
--   conversion: customers / those of step n - 1 (who had booked n - 1 events), rounded to 4
--     decimals; NULL for n = 1
--   median_days_from_previous: the median of the days from the first order for the (n-1)-th
--     event to that for the n-th, over the customers who reached n, rounded to 1 decimal; NULL for
--     n = 1 and for a step nobody reached
WITH firsts AS (
    SELECT customer_id, event_id, min(booked_at) AS booked_at
    FROM booking_facts
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id, event_id
),
ranked AS (
    SELECT
        row_number() OVER w AS n,
        (epoch(booked_at) - epoch(lag(booked_at) OVER w)) / 86400 AS days
    FROM firsts
    WINDOW w AS (PARTITION BY customer_id ORDER BY booked_at, event_id)
),
reached AS (
    SELECT n, count(*) AS customers, round(median(days), 1) AS median_days_from_previous
    FROM ranked
    GROUP BY n
),
steps AS (
    SELECT
        s.n AS events_booked,
        coalesce(r.customers, 0) AS customers,
        r.median_days_from_previous
    FROM generate_series(1, $steps) AS s(n)
    LEFT JOIN reached AS r USING (n)
)
SELECT
    events_booked,
    customers,
    round(customers / nullif(first_value(customers) OVER w, 0), 4) AS share_of_bookers,
    round(customers / nullif(lag(customers) OVER w, 0), 4) AS conversion,
    median_days_from_previous
FROM steps
WINDOW w AS (ORDER BY events_booked)
ORDER BY events_booked
