"""One ``certcheck scan`` of any size: stream targets in, results out, keep little.

Each target is evaluated as soon as its probe finishes, written to ``--jsonl``
at once, and counted for the exit code.  Full results are kept only when an
output needs the whole document (``--json``, ``--html``, ``--junit``,
``--sarif``, ``--save-facts``); otherwise the console gets slim copies, capped,
so memory stays flat from a thousand targets to a hundred thousand.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from certcheck.evaluate import Policy, evaluate
from certcheck.model import ServerFacts, Target, TargetResult
from certcheck.probe.context import ScanContext
from certcheck.runner import ExitTally, iter_scan

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
