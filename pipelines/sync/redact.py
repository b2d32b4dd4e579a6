"""JSON for everything kept as a blob (unmodeled fields, extraFields/meta, quarantine payloads),
with vivenu's secret fields removed wherever they are nested.

The named secrets are dropped from the records at extraction; this is the net under it, for a
secret that arrives somewhere vivenu's document does not say (an embedded transaction object,
a nested copy in an unmodeled field).
"""

from __future__ import annotations

from typing import Any

import orjson

SECRET_KEYS = frozenset({"secret", "verificationToken", "passwordResetToken"})
_MARKERS = tuple(f'"{key}"'.encode() for key in SECRET_KEYS)


def _drop_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_secrets(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [_drop_secrets(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """`value` as JSON with sorted keys and no secret field at any depth."""
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    if any(marker in data for marker in _MARKERS):  # rare: only then walk the value
        data = orjson.dumps(_drop_secrets(value), option=orjson.OPT_SORT_KEYS)
    return data.decode()
