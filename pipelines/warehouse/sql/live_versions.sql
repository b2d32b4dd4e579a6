-- The live version (updated_at) of some ids in a live table (table name and ids bound).
SELECT id, updated_at FROM query_table($table) WHERE id IN (SELECT unnest($ids::VARCHAR[]))
