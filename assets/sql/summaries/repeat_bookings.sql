-- Repeat-booking conversion: customers who booked at least n distinct events, their share of all
-- who booked, the conversion from the step before, and the median days it took (median_days).
SELECT
    events_booked,
    customers,
    share_of_bookers,
    conversion,
    median_days_from_previous AS median_days
FROM booking_conversion
ORDER BY events_booked
