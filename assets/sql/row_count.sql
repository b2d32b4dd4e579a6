-- Rows of an analytics table kept as it was (`{name}`: one of analytics.TABLES).
SELECT count(*) FROM {name}
