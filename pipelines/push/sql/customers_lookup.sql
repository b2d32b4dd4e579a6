-- The last synced state of the customers a change file names, by id or (case-insensitive) email.
SELECT
    id, primary_email, company, name, prename, lastname, phone, notes,
    location_street, location_line2, location_postal, location_city, location_state,
    location_country, tags, blocked, verified, extra_fields, meta, updated_at
FROM customers
WHERE id IN (SELECT unnest($ids::VARCHAR[]))
   OR lower(primary_email) IN (SELECT unnest($emails::VARCHAR[]));
