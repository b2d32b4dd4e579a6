-- The runs of a resource already merged.
SELECT run_id FROM internal.loaded_runs WHERE resource = $resource
