-- The previous analyst copy itself, read-only, to learn whether a refresh would change it (the
-- path is a bound value).
ATTACH $path AS _analyst_copy (READ_ONLY)
