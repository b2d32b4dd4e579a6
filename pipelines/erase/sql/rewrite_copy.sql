-- Every schema, table, view and row of the open warehouse `{database}` (its name, from
-- current_database()) into the fresh file.
COPY FROM DATABASE "{database}" TO _rewritten
