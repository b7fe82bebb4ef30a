"""The one scan → evaluate path of every command.

Targets go into a bounded pool of probes fed from a stream (a file of 100,000 targets
starts at once and never has more than ``concurrency`` worth of work in flight); each
target's facts are evaluated as its probe finishes (:func:`run_scan`, used by ``scan``
for fleets of any size, with little kept in memory), or collected in order
(:func:`scan_targets` then :func:`evaluate_all`: ``demo``, ``miniprogram``,
``forecast``, ``monitor``).  One target's failure never stops the others; the exit code
is tallied one result at a time (:class:`ExitTally`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from certcheck.evaluate import Policy, evaluate
from certcheck.exitcodes import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_UNSCANNED,
)
from certcheck.model import SEVERITY_ORDER, ServerFacts, Target, TargetResult
from certcheck.probe.context import ScanContext
from certcheck.probe.fleet import probe_many

#: Default targets at once.  Probing is I/O-bound (one driver thread waits on every
#: target's sockets), so this bounds politeness and memory more than CPU.
DEFAULT_CONCURRENCY = 16


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
    running finish and are yielded.  ``post_probe`` runs on a worker thread after
    each probe (e.g. fetching AIA issuers), so the facts handed out are final.
    All probing runs on one driver thread (:mod:`certcheck.probe.fleet`).
    """
    yield from probe_many(
        targets,
        timeout,
        concurrency,
        max_connections=max_connections,
        context=context,
        stop=stop,
        post_probe=post_probe,
    )


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
        if not result.facts.ok or result.facts.incomplete:
            self.unscanned = True  # not scanned, or only in part (exit 3 unless findings)
            if result.facts.error is not None and result.facts.error.kind == "internal":
                self.internal = True

    @property
    def code(self) -> int:
        if self.internal:
            return EXIT_INTERNAL
        if self.failed:
            return EXIT_FINDINGS
        return EXIT_UNSCANNED if self.unscanned else EXIT_OK


# -- streaming scans (certcheck scan) ----------------------------------------------------------
# One ``certcheck scan`` of any size: stream targets in, results out, keep little.
#
# Each target is evaluated as soon as its probe finishes, written to ``--jsonl``
# at once, and counted for the exit code.  Full results are kept only when an
# output needs the whole document (``--json``, ``--html``, ``--junit``,
# ``--sarif``, ``--save-facts``); otherwise the console gets slim copies, capped,
# so memory stays flat from a thousand targets to a hundred thousand.

#: Slim results kept for the console when no whole-document output was asked for.
CONSOLE_KEEP = 1000


@dataclass
class ScanOutcome:
    """What a streaming scan leaves behind."""

    results: list[TargetResult]
    facts: list[ServerFacts]
    counts: Counter[str]
    exit_code: int
    total: int
    dropped: int = 0  # results not kept for the console (only counted)
    interrupted: bool = False
    per_host_peak: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def slim(result: TargetResult, keep_simulation: bool) -> TargetResult:
    """Just what the console prints: target, error, verdicts, findings, days left."""
    facts = ServerFacts(
        target=result.facts.target,
        scanned_at=result.facts.scanned_at,
        error=result.facts.error,
        protocols=result.facts.protocols if keep_simulation else {},
        cipher_suites=result.facts.cipher_suites if keep_simulation else {},
        groups=result.facts.groups if keep_simulation else {},
        server_cipher_order=result.facts.server_cipher_order if keep_simulation else {},
        sslv2=result.facts.sslv2,
    )
    certificate = None
    if result.certificate and "leaf" in result.certificate:
        certificate = {"leaf": {"days_left": result.certificate["leaf"]["days_left"]}}
    return TargetResult(
        facts=facts,
        findings=result.findings,
        verdicts=result.verdicts,
        overall=result.overall,
        certificate=certificate,
        simulation=result.simulation if keep_simulation else None,
    )


def _console_wants(result: TargetResult, kept: int) -> bool:
    """The first CONSOLE_KEEP results, then only problems, up to twice that."""
    if kept < CONSOLE_KEEP:
        return True
    return result.overall != "pass" and kept < 2 * CONSOLE_KEEP


def run_scan(
    targets: Iterable[Target],
    total: int,
    *,
    policy: Policy,
    now: datetime,
    fail_on: str,
    timeout: float,
    concurrency: int,
    max_connections: int,
    context: ScanContext,
    keep_all: bool,
    keep_simulation: bool = False,
    post_probe: Callable[[ServerFacts], None] | None = None,
    on_result: Callable[[TargetResult], None] | None = None,
    stop: threading.Event | None = None,
) -> ScanOutcome:
    """Scan, evaluate and hand each result to ``on_result`` as it finishes.

    A KeyboardInterrupt ends the scan early; everything finished is kept and
    the outcome says ``interrupted``.
    """
    stop = stop or threading.Event()
    tally = ExitTally(fail_on)
    counts: Counter[str] = Counter()
    kept: list[tuple[int, TargetResult]] = []
    dropped = 0
    interrupted = False

    try:
        for index, facts in iter_scan(
            targets,
            timeout,
            concurrency,
            max_connections=max_connections,
            context=context,
            stop=stop,
            post_probe=post_probe,
        ):
            result = evaluate(facts, policy, now)
            tally.add(result)
            counts[result.overall] += 1
            if on_result is not None:
                on_result(result)
            if keep_all:
                kept.append((index, result))
            elif _console_wants(result, len(kept)):
                kept.append((index, slim(result, keep_simulation)))
            else:
                dropped += 1
    except KeyboardInterrupt:
        stop.set()
        interrupted = True
    kept.sort(key=lambda pair: pair[0])
    results = [result for _, result in kept]
    return ScanOutcome(
        results=results,
        facts=[r.facts for r in results] if keep_all else [],
        counts=counts,
        exit_code=tally.code,
        total=total,
        dropped=dropped,
        interrupted=interrupted,
        per_host_peak=context.peak_per_host,
    )
