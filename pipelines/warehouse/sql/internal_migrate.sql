-- A warehouse written before the bookkeeping moved to schema `internal` keeps it in
-- main._loaded_runs and main._rejected_versions: move it, in one transaction.
BEGIN TRANSACTION;
INSERT INTO internal.loaded_runs SELECT * FROM main._loaded_runs;
INSERT INTO internal.rejected_versions SELECT * FROM main._rejected_versions;
DROP TABLE main._loaded_runs;
DROP TABLE main._rejected_versions;
COMMIT;
