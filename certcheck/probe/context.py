"""What the probes of one scan share: per-server limits, the connection rate, DNS answers.

A fleet often has many targets on one server (virtual hosts, several ports
behind one address); ``--per-host`` caps the connections to one *address*
across all of them, ``--rate`` caps new connections per second overall, and
each host name is resolved once per scan.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def address_key(address: tuple) -> str:
    """The server a socket address points at, whatever its port or spelling.

    ``--per-host`` counts per *address*: ``("127.0.0.1", 443)`` and
    ``("127.0.0.1", 8443)`` are one server; so are ``::ffff:192.0.2.1`` and
    ``192.0.2.1`` (an IPv4-mapped IPv6 address, RFC 4291 section 2.5.5.2) and the
    differently written forms of one IPv6 address.  A link-local IPv6 address is
    only one server per interface, so a scope id is kept.
    """
    text, _, scope = str(address[0]).partition("%")
    if not scope and len(address) >= 4 and address[3]:
        scope = str(address[3])  # (host, port, flowinfo, scope_id) of an AF_INET6 address
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return str(address[0]).lower()  # not an IP literal: compare as text
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if scope:
            return f"{ip}%{scope}"
    return str(ip)


class Slots:
    """A bounded semaphore that costs one lock when nobody waits.

    The probe driver takes slots without blocking thousands of times per second;
    ``threading.BoundedSemaphore`` goes through a Python-level Condition each time.
    A non-blocking taker that found none free may leave ``on_free``: it is called once,
    at the next release, so the driver sleeps until then instead of polling.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._free = limit
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._waiters = 0
        self._on_free: dict[Callable[[], None], None] = {}

    def acquire(
        self,
        blocking: bool = True,
        timeout: float | None = None,
        on_free: Callable[[], None] | None = None,
    ) -> bool:
        with self._lock:
            if self._free > 0:
                self._free -= 1
                return True
            if not blocking:
                if on_free is not None:
                    self._on_free[on_free] = None
                return False
            self._waiters += 1
            try:
                got = self._freed.wait_for(lambda: self._free > 0, timeout)
            finally:
                self._waiters -= 1
            if got:
                self._free -= 1
            return got

    def release(self) -> None:
        with self._lock:
            if self._free >= self._limit:
                raise ValueError("Slots released too many times")
            self._free += 1
            if self._waiters:
                self._freed.notify()
            callbacks, self._on_free = self._on_free, {}
        for callback in callbacks:
            callback()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()


class RateLimiter:
    """At most ``rate`` acquisitions per second overall (a simple spacing limiter)."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def reserve(self, deadline: float) -> float | None:
        """The instant of the next slot, now taken; None if it would come after ``deadline``."""
        with self._lock:
            at = max(time.monotonic(), self._next)
            if at > deadline:
                return None
            self._next = at + self.interval
            return at

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
        #: keyed by :func:`address_key`: one semaphore per server address, all ports
        self._hosts: dict[str, Slots] = {}
        self._dns: dict[tuple[str, int], Any] = {}
        self._dns_locks: dict[tuple[str, int], threading.Lock] = {}
        #: most connections ever open at once to one address (for tests and reports)
        self.peak_per_host = 0
        self._active: dict[str, int] = {}

    def host_slots(self, address: tuple) -> Slots | None:
        if self.per_host is None:
            return None
        key = address_key(address)
        with self._lock:
            if key not in self._hosts:
                self._hosts[key] = Slots(self.per_host)
            return self._hosts[key]

    def opened(self, address: tuple, delta: int) -> None:
        self.opened_key(address_key(address), delta)

    def opened_key(self, key: str, delta: int) -> None:
        """:meth:`opened` for an address already turned into its :func:`address_key`."""
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
