-- The definitions a fresh analyst copy would get now, without rows, in a temporary file of the
-- copy's storage format (the path is a bound value): a view's SQL as DuckDB renders it after it
-- was stored that way. The previous copy is refreshed only when it holds exactly these
-- (publish_definitions.sql).
ATTACH $path AS _fresh (STORAGE_VERSION 'v1.0.0')
