"""Scan many targets: a bounded pool of probes fed from a stream of targets.

Targets are pulled from an iterator only as workers free up, so a file of
100,000 targets starts scanning at once and never has more than a few
``concurrency`` worth of work in flight; results are handed out as each target
finishes.  One target's failure never stops the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

from certcheck.evaluate import Policy, evaluate
from certcheck.model import SEVERITY_ORDER, ScanError, ServerFacts, Target, TargetResult
from certcheck.probe import now_iso, probe_target
from certcheck.probe.context import ScanContext

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNSCANNED = 0, 1, 2, 3
#: a target's evaluation raised (a certcheck bug): its result says why; wins over 1 and 3
EXIT_INTERNAL = 4
#: monitor: another run holds the lock of the same targets (the history is busy)
EXIT_HISTORY_BUSY = 5
#: monitor --fail-on-delivery: an alert is still undelivered (or was given up); wins over 0/1/3
EXIT_DELIVERY = 6
EXIT_INTERRUPTED = 130

#: Default targets at once.  Probing is I/O-bound (threads wait on sockets); on the
#: 2-core reference machine 16 keeps both cores busy without starving the GIL.
DEFAULT_CONCURRENCY = 16


def _probe(
    target: Target,
    timeout: float,
    max_connections: int,
    context: ScanContext,
    post_probe: Callable[[ServerFacts], None] | None,
) -> ServerFacts:
    try:
        facts = probe_target(target, timeout, max_connections, context)
        if post_probe is not None:
            post_probe(facts)
        return facts
    except Exception as exc:  # noqa: BLE001 - keep every other target
        return ServerFacts(
            target=target, scanned_at=now_iso(), error=ScanError("error", f"probe crashed: {exc!r}")
        )


def iter_scan(
    targets: Iterable[Target],
    timeout: float,
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    max_connections: int = 5,
    context: ScanContext | None = None,
    stop: threading.Event | None = None,
    post_probe: Callable[[ServerFacts], None] | None = None,
) -> Iterator[tuple[int, ServerFacts]]:
    """Yield ``(input index, facts)`` in completion order.

    Setting ``stop`` ends the scan early: nothing new starts, probes already
    running finish and are yielded.  ``post_probe`` runs in the worker after
    each probe (e.g. fetching AIA issuers), so the facts handed out are final.
    """
    context = context or ScanContext()
    stop = stop or threading.Event()
    source = enumerate(targets)
    workers = max(1, concurrency)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="certcheck-scan")
    running: dict[Future[ServerFacts], int] = {}
    try:
        while True:
            while not stop.is_set() and len(running) < workers:
                item = next(source, None)
                if item is None:
                    break
                index, target = item
                future = pool.submit(_probe, target, timeout, max_connections, context, post_probe)
                running[future] = index
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield running.pop(future), future.result()
    finally:
        # On an interrupt nothing new is started; running probes are bounded by timeout.
        pool.shutdown(wait=False, cancel_futures=True)


def scan_targets(
    targets: list[Target],
    timeout: float,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_done: Callable[[ServerFacts], None] | None = None,
    *,
    max_connections: int = 5,
    context: ScanContext | None = None,
) -> list[ServerFacts]:
    """Probe every target; the facts list is in the same order as ``targets``."""
    facts: list[ServerFacts | None] = [None] * len(targets)
    for index, result in iter_scan(
        targets, timeout, concurrency, max_connections=max_connections, context=context
    ):
        facts[index] = result
        if on_done:
            on_done(result)
    return [f for f in facts if f is not None]


def evaluate_all(
    facts: list[ServerFacts], policy: Policy, now: datetime | None = None
) -> list[TargetResult]:
    moment = now or datetime.now(UTC)
    return [evaluate(f, policy, moment) for f in facts]


def exit_code(results: Iterable[TargetResult], fail_on: str) -> int:
    """0 compliant, 1 a finding at or above ``fail_on``, 3 unscanned targets only,
    4 certcheck failed to evaluate a target (an internal error; wins over 1 and 3)."""
    tally = ExitTally(fail_on)
    for result in results:
        tally.add(result)
    return tally.code


class ExitTally:
    """The exit code, accumulated one result at a time (streaming scans keep no list)."""

    def __init__(self, fail_on: str) -> None:
        self.threshold = SEVERITY_ORDER[fail_on]
        self.failed = False
        self.unscanned = False
        self.internal = False

    def add(self, result: TargetResult) -> None:
        if any(SEVERITY_ORDER[f.severity] >= self.threshold for f in result.active_findings):
            self.failed = True
        if not result.facts.ok:
            self.unscanned = True
            if result.facts.error is not None and result.facts.error.kind == "internal":
                self.internal = True

    @property
    def code(self) -> int:
        if self.internal:
            return EXIT_INTERNAL
        if self.failed:
            return EXIT_FINDINGS
        return EXIT_UNSCANNED if self.unscanned else EXIT_OK
