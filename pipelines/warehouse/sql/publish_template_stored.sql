-- The fresh definitions (publish_template.sql) read back as stored, beside the previous copy.
ATTACH $path AS _fresh (READ_ONLY)
