-- Whether the previous analyst copy's {table} (a `*_history` table) holds more rows than the
-- warehouse's: history only grows, except where retention or an erasure deleted versions, whose
-- old blocks a refresh would keep in the file (then the copy is written afresh).
SELECT (SELECT count(*) FROM _analyst_copy.main.{table}) > (SELECT count(*) FROM _warehouse.main.{table})
