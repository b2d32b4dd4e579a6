-- Customers having any (or, with $tag_match = 'all', every one) of $tags.
SELECT id
FROM customers
WHERE CASE $tag_match
        WHEN 'all' THEN list_has_all(tags, $tags::VARCHAR[])
        ELSE list_has_any(tags, $tags::VARCHAR[])
    END
