-- Forget held-back versions that can never be merged any more, or are merged now:
--   merged now (the quality gate lets them through);
--   superseded: the snapshot (what the gate judges) or the live table holds a newer version of
--       the record, so this one will never be judged again and is dropped, never loaded;
--   deleted: the record is confirmed deleted (deleted ids are never merged, see versions.sql).
-- `{table}` is one of the loader's own table names: DuckDB cannot bind an identifier.
DELETE FROM internal.rejected_versions AS v
WHERE v.resource = $resource
  AND (
      EXISTS (SELECT 1 FROM versions AS s WHERE s.id = v.id AND s.updated_at = v.updated_at)
      OR EXISTS (
          SELECT 1 FROM current_versions AS c WHERE c.id = v.id AND c.updated_at > v.updated_at
      )
      OR EXISTS (SELECT 1 FROM {table} AS t WHERE t.id = v.id AND t.updated_at > v.updated_at)
      OR EXISTS (SELECT 1 FROM deletions AS d WHERE d.resource = $resource AND d.id = v.id)
  )
