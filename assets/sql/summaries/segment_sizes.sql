-- Customers per RFM segment, one column per currency.
PIVOT (SELECT segment, currency FROM customer_rfm)
ON currency
USING count(*)
GROUP BY segment
ORDER BY segment
