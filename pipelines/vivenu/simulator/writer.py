"""A background writer that keeps the simulated seller busy while a sync pages through it.

Sales (`create_transaction`) come with their tickets and cancellations invalidate them, all of
a sale's or some (the store keeps both consistent); tickets are sometimes personalized and events sometimes edited,
which bumps their `updatedAt`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

from pipelines.vivenu.simulator import data
from pipelines.vivenu.simulator.store import NotFound, Store

DEFAULT_MIX: dict[str, float] = {
    "update_customer": 0.55,
    "create_customer": 0.15,
    "delete_customer": 0.05,
    "create_transaction": 0.15,
    "update_transaction": 0.10,
    "partially_cancel_transaction": 0.02,
    "update_ticket": 0.03,
    "update_event": 0.02,
}
SLOGANS = (
    "Jetzt Tickets sichern!",
    "Nur noch wenige Plätze",
    "Zusatzshow bestätigt",
    "Einlass ab 18:30",
    "Neuer Termin, Tickets bleiben gültig",
)


class BackgroundWriter:
    """Mutates a Store at `rate` operations per second in a daemon thread (deterministic per seed)."""

    def __init__(
        self, store: Store, *, rate: float, seed: int = 0, mix: dict[str, float] | None = None
    ) -> None:
        self.store = store
        self.rate = rate
        self.mix = dict(mix or DEFAULT_MIX)
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._created = 0

    def start(self) -> None:
        """Start writing."""
        if self._thread is not None or self.rate <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vivenu-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop writing and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.step()
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()

    def _pick(self, table_name: str) -> str | None:
        # Random slots with rejection of dead ones: O(1) even over a million records.
        with self.store.lock:
            table = getattr(self.store, table_name)
            for _ in range(64):
                if table.n == 0:
                    return None
                slot = self.rng.randrange(table.n)
                if table.alive[slot]:
                    return table.ids[slot]
            return None

    def step(self) -> str:
        """Perform one random operation; returns its name."""
        ops, weights = zip(*self.mix.items(), strict=True)
        op = self.rng.choices(ops, weights)[0]
        s, r = self.store, self.rng
        try:
            if op == "update_customer":
                cid = self._pick("customers")
                if cid is None:
                    return "noop"
                field = r.choice(("tags", "phone", "notes", "lastname"))
                value: object = {
                    "tags": r.sample(data.TAG_VOCAB[:30], r.randint(0, 3)),
                    "phone": f"+49 {r.randint(10_000_000, 999_999_999)}",
                    "notes": r.choice(data.NOTES),
                    "lastname": r.choice(data.LAST_NAMES),
                }[field]
                s.update_customer(cid, {field: value})
            elif op == "create_customer":
                self._created += 1
                first, last = r.choice(data.FIRST_NAMES), r.choice(data.LAST_NAMES)
                email = f"{data.ascii_slug(first)}.{data.ascii_slug(last)}.w{r.getrandbits(40):x}"
                s.create_customer(
                    {
                        "primaryEmail": f"{email}@example.org",
                        "prename": first,
                        "lastname": last,
                        "tags": r.sample(data.TAG_VOCAB[:10], r.randint(0, 2)),
                    },
                    upsert=True,
                )
            elif op == "delete_customer":
                cid = self._pick("customers")
                if cid is None:
                    return "noop"
                s.delete_customer(cid)
            elif op == "create_transaction":
                cid = self._pick("customers")
                if cid is None:
                    return "noop"
                s.create_transaction(cid)
            elif op == "update_transaction":
                tid = self._pick("transactions")
                if tid is None:
                    return "noop"
                s.update_transaction(tid, {"status": "CANCELED", "paymentStatus": "REFUND"})
            elif op == "partially_cancel_transaction":
                tid = self._pick("transactions")
                if tid is None:
                    return "noop"
                s.cancel_tickets(tid, r.randint(1, 2))
            elif op == "update_ticket":
                kid = self._pick("tickets")
                if kid is None:
                    return "noop"
                first, last = r.choice(data.FIRST_NAMES), r.choice(data.LAST_NAMES)
                s.update_ticket(
                    kid,
                    {"firstname": first, "lastname": last, "name": f"{first} {last}",
                     "personalized": True},
                )  # fmt: skip
            elif op == "update_event":
                eid = self._pick("events")
                if eid is None:
                    return "noop"
                s.update_event(eid, {"slogan": r.choice(SLOGANS)})
        except NotFound:
            return "noop"
        self.counts[op] += 1
        return op
