-- Customers whose RFM segment (customer_rfm, as of its `as_of`) is one of $rfm_segments, in the
-- currency $rfm_currency (NULL: in any currency they buy in).
SELECT customer_id
FROM customer_rfm
WHERE list_contains($rfm_segments::VARCHAR[], segment)
  AND ($rfm_currency::VARCHAR IS NULL OR currency = $rfm_currency::VARCHAR)
