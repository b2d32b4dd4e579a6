"""The DuckDB warehouse: loading the lake's change batches, the analyst copy, tag segments."""
