-- A column's description. COMMENT ON binds no parameter: `{column}` is a quoted name and
-- `{comment}` a quoted literal, both from the catalog's own SQL headers.
COMMENT ON COLUMN {column} IS {comment};
