"""Probe a stream of targets, ``concurrency`` at once, all from one driver thread.

Each target is a plan (:func:`certcheck.probe.probe_plan`) of one
:class:`certcheck.probe.driver.Driver`; the driver's thread does every raw exchange of
every target, and only blocking work (the real handshake, DNS, the caller's
``post_probe``) goes to the shared worker threads.  Results come back in completion
order; a target is not started while ``concurrency`` others are in flight or finished
but not yet taken by the consumer, so a slow consumer holds the scan back instead of
filling memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from certcheck.model import ScanError, ServerFacts, Target
from certcheck.probe import blocking_pool, now_iso, probe_plan
from certcheck.probe.context import ScanContext
from certcheck.probe.driver import Await, Driver, Plan


def target_plan(
    target: Target,
    timeout: float,
    max_connections: int,
    context: ScanContext,
    post_probe: Callable[[ServerFacts], None] | None,
) -> Plan[ServerFacts]:
    """One target's probe and ``post_probe``; whatever goes wrong is this target's error."""
    try:
        facts = yield from probe_plan(target, timeout, max_connections, context)
        if post_probe is not None:
            yield Await(blocking_pool().submit(post_probe, facts))
        return facts
    except Exception as exc:  # noqa: BLE001 - keep every other target
        return ServerFacts(
            target=target, scanned_at=now_iso(), error=ScanError("error", f"probe crashed: {exc!r}")
        )


@dataclass
class _Failed:
    """The targets stream itself raised: re-raised to the consumer."""

    error: BaseException


_END = object()


class _Feeder:
    """The driver thread's side: start targets while there is room, hand results over."""

    def __init__(
        self,
        targets: Iterable[Target],
        workers: int,
        start: Callable[[Target], Plan[ServerFacts]],
        stopped: Callable[[], bool],
    ) -> None:
        self.driver = Driver()
        self.results: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._source = enumerate(targets)
        self._workers = workers
        self._start = start
        self._stopped = stopped
        self._outstanding = 0  # started, not yet taken by the consumer
        self._exhausted = False
        #: what the targets iterable raised: handed over after the targets already running
        self._source_error: BaseException | None = None

    def run(self) -> None:
        try:
            self.feed()
            self.driver.run_until(self._finished)
            if self._source_error is not None:
                self.results.put(_Failed(self._source_error))
        except BaseException as exc:  # noqa: BLE001 - a driver bug ends the scan, visibly
            self.results.put(_Failed(exc))
        finally:
            self.driver.close()
            self.results.put(_END)

    def _finished(self) -> bool:
        return (self._exhausted or self._stopped()) and self.driver.roots == 0

    def feed(self) -> None:
        while not self._exhausted and not self._stopped():
            if self._outstanding >= self._workers:
                return
            try:
                item = next(self._source, None)
            except Exception as exc:  # noqa: BLE001 - the consumer raises it, after the rest
                self._source_error = exc
                item = None
            if item is None:
                self._exhausted = True
                return
            index, target = item
            self._outstanding += 1
            self.driver.start(self._start(target), partial(self._done, index, target))

    def taken(self) -> None:
        """The consumer took a result (called on the driver thread)."""
        self._outstanding -= 1
        self.feed()

    def _done(self, index: int, target: Target, value: Any, error: BaseException | None) -> None:
        if error is not None:  # target_plan catches everything; this is a driver bug
            value = ServerFacts(
                target=target,
                scanned_at=now_iso(),
                error=ScanError("error", f"probe crashed: {error!r}"),
            )
        self.results.put((index, value))


def probe_many(
    targets: Iterable[Target],
    timeout: float,
    concurrency: int,
    *,
    max_connections: int = 5,
    context: ScanContext | None = None,
    stop: threading.Event | None = None,
    post_probe: Callable[[ServerFacts], None] | None = None,
) -> Iterator[tuple[int, ServerFacts]]:
    """Yield ``(input index, facts)`` in completion order (see the module docstring).

    Setting ``stop`` ends the scan early: nothing new starts, probes already
    running finish and are yielded.  Closing the iterator stops it the same way.
    """
    context = context or ScanContext()
    stop = stop or threading.Event()
    halt = threading.Event()  # the consumer closed the iterator
    feeder = _Feeder(
        targets,
        max(1, concurrency),
        lambda target: target_plan(target, timeout, max_connections, context, post_probe),
        lambda: stop.is_set() or halt.is_set(),
    )
    thread = threading.Thread(target=feeder.run, name="certcheck-driver", daemon=True)
    thread.start()
    try:
        while True:
            item = feeder.results.get()
            if item is _END:
                break
            if isinstance(item, _Failed):
                raise item.error
            feeder.driver.call_soon(feeder.taken)
            yield item
    finally:
        halt.set()
        feeder.driver.call_soon(lambda: None)  # wake the loop to see it
