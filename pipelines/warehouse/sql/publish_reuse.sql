-- The previous analyst copy's bytes, copied to a fresh temporary file (the path is a bound value),
-- to refresh in place of writing every table again. It keeps the storage format it was written in
-- (publish_target.sql: DuckDB 1.0's).
ATTACH $path AS _analyst_copy
