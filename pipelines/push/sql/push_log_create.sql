-- One row per push attempt on a customer: "sending" is written before the PUT and replaced by
-- the outcome after it, so a push killed mid-request leaves a visible "sending" row (marked
-- "interrupted" when the same file is pushed again).
CREATE TABLE IF NOT EXISTS push_log (
    attempt_id  VARCHAR NOT NULL,
    push_id     VARCHAR NOT NULL,
    file_name   VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    row_number  INTEGER,
    customer_id VARCHAR NOT NULL,
    fields      VARCHAR[] NOT NULL,
    changes     JSON,
    outcome     VARCHAR NOT NULL,
    http_status INTEGER,
    error       VARCHAR,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
