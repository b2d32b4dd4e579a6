-- One row per push attempt on a customer: "sending" is written before the PUT and replaced by
-- the outcome after it, so a push killed mid-request leaves a visible "sending" row (marked
-- "interrupted" when the same file is pushed again).
--
-- Table push_log: one row per attempt to push a CRM edit of one customer back to vivenu
--   (customer-sync push).
-- Columns:
--   attempt_id: this attempt
--   push_id: the push (one run of customer-sync push over one file)
--   file_name: the CRM change file pushed
--   file_sha256: SHA-256 of that file's bytes
--   row_number: the file row the change came from
--   customer_id: the customer edited (customers.id)
--   fields: the fields the edit sets
--   changes: per field, its value in the warehouse (old), in vivenu before the PUT (live) and
--     as pushed (new), as a JSON array
--   outcome: sending (in flight, or killed mid-request) until the outcome replaces it: applied,
--     conflict, gone, race, failed, ... or interrupted (a killed push's row)
--   http_status: vivenu's HTTP status for the PUT; NULL if none arrived
--   error: why the attempt failed, in one line; NULL on success
--   started_at: when the attempt started (UTC)
--   finished_at: when its outcome was recorded (UTC); NULL while sending
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
