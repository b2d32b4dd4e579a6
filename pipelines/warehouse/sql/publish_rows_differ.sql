-- Whether a table no writer records a version of (the internal tables, the erasure log) holds
-- other rows in the warehouse than in the previous analyst copy. Rows are compared as text, so
-- values equal but not the same (an interval of 30 days and one of a month, strings under a
-- case-blind collation) count as different. `{schema}` and `{table}` are names
-- publish_stale.sql listed, quoted.
SELECT EXISTS (
    (
        SELECT t::VARCHAR FROM _warehouse.{schema}.{table} AS t
        EXCEPT ALL
        SELECT t::VARCHAR FROM _analyst_copy.{schema}.{table} AS t
    )
    UNION ALL
    (
        SELECT t::VARCHAR FROM _analyst_copy.{schema}.{table} AS t
        EXCEPT ALL
        SELECT t::VARCHAR FROM _warehouse.{schema}.{table} AS t
    )
)
