-- The warehouse's tables whose writers record a version (internal.table_versions).
SELECT table_name FROM _warehouse.internal.table_versions
