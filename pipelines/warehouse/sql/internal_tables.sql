-- Bookkeeping of the loader, apart from the analysts' tables in their own schema `internal`.
--
-- Table internal.loaded_runs: one row per sync run whose change batch the warehouse merged, so
--   each batch is loaded exactly once.
-- Columns:
--   resource: customers or transactions
--   run_id: the sync run (the _run_id of its rows)
--   rows: rows of the run's change batch
--   loaded_at: when the batch was merged (UTC)
--
-- Table internal.rejected_versions: one row per record version the quality gate rejected and
--   the warehouse holds back, to merge once it validates (customer-sync quarantine list).
-- Columns:
--   resource: customers or transactions
--   id: the record (customers.id or transactions.id)
--   updated_at: the held-back version (the record's updated_at)
--   run_id: the sync run that fetched it
--
-- Table internal.table_versions: one row per table of schema main whose writer records each
--   change (the loader's tables, the analytics tables), so publishing the analyst copy copies
--   only the tables changed since the last one; an unlisted table is copied every time.
-- Columns:
--   table_name: the table, in schema main
--   version: a new random token at each change
CREATE SCHEMA IF NOT EXISTS internal;
CREATE TABLE IF NOT EXISTS internal.loaded_runs (
    resource VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    rows BIGINT,
    loaded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS internal.rejected_versions (
    resource VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS internal.table_versions (
    table_name VARCHAR PRIMARY KEY,
    version VARCHAR NOT NULL
);
