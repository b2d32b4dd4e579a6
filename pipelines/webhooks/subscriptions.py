"""The webhook subscription in vivenu (`webhooks register`, `list`, `remove`): checks made before
any request, the `hmacKey`'s file, and registering idempotently by name.

The key is a secret as the API key is: it goes to the caller (printed once) or into the file the
user names (mode 0600, staged before vivenu gets the key, so a failed request leaves no file and
a failed file never leaves vivenu signing with a key nobody has), and nowhere else.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipelines.vivenu.client import VivenuClient, Webhook

DEFAULT_NAME = "customer-sync"
# What the sync keeps: vivenu's event types of the resources in the registry.
DEFAULT_EVENTS = (
    "customer.created",
    "customer.updated",
    "transaction.complete",
    "transaction.canceled",
    "transaction.partiallyCanceled",
    "ticket.created",
    "ticket.updated",
)
KNOWN_EVENTS = (
    *DEFAULT_EVENTS,
    "transaction.reservedBySystem",
    "event.created",
    "event.updated",
    "event.deleted",
)
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# vivenu's schema: 5 to 30 characters.
NAME_LENGTH = (5, 30)


class SubscriptionError(ValueError):
    """A URL, name, event list or key file that cannot work; the message names the fix."""


def check_url(url: str) -> str:
    """`url` when vivenu can deliver to it: HTTPS, or plain HTTP to this machine (for the
    simulator, which alone delivers there)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise SubscriptionError(
            f"--url {url!r} is not an absolute URL: give the receiver's public HTTPS address, "
            "e.g. https://hooks.example.com/webhooks"
        )
    if parts.scheme != "https" and host not in LOCAL_HOSTS:
        raise SubscriptionError(
            f"--url must be HTTPS (vivenu delivers to public HTTPS URLs only), got {url!r}: put "
            "`webhooks serve` behind an ingress or a tunnel with a certificate"
        )
    return url


def check_name(name: str) -> str:
    """`name` when vivenu takes it as a subscription name."""
    low, high = NAME_LENGTH
    if not low <= len(name) <= high:
        raise SubscriptionError(f"--name must be {low} to {high} characters, got {name!r}")
    return name


def check_events(given: tuple[str, ...]) -> tuple[str, ...]:
    """The event types chosen (comma-separated and/or repeated; none given: DEFAULT_EVENTS)."""
    chosen = [e.strip() for item in given for e in item.split(",") if e.strip()]
    if not chosen:
        return DEFAULT_EVENTS
    unknown = [e for e in chosen if e not in KNOWN_EVENTS]
    if unknown:
        raise SubscriptionError(
            f"--events: unknown event type {unknown[0]!r} (known: {', '.join(KNOWN_EVENTS)})"
        )
    return tuple(dict.fromkeys(chosen))


class KeyFile:
    """The file the key goes into: checked first, staged as a 0600 temp file beside it, then
    moved into place once vivenu has the key (`commit`) or deleted (`discard`)."""

    def __init__(self, path: Path, *, rotate: bool) -> None:
        self.path = path
        self.rotate = rotate
        self._staged: Path | None = None

    def check(self) -> None:
        """SubscriptionError when the key cannot go there."""
        if self.path.exists() and not self.rotate:
            raise SubscriptionError(
                f"--hmac-key-file {self.path} exists: not overwriting the key in it; pass "
                "--rotate to replace it with a new one"
            )
        if not self.path.parent.is_dir():
            raise SubscriptionError(
                f"--hmac-key-file {self.path}: its folder {self.path.parent} does not exist"
            )

    def stage(self, key: str) -> None:
        """Write the key to a new 0600 temp file beside the target (never readable by others,
        not even for a moment)."""
        self.check()
        staged = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, f"{key}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._staged = staged

    def commit(self) -> None:
        """Move the staged key into place (without --rotate, never over a file that appeared)."""
        assert self._staged is not None
        if self.rotate:
            os.replace(self._staged, self.path)
        else:
            os.link(self._staged, self.path)  # FileExistsError rather than overwrite
            self._staged.unlink()
        self._staged = None

    def discard(self) -> None:
        """Delete the staged key, if any."""
        if self._staged is not None:
            with contextlib.suppress(FileNotFoundError):
                self._staged.unlink()
            self._staged = None


@dataclass(frozen=True)
class Registered:
    """What `register` did: the subscription, whether it was new, the new key to hand out
    (None: kept, or written to the key file: `key_written`), and how many same-named
    duplicates it removed."""

    webhook: Webhook
    created: bool
    key: str | None
    key_written: bool
    removed: int


async def register(
    client: VivenuClient,
    *,
    name: str,
    url: str,
    events: tuple[str, ...],
    rotate: bool = False,
    key_file: KeyFile | None = None,
) -> Registered:
    """Create the subscription `name`, or update the one of that name (its key kept unless
    `rotate`); with `key_file`, a new key goes only there (staged before vivenu learns it)."""
    same = [w for w in await client.list_webhooks() if w.name == name]
    existing = same[0] if same else None
    key = None
    if existing is not None and not rotate:
        key = await client.webhook_key(existing.id)
    new_key = key is None
    if new_key:
        key = secrets.token_hex(32)
        if key_file is not None:
            key_file.stage(key)
    assert key is not None
    try:
        if existing is None:
            webhook = await client.create_webhook(name=name, url=url, events=events, hmac_key=key)
        else:
            webhook = await client.update_webhook(
                existing.id, name=name, url=url, events=events, hmac_key=key
            )
    except BaseException:
        if key_file is not None:
            key_file.discard()
        raise
    if new_key and key_file is not None:
        key_file.commit()
    # A POST retried after vivenu took it makes a second one of the name: one is enough.
    for extra in same[1:]:
        await client.delete_webhook(extra.id)
    handed = key if new_key and key_file is None else None
    written = new_key and key_file is not None
    return Registered(webhook, existing is None, handed, written, len(same[1:]))
