-- Attempts of an earlier push of the same file that never got an answer (the process died).
UPDATE push_log
SET outcome = 'interrupted', finished_at = $now
WHERE outcome = 'sending' AND file_sha256 = $file_sha256;
