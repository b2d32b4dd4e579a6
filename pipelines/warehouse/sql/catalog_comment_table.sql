-- A table's or view's description. COMMENT ON binds no parameter: `{table}` is a quoted name and
-- `{comment}` a quoted literal, both from the catalog's own SQL headers.
COMMENT ON {kind} {table} IS {comment};
