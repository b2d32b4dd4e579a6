-- What each customer books: their bookings (completed, paid orders for an event, see
-- booking_facts), the distinct events among them, the sold tickets those orders hold, and how
-- long they take to come back. No money here, so no currency: a customer's bookings in every
-- currency count. A customer comes back when they book an event they had not booked before: the
-- days between bookings are those between the first orders for each next event, so a second order
-- for the same event is a booking but not a return.
--
-- Table customer_bookings: one row per customer with a booking.
-- Columns:
--   customer_id: the customer (customers.id)
--   bookings: completed, paid orders for an event
--   events_booked: distinct events among them
--   tickets: the sold tickets (ticket_facts.is_sold) of those orders, by transaction_id: the
--     tickets the customer bought, their own and those for companions
--   first_booking_at: when the first booking was placed (UTC)
--   last_booking_at: when the latest booking was placed (UTC)
--   median_days_between_bookings: the median of the days between the first orders for each next
--     event, rounded to 1 decimal; NULL with a single event booked
--   median_lead_days: the median of the bookings' days from order to event start, rounded to 1
--     decimal (booking_facts.lead_days); NULL when no booked event has a start
WITH sold AS (
    SELECT transaction_id, count(*) AS tickets
    FROM ticket_facts
    WHERE is_sold
    GROUP BY transaction_id
),
orders AS (
    SELECT
        b.customer_id,
        count(*) AS bookings,
        coalesce(sum(k.tickets), 0)::BIGINT AS tickets,
        min(b.booked_at) AS first_booking_at,
        max(b.booked_at) AS last_booking_at,
        round(median(b.lead_days), 1) AS median_lead_days
    FROM booking_facts AS b
    LEFT JOIN sold AS k USING (transaction_id)
    WHERE b.customer_id IS NOT NULL
    GROUP BY b.customer_id
),
firsts AS (
    SELECT customer_id, event_id, min(booked_at) AS booked_at
    FROM booking_facts
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id, event_id
),
gaps AS (
    SELECT
        customer_id,
        (epoch(booked_at) - epoch(lag(booked_at) OVER (
            PARTITION BY customer_id ORDER BY booked_at, event_id
        ))) / 86400 AS days
    FROM firsts
),
returns AS (
    -- One row per (customer, event) in firsts: its count is the distinct events, without a
    -- count(DISTINCT) over every booking.
    SELECT
        customer_id,
        count(*) AS events_booked,
        round(median(days), 1) AS median_days_between_bookings
    FROM gaps
    GROUP BY customer_id
)
SELECT
    o.customer_id,
    o.bookings,
    r.events_booked,
    o.tickets,
    o.first_booking_at,
    o.last_booking_at,
    r.median_days_between_bookings,
    o.median_lead_days
FROM orders AS o
JOIN returns AS r USING (customer_id)
ORDER BY o.customer_id
