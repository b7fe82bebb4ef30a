"""Console summary: one row per target, then the findings grouped by target.

Readable at 80 columns; colour only when attached to a terminal (rich decides).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from certcheck.freshness import stale_note
from certcheck.model import VERDICT_PLATFORMS, TargetResult

_OVERALL = {
    "pass": ("PASS", "bold green"),
    "warn": ("WARN", "bold yellow"),
    "fail": ("FAIL", "bold red"),
    "error": ("ERROR", "bold magenta"),
}
_MARK = {
    "pass": ("ok", "green"),
    "warn": ("warn", "yellow"),
    "fail": ("FAIL", "red"),
    "unknown": ("?", "dim"),
}
_HEADER = {"ios": "iOS", "android": "Android", "android_legacy": "Old Android"}
_SEV = {"error": ("error", "red"), "warning": ("warning", "yellow"), "info": ("info", "cyan")}


def _expiry(result: TargetResult) -> str:
    if not result.facts.ok:
        assert result.facts.error is not None
        return f"not scanned: {result.facts.error.kind}"
    if not result.certificate or "leaf" not in result.certificate:
        return ""
    days = result.certificate["leaf"]["days_left"]
    return "expired" if days < 0 else f"{days} d"


def summary_table(results: list[TargetResult]) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Target", overflow="fold")
    for platform in VERDICT_PLATFORMS:
        table.add_column(_HEADER[platform], no_wrap=True)
    table.add_column("Expires", overflow="fold")
    for result in results:
        word, style = _OVERALL[result.overall]
        marks = [Text(*_MARK[result.verdicts.get(p, "unknown")]) for p in VERDICT_PLATFORMS]
        table.add_row(Text(word, style), result.facts.target.label, *marks, _expiry(result))
    return table


def _evidence_text(evidence: dict[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        if value in (None, [], ""):
            continue
        if isinstance(value, list):
            shown = ", ".join(
                str(v.get("subject", v)) if isinstance(v, dict) else str(v) for v in value[:4]
            )
            if len(value) > 4:
                shown += f", … (+{len(value) - 4})"
            value = shown
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def print_results(results: list[TargetResult], console: Console, verbose: bool = False) -> None:
    """The summary table, then details for every target with something to say."""
    console.print(summary_table(results))
    for result in results:
        active = result.active_findings
        shown = [f for f in active if verbose or f.severity != "info"]
        hidden = len(active) - len(shown)
        suppressed = len(result.findings) - len(active)
        if result.facts.ok and not shown and not hidden and not suppressed:
            continue
        console.print()
        console.print(Text(result.facts.target.label, "bold"))
        if not result.facts.ok:
            assert result.facts.error is not None
            console.print(Text("  " + result.facts.error.message))
            continue
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for finding in shown:
            word, style = _SEV[finding.severity]
            body = Text(f"{finding.rule_id}: {finding.title}")
            evidence = _evidence_text(finding.evidence)
            if evidence:
                body.append("\n" + evidence, "dim")
            if verbose and finding.fix:
                body.append("\nfix: " + finding.fix)
            grid.add_row("", Text(word, style), body)
        console.print(grid)
        if hidden:
            console.print(f"  [dim]+{hidden} info finding(s): --verbose shows them[/]")
        if suppressed:
            console.print(f"  [dim]+{suppressed} suppressed finding(s) (see the JSON output)[/]")


def print_totals(
    results: list[TargetResult], console: Console, now: datetime | None = None
) -> None:
    """Counts per overall verdict, the evaluation instant, and a note on stale data."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.overall] = counts.get(result.overall, 0) + 1
    parts = [f"{counts[k]} {k}" for k in ("pass", "warn", "fail", "error") if counts.get(k)]
    console.print()
    when = f" (evaluated at {now.isoformat(timespec='seconds')})" if now else ""
    console.print(escape(f"{len(results)} target(s): " + ", ".join(parts) + when))
    note = stale_note(now.date()) if now else None
    if note:
        console.print(Text(note, "dim"))
