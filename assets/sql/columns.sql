-- The columns of one analytics table as built (its `dagster/column_schema`), in table order.
SELECT column_name, data_type, is_nullable = 'YES' AS nullable
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = $name
ORDER BY ordinal_position
