-- Bookkeeping: the runs already merged, and versions held back by the quality gate.
CREATE TABLE IF NOT EXISTS _loaded_runs (
    resource VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    rows BIGINT,
    loaded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS _rejected_versions (
    resource VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ,
    run_id VARCHAR NOT NULL
);
