-- Every row of the warehouse into the analyst copy's tables (JSON text cast to JSON on the way).
COPY FROM DATABASE _warehouse TO _analyst_copy (DATA);
