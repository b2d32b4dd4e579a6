-- The runs of a resource already merged.
SELECT run_id FROM _loaded_runs WHERE resource = $resource
