-- The contact fields of the live customers in a tag segment: customers having any (or all) of
-- $tags. Blocked customers are left out unless $include_blocked. With $hash_emails the email is
-- the SHA-256 hex of its trimmed, lower-cased form (what ad platforms match on); empty -> NULL.
SELECT
    id,
    CASE
        WHEN $hash_emails THEN sha256(nullif(lower(trim(primary_email)), ''))
        ELSE primary_email
    END AS primary_email,
    prename,
    lastname,
    name,
    phone,
    company,
    location_country,
    tags
FROM customers
WHERE CASE $match
        WHEN 'all' THEN list_has_all(tags, $tags::VARCHAR[])
        ELSE list_has_any(tags, $tags::VARCHAR[])
    END
  AND ($include_blocked OR NOT coalesce(blocked, false))
ORDER BY id
