-- Copy every table and view of the warehouse into the new analyst copy and make it the current
-- database, for the steps that retype and document it.
COPY FROM DATABASE _warehouse TO _analyst_copy;
USE _analyst_copy;
