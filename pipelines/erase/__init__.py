"""Erasure: a person removed from every layer (issue 14), with no Dagster imports.

`keys` holds the erased set (salted hashes, in the lake), `guard` keeps the erased out of every
later write, `people` finds a person in the lake, `lake`, `warehouse` and `files` erase them
from each layer, `run` puts it together for the CLI and `erase_job`.
"""
