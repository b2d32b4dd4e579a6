-- Every contact version of the customers vivenu confirmed deleted (customers_history keeps them):
-- what a platform file without ids (google, meta layouts) identifies them by.
SELECT DISTINCT
    h.primary_email,
    h.phone,
    h.prename,
    h.lastname,
    h.location_postal,
    h.location_city,
    h.location_state,
    h.location_country
FROM customers_history AS h
JOIN deletions AS d ON d.resource = 'customers' AND d.id = h.id
