-- The fields of the live customers in an audience, the input of every export layout. Blocked
-- customers are left out unless $include_blocked; a customer vivenu confirmed deleted is never in
-- (`customers` holds live records only; the `deletions` guard keeps it so should that change).
-- The criteria placeholder is filled in by segments.py with one `AND c.id IN (...)` line per
-- criterion, holding the fixed text of its audience_<criterion>.sql; every value stays bound.
SELECT
    c.id,
    c.primary_email,
    c.prename,
    c.lastname,
    c.name,
    c.phone,
    c.company,
    c.location_postal,
    c.location_city,
    c.location_state,
    c.location_country,
    c.tags
FROM customers AS c
WHERE ($include_blocked OR NOT coalesce(c.blocked, false))
  AND c.id NOT IN (SELECT d.id FROM deletions AS d WHERE d.resource = 'customers')
{criteria}
ORDER BY c.id
