-- The warehouse's schemas, tables and views, empty, in the fresh definitions' file, made the
-- current database (as publish_schema.sql does for a fresh copy).
COPY FROM DATABASE _warehouse TO _fresh (SCHEMA);
USE _fresh;
