-- The warehouse's tables the previous analyst copy does not hold as they are now: every table but
-- those whose writer recorded a version (internal.table_versions) that the copy's record of the
-- warehouse's versions still names. The version record itself is always copied.
SELECT t.schema_name, t.table_name
FROM duckdb_tables() AS t
WHERE t.database_name = '_warehouse'
  AND NOT EXISTS (
      SELECT 1
      FROM _warehouse.internal.table_versions AS w
      JOIN _analyst_copy.internal.table_versions AS c USING (table_name, version)
      WHERE t.schema_name = 'main' AND w.table_name = t.table_name
  )
ORDER BY t.schema_name, t.table_name
