-- The reference day of the RFM table (customer_rfm's `as_of` config, default the day it was
-- built), so every audience criterion counts days from the same day.
SELECT max(as_of) FROM customer_rfm
