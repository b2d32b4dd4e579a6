"""What a vivenu record id may look like, checked wherever an id enters a URL path.

vivenu's ids are MongoDB ObjectIds (24 hex digits) today; the OpenAPI document does not promise
that, so the check is a URL-safe token rather than the ObjectId shape: it refuses path
separators, dots, whitespace, query and fragment characters, which is what makes an id dangerous
in a path, and keeps any id vivenu could plausibly issue.
"""

from __future__ import annotations

import re

VIVENU_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
ID_RULE = "1-64 letters, digits, '-' or '_'"


def is_vivenu_id(value: str) -> bool:
    """True when `value` can be a vivenu record id."""
    return VIVENU_ID.fullmatch(value) is not None
