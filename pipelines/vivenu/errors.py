"""The vivenu client's exceptions, in one place.

    VivenuError                  base of everything the client raises
    ├── VivenuConfigError        missing or malformed settings (VIVENU_BASE_URL, VIVENU_API_KEY, ...)
    ├── VivenuHTTPError          a non-retryable HTTP answer (status, method, path, API message)
    │   ├── VivenuAuthError      401/403: the key is wrong, expired or for another environment
    │   ├── VivenuNotFound       404
    │   └── VivenuBadRequest     400/422: the request itself was rejected
    ├── VivenuUnavailable        429/5xx/transport errors still failing after every retry
    └── VivenuProtocolError      a 2xx answer that is not what the API documents

Messages say what failed and what to do. None of them carries the API key: requests are
described by method and path only, never by headers, and the client removes the key from what the
server sends before any message is built from it.
"""

from __future__ import annotations


class VivenuError(Exception):
    """Base class of every error raised by the vivenu client."""


class VivenuConfigError(VivenuError):
    """The client's settings are missing or malformed."""


class VivenuHTTPError(VivenuError):
    """vivenu answered with a status that retrying will not change."""

    hint = "check the request parameters"

    def __init__(self, *, status: int, method: str, path: str, message: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.api_message = message
        super().__init__(
            f"{method} {path} -> HTTP {status}: {message or 'no message'} ({self.hint})"
        )


class VivenuAuthError(VivenuHTTPError):
    """The API key was refused."""

    hint = "check VIVENU_API_KEY: production and staging keys are separate, and keys expire"


class VivenuNotFound(VivenuHTTPError):
    """The resource does not exist (or no longer exists)."""

    hint = "the id is unknown to vivenu or was deleted"


class VivenuBadRequest(VivenuHTTPError):
    """vivenu rejected the request as invalid."""

    hint = "vivenu rejected the parameters or body; the message names the field"


class VivenuUnavailable(VivenuError):
    """Rate limiting, server errors or broken connections outlasted every retry."""

    def __init__(self, *, method: str, path: str, attempts: int, last: str) -> None:
        self.method = method
        self.path = path
        self.attempts = attempts
        super().__init__(
            f"{method} {path} failed after {attempts} attempts, last: {last} "
            "(vivenu is rate limiting or unavailable; retry later or lower CUSTOMER_SYNC_MAX_RPS)"
        )


class VivenuProtocolError(VivenuError):
    """A successful answer did not have the documented shape."""
