"""A per-target connection budget: how many sockets at once, how many in all.

Every connection the probe opens to one target goes through one
:class:`ConnectionBudget`, so a full enumeration never has more than
``limit`` connections open to that server at the same moment (politeness),
the total is counted for the facts, and an overall deadline stops a slow or
hostile server from stretching a scan to (connections x timeout).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class BudgetExhausted(Exception):
    """The overall deadline passed before a connection slot became free."""


class ConnectionBudget:
    """Bounded, counted access to one server (thread-safe)."""

    def __init__(self, limit: int = 5, total_seconds: float | None = None) -> None:
        if limit < 1:
            raise ValueError(f"max_connections must be at least 1, not {limit}")
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        #: connection attempts made so far
        self.opened = 0
        #: most connections ever open at the same time
        self.peak = 0
        self._active = 0
        self.deadline = time.monotonic() + total_seconds if total_seconds else math.inf

    def remaining(self) -> float:
        """Seconds left before the overall deadline (inf when there is none)."""
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one connection slot for the body of the ``with`` block.

        Raises :class:`BudgetExhausted` when the deadline passes while waiting.
        """
        wait = self.remaining()
        if wait <= 0 or not self._slots.acquire(timeout=None if math.isinf(wait) else wait):
            raise BudgetExhausted("probe time budget exhausted")
        try:
            with self._lock:
                self.opened += 1
                self._active += 1
                self.peak = max(self.peak, self._active)
            yield
        finally:
            with self._lock:
                self._active -= 1
            self._slots.release()


@contextmanager
def maybe_slot(budget: ConnectionBudget | None) -> Iterator[None]:
    """``budget.slot()``, or nothing when the caller has no budget."""
    if budget is None:
        yield
    else:
        with budget.slot():
            yield
