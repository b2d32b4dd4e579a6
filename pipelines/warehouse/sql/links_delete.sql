-- Link rows of changed or deleted customers are rebuilt from their current version.
DELETE FROM {link}
WHERE customer_id IN (SELECT id FROM applied UNION ALL SELECT id FROM incoming_deletions)
