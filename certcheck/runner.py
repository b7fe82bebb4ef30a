"""Scan many targets: probe concurrently, evaluate each as it finishes.

One target's failure never stops the others; results come back in input order.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime

from certcheck.evaluate import Policy, evaluate
from certcheck.model import SEVERITY_ORDER, ScanError, ServerFacts, Target, TargetResult
from certcheck.probe import now_iso, probe_target

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNSCANNED = 0, 1, 2, 3


def scan_targets(
    targets: list[Target],
    timeout: float,
    concurrency: int = 8,
    on_done: Callable[[ServerFacts], None] | None = None,
) -> list[ServerFacts]:
    """Probe every target; the facts list is in the same order as ``targets``."""
    facts: list[ServerFacts | None] = [None] * len(targets)
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets) or 1))) as pool:
        futures = {pool.submit(probe_target, t, timeout): i for i, t in enumerate(targets)}
        for future in as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - keep every other target
                result = ServerFacts(
                    target=targets[index],
                    scanned_at=now_iso(),
                    error=ScanError("error", f"probe crashed: {exc!r}"),
                )
            facts[index] = result
            if on_done:
                on_done(result)
    return [f for f in facts if f is not None]


def evaluate_all(
    facts: list[ServerFacts], policy: Policy, now: datetime | None = None
) -> list[TargetResult]:
    moment = now or datetime.now(UTC)
    return [evaluate(f, policy, moment) for f in facts]


def exit_code(results: list[TargetResult], fail_on: str) -> int:
    """0 compliant, 1 a finding at or above ``fail_on``, 3 unscanned targets only."""
    threshold = SEVERITY_ORDER[fail_on]
    if any(SEVERITY_ORDER[f.severity] >= threshold for r in results for f in r.active_findings):
        return EXIT_FINDINGS
    if any(not r.facts.ok for r in results):
        return EXIT_UNSCANNED
    return EXIT_OK
