UPDATE push_log
SET outcome = $outcome, http_status = $http_status, error = $error, finished_at = $finished_at
WHERE attempt_id = $attempt_id;
