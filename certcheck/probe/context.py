"""What the probes of one scan share: per-server limits, the connection rate, DNS answers.

A fleet often has many targets on one server (virtual hosts, several ports
behind one address); ``--per-host`` caps the connections to one *address*
across all of them, ``--rate`` caps new connections per second overall, and
each host name is resolved once per scan.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class RateLimiter:
    """At most ``rate`` acquisitions per second overall (a simple spacing limiter)."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def acquire(self, deadline: float) -> bool:
        """Wait for the next slot; False if it would come after ``deadline``."""
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            if at > deadline:
                return False
            self._next = at + self.interval
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return True


class ScanContext:
    """Shared by every probe of one scan (thread-safe)."""

    def __init__(self, per_host: int | None = None, rate: float | None = None) -> None:
        if per_host is not None and per_host < 1:
            raise ValueError("per_host must be at least 1")
        self.per_host = per_host
        self.rate = RateLimiter(rate) if rate else None
        self._lock = threading.Lock()
        self._hosts: dict[tuple[str, int], threading.BoundedSemaphore] = {}
        self._dns: dict[tuple[str, int], Any] = {}
        self._dns_locks: dict[tuple[str, int], threading.Lock] = {}
        #: most connections ever open at once to one address (for tests and reports)
        self.peak_per_host = 0
        self._active: dict[tuple[str, int], int] = {}

    def host_slots(self, address: tuple) -> threading.BoundedSemaphore | None:
        if self.per_host is None:
            return None
        key = (address[0], address[1])
        with self._lock:
            if key not in self._hosts:
                self._hosts[key] = threading.BoundedSemaphore(self.per_host)
            return self._hosts[key]

    def opened(self, address: tuple, delta: int) -> None:
        key = (address[0], address[1])
        with self._lock:
            self._active[key] = self._active.get(key, 0) + delta
            self.peak_per_host = max(self.peak_per_host, self._active[key])

    def resolve_once(self, key: tuple[str, int], lookup: Callable[[], Any]) -> Any:
        """``lookup()`` once per (host, port) per scan; failures are remembered too."""
        with self._lock:
            lock = self._dns_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._dns:
                try:
                    self._dns[key] = ("ok", lookup())
                except Exception as exc:  # noqa: BLE001 - re-raised to every caller
                    self._dns[key] = ("error", exc)
            kind, value = self._dns[key]
        if kind == "error":
            raise value
        return value
