"""Console output of a mini-program check, grouped by API list, then by endpoint.

Readable at 80 columns.  Lint findings are always shown (they are few, and the
ICP reminder must never be hidden); info findings of the TLS scans need
``--verbose``, as in ``certcheck scan``.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
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
from certcheck.report.i18n import DEFAULT_LANG, Catalog, catalog
from certcheck.report.safetext import visible

#: timing phases: key of ``timings_ms``, key of the phase's name in ``[console]``
_PHASES = (
    ("dns", "mp_dns"),
    ("connect", "mp_connect"),
    ("tls", "mp_tls"),
    ("first_byte", "mp_first_byte"),
)


def _c(cat: Catalog, key: str, **values: Any) -> str:
    """A console string of ``[console]`` in ``cat``'s language."""
    text = cat.get("console", key)
    return text.format(**values) if values else text


def _native(cat: Catalog) -> bool:
    """Not English: then platform names, severities and titles are translated too."""
    return cat.lang != DEFAULT_LANG


def _platform(platform: str, cat: Catalog) -> str:
    return cat.get("platform", platform) if _native(cat) else HEADER[platform]


def _grid(findings: list, verbose: bool, cat: Catalog) -> Table:
    """The findings: English as before #14, else titles, evidence and fix translated."""
    if _native(cat):
        return findings_grid(findings, verbose, cat=cat)
    return findings_grid(findings, verbose, _evidence)


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


def _mark(state: str, cat: Catalog) -> Text:
    return Text(_c(cat, f"mark_{state}"), MARK[state][1])


def _verdict_table(report: MiniProgramReport, cat: Catalog) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column(_c(cat, "col_verdict"), no_wrap=True)
    for platform in VERDICT_PLATFORMS:
        table.add_column(_platform(platform, cat), no_wrap=True)
    _word, style = OVERALL[report.overall]
    marks = [_mark(report.verdicts.get(p, "unknown"), cat) for p in VERDICT_PLATFORMS]
    table.add_row(Text(_c(cat, report.overall), style), *marks)
    return table


def _entry_note(report: EntryReport, cat: Catalog) -> str:
    if not report.accepted or report.api not in TLS_APIS:
        return ""
    if report.ports == "any":
        return _c(cat, "mp_any_port", endpoints=_c(cat, "list_sep").join(report.endpoints))
    key = "mp_no_port" if report.entry.port is None else "mp_this_port"
    return _c(cat, key, endpoint=endpoint_label(report.entry))


def _print_group(group: LintGroup, console: Console, verbose: bool, cat: Catalog) -> None:
    if not group.entries and not group.requests and not group.findings:
        return
    console.print()
    count = len(group.entries) or len(group.requests)
    label = cat.get("mp_group", group.name, group.label) if _native(cat) else group.label
    title = Text(visible(label), "bold")
    if group.name not in (GENERAL_GROUP,):
        key = "mp_group_count" if count else "mp_group_name"
        title.append(_c(cat, key, name=group.name, n=count), "dim")
    console.print(title)
    rows = Table.grid(padding=(0, 1))
    rows.add_column(width=1)
    rows.add_column(no_wrap=True)
    rows.add_column(overflow="fold")
    for entry in group.entries:
        mark = (
            Text(_c(cat, "mp_ok"), "green")
            if entry.accepted
            else Text(_c(cat, "mp_rejected"), "red")
        )
        note = _entry_note(entry, cat)
        rows.add_row("", mark, Text(visible(f"{entry.entry.raw}  {note}".rstrip())))
    if group.name == REQUESTS_GROUP:
        for request in group.requests:
            mark = (
                Text(_c(cat, "mp_ok"), "green")
                if request.allowed_by
                else Text(_c(cat, "mp_fails"), "red")
            )
            apis = _c(cat, "list_sep").join(request.allowed_by)
            via = _c(cat, "mp_via", apis=apis) if request.allowed_by else ""
            rows.add_row("", mark, Text(visible(request.url + via)))
    if group.entries or group.requests:
        console.print(rows)
    # The ICP reminder is the point of the "general" group: never hidden.
    always = group.name == GENERAL_GROUP
    shown = [f for f in group.findings if verbose or always or f.severity != "info"]
    if shown:
        console.print(_grid(shown, verbose, cat))
    _print_hidden(len(group.findings) - len(shown), "hidden", console, cat)


def _print_hidden(count: int, key: str, console: Console, cat: Catalog) -> None:
    """``key``: ``hidden`` (lint info findings) or ``mp_hidden_tls`` (the TLS scan's)."""
    if count:
        console.print(Text("  " + _c(cat, key, n=count), "dim"))


def _timing(x: ExchangeResult, cat: Catalog) -> str:
    parts = [
        f"{_c(cat, label)} {x.timings_ms[key]:g}" for key, label in _PHASES if key in x.timings_ms
    ]
    total = x.timings_ms.get("total")
    text = " · ".join(parts)
    return _c(cat, "mp_timing", text=text, total=f"{total:g}") if total is not None else text


def _exchange_text(x: ExchangeResult, cat: Catalog) -> Text:
    line = Text(visible(x.url))
    if x.error is not None:
        line.append(visible(f"  {x.error.kind}: {x.error.message}"), "red")
    else:
        answer = f"  → {x.status} {x.reason}".rstrip()
        if x.kind == "http" and x.content_type:
            answer += f"  {x.content_type}"
        line.append(visible(answer))
    timing = _timing(x, cat)
    if timing:
        line.append(f"\n{timing}", "dim")
    return line


def _print_endpoint(
    result: EndpointResult, console: Console, verbose: bool, cat: Catalog
) -> None:
    console.print()
    _word, style = OVERALL[result.overall]
    word = _c(cat, result.overall)
    head = Text(word + " " * max(0, 5 - cell_len(word)) + " ", style)
    head.append(visible(result.endpoint.label), "bold")
    head.append(f"  {_c(cat, 'list_sep').join(result.endpoint.apis)}", "dim")
    console.print(head)
    tls = result.tls
    if not tls.facts.ok:
        assert tls.facts.error is not None
        text = _c(cat, "not_scanned", kind=tls.facts.error.message)
        console.print(Text(visible("  " + text), "magenta"))
        return
    line = Text("  TLS ")
    for platform in VERDICT_PLATFORMS:
        state = tls.verdicts.get(platform, "unknown")
        line.append(f" {_platform(platform, cat)} ")
        line.append(_c(cat, f"mark_{state}"), MARK[state][1])
    if tls.facts.negotiated_protocol:
        line.append(_c(cat, "mp_protocol", protocol=tls.facts.negotiated_protocol), "dim")
    console.print(line)
    if result.exchanges:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for exchange in result.exchanges:
            verb = "GET" if exchange.kind == "http" else "WSS"
            grid.add_row("", verb, _exchange_text(exchange, cat))
        console.print(grid)
    tls_shown = [f for f in tls.active_findings if verbose or f.severity != "info"]
    hidden = len(tls.active_findings) - len(tls_shown)
    shown = result.findings + tls_shown
    if shown:
        console.print(_grid(shown, verbose, cat))
    _print_hidden(hidden, "mp_hidden_tls", console, cat)


def print_report(
    report: MiniProgramReport,
    console: Console,
    verbose: bool = False,
    lang: str = DEFAULT_LANG,
) -> None:
    """The mini program's verdict, each API list's entries and findings, then each endpoint.

    ``lang`` (``--lang``) words it: the ``[console]`` strings of that language's catalog
    (English: the wording of before #14, unchanged)."""
    cat = catalog(lang)
    console.print(Text(visible(_c(cat, "mp_source", source=report.config.source)), "bold"))
    host_app = load_limits(report.config.host_app)
    name = cat.get("platform", host_app.host_app, host_app.name) if _native(cat) else None
    console.print(
        Text(_c(cat, "mp_host_app", name=name or host_app.name, id=host_app.host_app), "dim")
    )
    console.print(_verdict_table(report, cat))
    for group in report.lint.groups:
        _print_group(group, console, verbose, cat)
    if not report.endpoints_checked:
        console.print()
        console.print(Text(_c(cat, "mp_not_checked"), "dim"))
    elif report.endpoints:
        console.print()
        console.print(Text(_c(cat, "mp_endpoints"), "bold underline"))
    for result in report.endpoints:
        _print_endpoint(result, console, verbose, cat)
    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    summary = _c(cat, "list_sep").join(
        _c(cat, "mp_count", n=counts[k], severity=_c(cat, f"sev_{k}") if _native(cat) else k)
        for k in ("error", "warning", "info")
        if counts.get(k)
    )
    console.print()
    checked = (
        _c(cat, "mp_checked", n=len(report.endpoints))
        if report.endpoints_checked
        else _c(cat, "mp_lint_only")
    )
    console.print(
        _c(cat, "mp_summary", checked=checked, summary=summary or _c(cat, "none")), markup=False
    )
