-- Base tables of the warehouse with a customer_id column (marts, logs): candidates for the
-- pseudonym. The registry's own tables are handled by name before these.
SELECT table_schema, table_name
FROM information_schema.columns
WHERE column_name = 'customer_id'
    AND table_catalog = current_database()
    AND (table_schema, table_name) IN (
        SELECT (table_schema, table_name) FROM information_schema.tables
        WHERE table_type = 'BASE TABLE' AND table_catalog = current_database()
    )
ORDER BY table_schema, table_name
