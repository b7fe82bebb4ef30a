"""Console output of a mini-program check, grouped by API list, then by endpoint.

Readable at 80 columns.  Lint findings are always shown (they are few, and the
ICP reminder must never be hidden); info findings of the TLS scans need
``--verbose``, as in ``certcheck scan``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from certcheck.miniprogram.limits import load_limits
from certcheck.miniprogram.lint import (
    GENERAL_GROUP,
    REQUESTS_GROUP,
    TLS_APIS,
    EntryReport,
    LintGroup,
    endpoint_label,
)
from certcheck.miniprogram.results import EndpointResult, ExchangeResult, MiniProgramReport
from certcheck.model import VERDICT_PLATFORMS
from certcheck.report.console import HEADER, MARK, OVERALL, findings_grid
from certcheck.report.safetext import visible

_PHASES = (("dns", "dns"), ("connect", "connect"), ("tls", "tls"), ("first_byte", "first byte"))


def _evidence(evidence: dict[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        if value in (None, [], ""):
            continue
        if isinstance(value, list):
            shown = ", ".join(str(v) for v in value[:4])
            value = shown + (f", … (+{len(value) - 4})" if len(value) > 4 else "")
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _verdict_table(report: MiniProgramReport) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("Verdict", no_wrap=True)
    for platform in VERDICT_PLATFORMS:
        table.add_column(HEADER[platform], no_wrap=True)
    word, style = OVERALL[report.overall]
    marks = [Text(*MARK[report.verdicts.get(p, "unknown")]) for p in VERDICT_PLATFORMS]
    table.add_row(Text(word, style), *marks)
    return table


def _entry_note(report: EntryReport) -> str:
    if not report.accepted or report.api not in TLS_APIS:
        return ""
    if report.ports == "any":
        return f"→ {', '.join(report.endpoints)} (URLs may use any port)"
    binding = "URLs without a port" if report.entry.port is None else "this port only"
    return f"→ {endpoint_label(report.entry)} ({binding})"


def _print_group(group: LintGroup, console: Console, verbose: bool) -> None:
    if not group.entries and not group.requests and not group.findings:
        return
    console.print()
    count = len(group.entries) or len(group.requests)
    suffix = f", {count}" if count else ""
    title = Text(visible(group.label), "bold")
    if group.name not in (GENERAL_GROUP,):
        title.append(f"  ({group.name}{suffix})", "dim")
    console.print(title)
    rows = Table.grid(padding=(0, 1))
    rows.add_column(width=1)
    rows.add_column(no_wrap=True)
    rows.add_column(overflow="fold")
    for entry in group.entries:
        mark = Text("ok", "green") if entry.accepted else Text("rejected", "red")
        rows.add_row("", mark, Text(visible(f"{entry.entry.raw}  {_entry_note(entry)}".rstrip())))
    if group.name == REQUESTS_GROUP:
        for request in group.requests:
            mark = Text("ok", "green") if request.allowed_by else Text("fails", "red")
            via = f"  ({', '.join(request.allowed_by)})" if request.allowed_by else ""
            rows.add_row("", mark, Text(visible(request.url + via)))
    if group.entries or group.requests:
        console.print(rows)
    # The ICP reminder is the point of the "general" group: never hidden.
    always = group.name == GENERAL_GROUP
    shown = [f for f in group.findings if verbose or always or f.severity != "info"]
    if shown:
        console.print(findings_grid(shown, verbose, _evidence))
    _print_hidden(len(group.findings) - len(shown), "", console)


def _print_hidden(count: int, what: str, console: Console) -> None:
    if count:
        console.print(Text(f"  +{count} {what}info finding(s): --verbose shows them", "dim"))


def _timing(x: ExchangeResult) -> str:
    parts = [f"{label} {x.timings_ms[key]:g}" for key, label in _PHASES if key in x.timings_ms]
    total = x.timings_ms.get("total")
    text = " · ".join(parts)
    return f"{text} = {total:g} ms" if total is not None else text


def _exchange_text(x: ExchangeResult) -> Text:
    line = Text(visible(x.url))
    if x.error is not None:
        line.append(visible(f"  {x.error.kind}: {x.error.message}"), "red")
    else:
        answer = f"  → {x.status} {x.reason}".rstrip()
        if x.kind == "http" and x.content_type:
            answer += f"  {x.content_type}"
        line.append(visible(answer))
    timing = _timing(x)
    if timing:
        line.append(f"\n{timing}", "dim")
    return line


def _print_endpoint(result: EndpointResult, console: Console, verbose: bool) -> None:
    console.print()
    word, style = OVERALL[result.overall]
    head = Text(f"{word:5} ", style)
    head.append(visible(result.endpoint.label), "bold")
    head.append(f"  {', '.join(result.endpoint.apis)}", "dim")
    console.print(head)
    tls = result.tls
    if not tls.facts.ok:
        assert tls.facts.error is not None
        console.print(Text(visible(f"  not scanned: {tls.facts.error.message}"), "magenta"))
        return
    line = Text("  TLS ")
    for platform in VERDICT_PLATFORMS:
        mark, mark_style = MARK[tls.verdicts.get(platform, "unknown")]
        line.append(f" {HEADER[platform]} ")
        line.append(mark, mark_style)
    if tls.facts.negotiated_protocol:
        line.append(f"  ({tls.facts.negotiated_protocol})", "dim")
    console.print(line)
    if result.exchanges:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for exchange in result.exchanges:
            verb = "GET" if exchange.kind == "http" else "WSS"
            grid.add_row("", verb, _exchange_text(exchange))
        console.print(grid)
    tls_shown = [f for f in tls.active_findings if verbose or f.severity != "info"]
    hidden = len(tls.active_findings) - len(tls_shown)
    shown = result.findings + tls_shown
    if shown:
        console.print(findings_grid(shown, verbose, _evidence))
    _print_hidden(hidden, "TLS ", console)


def print_report(report: MiniProgramReport, console: Console, verbose: bool = False) -> None:
    """The mini program's verdict, each API list's entries and findings, then each endpoint."""
    console.print(Text(visible(f"Mini program domains: {report.config.source}"), "bold"))
    host_app = load_limits(report.config.host_app)
    console.print(Text(f"Host app: {host_app.name} ({host_app.host_app})", "dim"))
    console.print(_verdict_table(report))
    for group in report.lint.groups:
        _print_group(group, console, verbose)
    if not report.endpoints_checked:
        console.print()
        console.print(Text("Endpoints not checked (--no-endpoints).", "dim"))
    elif report.endpoints:
        console.print()
        console.print(Text("Endpoints", "bold underline"))
    for result in report.endpoints:
        _print_endpoint(result, console, verbose)
    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    summary = ", ".join(f"{counts[k]} {k}" for k in ("error", "warning", "info") if counts.get(k))
    console.print()
    checked = f"{len(report.endpoints)} endpoint(s)" if report.endpoints_checked else "lint only"
    console.print(f"{checked}; findings: {summary or 'none'}", markup=False)
