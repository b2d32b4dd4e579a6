"""Live sync progress, fanned out to whoever listens (the CLI's progress bars).

The engine reports through a callback; assets forward it here, so a run launched in-process by
the CLI shows live bars while the same asset code run by the Dagster UI only logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipelines.sync.engine import SyncProgress

Listener = Callable[[SyncProgress], None]
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Receive every progress report emitted while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def emit(progress: SyncProgress) -> None:
    """Hand a progress report to every listener."""
    for listener in list(_listeners):
        listener(progress)
