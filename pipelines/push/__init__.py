"""Reverse ETL: CRM change files pushed back to vivenu (no Dagster imports)."""
