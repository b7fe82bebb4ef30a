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
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from certcheck.model import PROBE_BUDGET_EXHAUSTED
from certcheck.probe.context import ScanContext, Slots, address_key


class BudgetExhausted(Exception):
    """The overall deadline passed before a connection slot became free."""


class ConnectionBudget:
    """Bounded, counted access to one server (thread-safe)."""

    def __init__(
        self,
        limit: int = 5,
        total_seconds: float | None = None,
        context: ScanContext | None = None,
        address: tuple | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"max_connections must be at least 1, not {limit}")
        self.limit = limit
        #: shared with the scan's other targets: --per-host slots for this address, --rate
        self.context = context
        self.address = address
        self._host = context.host_slots(address) if context and address else None
        #: what the context counts this server's connections under (None: not counted)
        self._key = address_key(address) if context and address else None
        self._slots = Slots(limit)
        self._lock = threading.Lock()
        #: connection attempts made so far
        self.opened = 0
        #: most connections ever open at the same time
        self.peak = 0
        self._active = 0
        self.deadline = time.monotonic() + total_seconds if total_seconds else math.inf
        #: threads of this target waiting for a --per-host slot, and since when (see below)
        self._host_waiters = 0
        self._waiting_since = 0.0
        #: a non-blocking caller is waiting for a --per-host slot (see try_open)
        self._polling_host = False
        #: (driver, its ``on_free`` callback) of the driver that runs this budget's exchanges
        #: (kept here, made once, so the slots hold it once however often it waits)
        self.waker: tuple[object, Callable[[], None]] | None = None

    def remaining(self) -> float:
        """Seconds left before the overall deadline (inf when there is none)."""
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def _wait_for_host(self) -> None:
        """Take a --per-host slot; the time spent waiting for it is not charged to the budget.

        Many targets may queue for one address, and the budget bounds how long *this*
        target's server can keep the probe busy, not how long the other targets on that
        address take.  The wait still ends: every slot holder is bounded by its own
        budget.  Overlapping waits of the target's parallel probes count once.
        """
        assert self._host is not None
        with self._lock:
            self._host_waiters += 1
            if self._host_waiters == 1:
                self._waiting_since = time.monotonic()
        try:
            self._host.acquire()
        finally:
            with self._lock:
                # Credit the wait so far now (this thread is about to use the deadline);
                # a thread still waiting is credited from here on.
                now = time.monotonic()
                self.deadline += now - self._waiting_since
                self._waiting_since = now
                self._host_waiters -= 1

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one connection slot for the body of the ``with`` block.

        Raises :class:`BudgetExhausted` when the deadline passes while waiting.
        """
        if not _acquire(self._slots, self.remaining()):
            raise BudgetExhausted(PROBE_BUDGET_EXHAUSTED)
        try:
            if self._host is not None:
                self._wait_for_host()
            try:
                rate = self.context.rate if self.context else None
                if rate is not None and not rate.acquire(self.deadline):
                    raise BudgetExhausted(f"{PROBE_BUDGET_EXHAUSTED} waiting for --rate")
                self._count(1)
                try:
                    yield
                finally:
                    self._count(-1)
            finally:
                if self._host is not None:
                    self._host.release()
        finally:
            self._slots.release()

    # -- the same, without blocking (certcheck.probe.driver polls) ------------------------

    def try_open(self, on_free: Callable[[], None] | None = None) -> float | None:
        """Take a slot now if one is free: the instant the connection may start, or None.

        After None, ``on_free()`` is called once when a slot that was missing is released
        (by any thread), so the caller need not poll.

        The instant is later than now only under ``--rate`` (the slot is held until then).
        Raises :class:`BudgetExhausted` once the deadline has passed.  A wait for a
        --per-host slot is credited to the deadline as :meth:`slot` does; call
        :meth:`stop_waiting` if the caller gives up while waiting.  Every instant returned
        must be followed by one :meth:`close_slot`.
        """
        if self._host_waiters:  # read without the lock: only a hint, checked under it
            with self._lock:
                if self._host_waiters:
                    # A --per-host wait still going on is not charged: credit it so far.
                    now = time.monotonic()
                    self.deadline += now - self._waiting_since
                    self._waiting_since = now
        if self.expired():
            raise BudgetExhausted(PROBE_BUDGET_EXHAUSTED)
        if not self._slots.acquire(blocking=False, on_free=on_free):
            return None
        if self._host is not None:
            if not self._host.acquire(blocking=False, on_free=on_free):
                self._slots.release()
                self._begin_host_wait()
                return None
            self.stop_waiting()
        rate = self.context.rate if self.context else None
        start = time.monotonic()
        if rate is not None:
            at = rate.reserve(self.deadline)
            if at is None:
                self._release_shared()
                raise BudgetExhausted(f"{PROBE_BUDGET_EXHAUSTED} waiting for --rate")
            start = at
        self._count(1)
        return start

    def close_slot(self) -> None:
        """Give back a slot taken by :meth:`try_open`."""
        self._count(-1)
        self._release_shared()

    def _count(self, delta: int) -> None:
        """A connection opens (+1: counted in ``opened``) or ends (-1), here and per address."""
        with self._lock:
            if delta > 0:
                self.opened += 1
            self._active += delta
            self.peak = max(self.peak, self._active)
        if self._key is not None:
            self.context.opened_key(self._key, delta)  # type: ignore[union-attr]

    def _release_shared(self) -> None:
        if self._host is not None:
            self._host.release()
        self._slots.release()

    def _begin_host_wait(self) -> None:
        with self._lock:
            if not self._polling_host:
                self._polling_host = True
                self._host_waiters += 1
                if self._host_waiters == 1:
                    self._waiting_since = time.monotonic()

    def stop_waiting(self) -> None:
        """End a --per-host wait begun by :meth:`try_open` (crediting it); else nothing."""
        if not self._polling_host:  # read without the lock: only this budget's driver sets it
            return
        with self._lock:
            if not self._polling_host:
                return
            self._polling_host = False
            now = time.monotonic()
            self.deadline += now - self._waiting_since
            self._waiting_since = now
            self._host_waiters -= 1


def _acquire(semaphore: Slots, wait: float) -> bool:
    if wait <= 0:
        return False
    return semaphore.acquire(timeout=None if math.isinf(wait) else wait)


@contextmanager
def maybe_slot(budget: ConnectionBudget | None) -> Iterator[None]:
    """``budget.slot()``, or nothing when the caller has no budget."""
    if budget is None:
        yield
    else:
        with budget.slot():
            yield
