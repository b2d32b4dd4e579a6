INSERT INTO push_log (
    attempt_id, push_id, file_name, file_sha256, row_number, customer_id, fields, changes,
    outcome, http_status, error, started_at, finished_at
)
VALUES (
    $attempt_id, $push_id, $file_name, $file_sha256, $row_number, $customer_id, $fields,
    $changes, $outcome, $http_status, $error, $started_at, $finished_at
);
