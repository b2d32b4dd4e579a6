-- The warehouse's schemas, tables and views, still empty, in the new analyst copy, made the
-- current database: the columns documented as JSON are retyped before any row is written (a
-- retype after the copy would rewrite them and leave the old blocks in the file).
COPY FROM DATABASE _warehouse TO _analyst_copy (SCHEMA);
USE _analyst_copy;
