-- The keys of a loader table whose rows differ between the previous analyst copy and the
-- warehouse, compared on the key and the version columns only (refresh.py says why that is
-- exact): a changed, new or deleted record or version. A (key, versions) row held by one side
-- only; one hash aggregate over both, cheaper than EXCEPT both ways. `{table}`, `{key}` and
-- `{columns}` are quoted names read from the warehouse's own catalog.
SELECT DISTINCT {key} FROM (
    SELECT {columns}
    FROM (
        SELECT {columns}, 1 AS _side FROM _analyst_copy.{table}
        UNION ALL
        SELECT {columns}, 2 AS _side FROM _warehouse.{table}
    )
    GROUP BY {columns}
    HAVING min(_side) = max(_side)
)
