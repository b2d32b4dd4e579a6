-- Rows in a live table (query_table takes the table name as a bound value).
SELECT count(*) FROM query_table($table)
