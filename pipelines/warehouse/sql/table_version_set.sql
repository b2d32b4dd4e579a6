-- A table's version set to a given token: an analytics table's, the fingerprint of what it was
-- built from (pipelines/warehouse/versions.py), so an equal fingerprint means an equal table.
INSERT OR REPLACE INTO internal.table_versions VALUES ($table, $version)
