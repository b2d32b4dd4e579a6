-- (Re)build one analytics table from its query, `sql/<name>.sql`, in one statement; DuckDB answers
-- with the number of rows written. DuckDB cannot bind a table name, so `{name}` (only ever one of
-- analytics.TABLES) and the query text are composed in; values stay bound parameters.
CREATE OR REPLACE TABLE {name} AS
{query}
