-- Per booking customer: tickets bought and distinct events booked (mean and median), and the
-- median of their median days between bookings (over those who came back).
SELECT
    count(*) AS customers,
    round(avg(tickets), 2) AS avg_tickets,
    median(tickets) AS median_tickets,
    round(avg(events_booked), 2) AS avg_events_booked,
    median(events_booked) AS median_events_booked,
    round(median(median_days_between_bookings), 1) AS median_days_between_bookings
FROM customer_bookings
