-- Whether a table no writer records a version of (the internal tables, the erasure log) holds
-- other rows in the warehouse than in the previous analyst copy. `{schema}` and `{table}` are
-- names publish_stale.sql listed, quoted.
SELECT EXISTS (
    (SELECT * FROM _warehouse.{schema}.{table} EXCEPT ALL SELECT * FROM _analyst_copy.{schema}.{table})
    UNION ALL
    (SELECT * FROM _analyst_copy.{schema}.{table} EXCEPT ALL SELECT * FROM _warehouse.{schema}.{table})
)
