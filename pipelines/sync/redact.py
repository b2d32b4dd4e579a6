"""JSON for everything kept as a blob (unmodeled fields, extraFields/meta, quarantine payloads),
with vivenu's secret fields removed wherever they are nested.

The named secrets are dropped from the records at extraction; this is the net under it, for a
secret that arrives somewhere vivenu's document does not say (an embedded transaction object,
a nested copy in an unmodeled field, a JSON document inside a string).

A key is secret by its name compared without case or separators (`secret`, `Secret`, `SECRET`,
`verification_token`): vivenu's `secret`, `barcode` and every name ending in `secret`, `token`,
`password` or `barcode` (a ticket's barcode lets its bearer in, whatever the key calls it: an
`extraFields.ticketBarcode`). Its value is dropped whatever its shape.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

SECRET_NAMES = frozenset({"secret", "barcode"})
SECRET_SUFFIXES = ("secret", "token", "password", "barcode")
# Fast path: a blob whose folded JSON holds none of these has no secret key to drop.
_MARKERS = (b"secret", b"barcode", b"token", b"password")


def _fold(text: str) -> str:
    return text.lower().replace("_", "").replace("-", "").replace(" ", "")


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """True when a field called `name` holds a secret (case and separators ignored)."""
    folded = _fold(name)
    return folded in SECRET_NAMES or folded.endswith(SECRET_SUFFIXES)


_FOLD = bytes.maketrans(bytes(range(65, 91)), bytes(range(97, 123)))
_SEPARATORS = b"_- "
# Field names seen and found not secret: most records share them, so most are skipped at once.
_PLAIN: set[str] = set()
_PLAIN_MAX = 10_000


def _has_marker(data: bytes) -> bool:
    folded = data.translate(_FOLD, _SEPARATORS)
    return any(marker in folded for marker in _MARKERS)


def secret_keys(record: dict[str, Any]) -> list[str]:
    """The keys of `record` that are secret by `is_secret_key` (its top level only)."""
    unknown = record.keys() - _PLAIN
    if not unknown:
        return []
    found = []
    for key in unknown:
        if is_secret_key(str(key)):
            found.append(key)
        elif len(_PLAIN) < _PLAIN_MAX:
            _PLAIN.add(key)
    return found


def _drop_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_secrets(v) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list):
        return [_drop_secrets(v) for v in value]
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "[") and _has_marker(value.encode()):
        # A JSON document sent as a string: its secrets are as secret as anyone else's.
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        return orjson.dumps(_drop_secrets(parsed), option=orjson.OPT_SORT_KEYS).decode()
    return value


def to_json(value: Any) -> str:
    """`value` as JSON with sorted keys and no secret field at any depth."""
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    if _has_marker(data):  # rare: only then walk the value
        data = orjson.dumps(_drop_secrets(value), option=orjson.OPT_SORT_KEYS)
    return data.decode()
