-- What a booking customer books, as mean and median over the customers: tickets bought, distinct
-- events booked, and their median days between bookings (over those who came back).
SELECT 'tickets bought' AS per_customer, round(avg(tickets), 2) AS mean, median(tickets) AS median
FROM customer_bookings
UNION ALL
SELECT 'distinct events booked', round(avg(events_booked), 2), median(events_booked)
FROM customer_bookings
UNION ALL
SELECT
    'days between bookings',
    round(avg(median_days_between_bookings), 1),
    round(median(median_days_between_bookings), 1)
FROM customer_bookings
