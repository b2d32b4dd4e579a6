-- The columns a warehouse table has now (a field declared since it was created lacks one).
SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = $table
