"""The vivenu client's exceptions, in one place.

    VivenuError                  base of everything the client raises
    ├── VivenuConfigError        missing or malformed settings (VIVENU_BASE_URL, VIVENU_API_KEY, ...)
    ├── VivenuInvalidId          an id that cannot be a vivenu id, refused before any request
    ├── VivenuHTTPError          a non-retryable HTTP answer (status, method, path, API message)
    │   ├── VivenuAuthError      401/403: the key is wrong, expired or for another environment
    │   ├── VivenuNotFound       404
    │   └── VivenuBadRequest     400/422: the request itself was rejected
    ├── VivenuUnavailable        429/5xx/timeouts/transport errors still failing after every retry
    │   └── VivenuUnreachable    the host refused, did not resolve or failed TLS: VIVENU_BASE_URL
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


class VivenuInvalidId(VivenuError, ValueError):
    """An id that cannot be a vivenu id (see `pipelines.vivenu.ids`) was to go into a URL path."""


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
    """Rate limiting, server errors, timeouts or broken connections outlasted every retry."""

    hint = "vivenu is rate limiting or unavailable; retry later or lower CUSTOMER_SYNC_MAX_RPS"

    def __init__(
        self, *, method: str, path: str, attempts: int, last: str, hint: str | None = None
    ) -> None:
        self.method = method
        self.path = path
        self.attempts = attempts
        super().__init__(
            f"{method} {path} failed after {attempts} attempts, last: {last} ({hint or self.hint})"
        )


class VivenuUnreachable(VivenuUnavailable):
    """The host cannot be reached at all: connection refused, DNS failure or a TLS error."""

    def __init__(self, *, method: str, path: str, attempts: int, last: str, base_url: str) -> None:
        super().__init__(
            method=method,
            path=path,
            attempts=attempts,
            last=last,
            hint=f"cannot reach {base_url}: check VIVENU_BASE_URL (scheme, host and port, "
            "e.g. https://vivenu.com)",
        )


class VivenuProtocolError(VivenuError):
    """A successful answer did not have the documented shape."""
