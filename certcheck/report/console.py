"""Console summary: one row per target, then the findings grouped by target.

Readable at 80 columns; colour only when attached to a terminal (rich decides).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from certcheck.freshness import REFRESH_COMMAND, STALE_AFTER_DAYS, table_ages
from certcheck.model import PROTOCOLS, VERDICT_PLATFORMS, Finding, TargetResult
from certcheck.report.evidence import evidence_pairs, localized_evidence
from certcheck.report.headline import Outcome, phones
from certcheck.report.i18n import DEFAULT_LANG, Catalog, catalog
from certcheck.report.reasons import reason_text
from certcheck.report.safetext import visible

OVERALL = {
    "pass": ("PASS", "bold green"),
    "warn": ("WARN", "bold yellow"),
    "fail": ("FAIL", "bold red"),
    "error": ("ERROR", "bold magenta"),
}
MARK = {
    "pass": ("ok", "green"),
    "warn": ("warn", "yellow"),
    "fail": ("FAIL", "red"),
    "unknown": ("?", "dim"),
}
HEADER = {"ios": "iOS", "android": "Android", "android_legacy": "Old Android"}
SEV = {"error": ("error", "red"), "warning": ("warning", "yellow"), "info": ("info", "cyan")}


def _c(cat: Catalog | None, key: str, **values: Any) -> str:
    """A console string of ``[console]`` in ``cat``'s language (None: English)."""
    text = (cat or catalog()).get("console", key)
    return text.format(**values) if values else text


def _native(cat: Catalog | None) -> Catalog | None:
    """``cat`` unless it is English (then the console's own English words are used)."""
    return None if cat is None or cat.lang == DEFAULT_LANG else cat


def _expiry(result: TargetResult, cat: Catalog | None = None) -> str:
    if not result.facts.ok:
        assert result.facts.error is not None
        return _c(cat, "not_scanned", kind=result.facts.error.kind)
    if not result.certificate or "leaf" not in result.certificate:
        return ""
    days = result.certificate["leaf"]["days_left"]
    return _c(cat, "expired") if days < 0 else _c(cat, "days", n=days)


def summary_table(results: list[TargetResult], cat: Catalog | None = None) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column(_c(cat, "col_verdict"), no_wrap=True)
    table.add_column(_c(cat, "col_target"), overflow="fold")
    local = _native(cat)
    for platform in VERDICT_PLATFORMS:
        name = local.get("platform", platform) if local else HEADER[platform]
        table.add_column(name, no_wrap=True)
    table.add_column(_c(cat, "col_expires"), overflow="fold")
    for result in results:
        word, style = OVERALL[result.overall]
        word = _c(cat, result.overall)
        if result.facts.incomplete and result.overall in ("pass", "warn"):
            word, style = _c(cat, "partial"), "bold magenta"
        marks = []
        for p in VERDICT_PLATFORMS:
            state = result.verdicts.get(p, "unknown")
            marks.append(Text(_c(cat, f"mark_{state}"), MARK[state][1]))
        table.add_row(Text(word, style), result.facts.target.label, *marks, _expiry(result, cat))
    return table


def _evidence_text(evidence: dict[str, Any]) -> str:
    """Evidence as one short paragraph: a few list items, long values cut."""
    return "; ".join(f"{k}: {t}" for k, t in evidence_pairs(evidence, limit=4, max_chars=240))


def _localized_evidence_text(cat: Catalog) -> Callable[[dict[str, Any]], str]:
    """Evidence as :func:`_evidence_text`, with labels and wording in ``cat``'s language."""

    def text(evidence: dict[str, Any]) -> str:
        shown = localized_evidence(evidence, cat)
        pairs = evidence_pairs(shown, limit=4, max_chars=240, more=cat.ui("list_more"))
        return "; ".join(cat.ui("kv", label=cat.evidence_label(k), value=t) for k, t in pairs)

    return text


def findings_grid(
    findings: list[Finding],
    verbose: bool,
    evidence_text: Callable[[dict[str, Any]], str] = _evidence_text,
    cat: Catalog | None = None,
) -> Table:
    """Severity, rule id and title, then the evidence (and fix, when verbose), indented.

    ``cat`` (a language other than English) translates the title, evidence and fix."""
    if cat is not None and cat.lang == DEFAULT_LANG:
        cat = None
    if cat is not None and evidence_text is _evidence_text:
        evidence_text = _localized_evidence_text(cat)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for finding in findings:
        word, style = SEV[finding.severity]
        word = _c(cat, f"sev_{finding.severity}")
        title = finding.title
        fix, fix_label = finding.fix, "fix: "
        if cat is not None:
            title = cat.rule_title(finding.rule_id, finding.title) or finding.title
            fix, fix_label = cat.fix(finding.rule_id, finding.fix), _c(cat, "fix")
        body = Text(visible(f"{finding.rule_id}: {title}"))
        evidence = evidence_text(finding.evidence)
        if evidence:
            body.append("\n" + visible(evidence), "dim")
        if verbose and fix:
            body.append("\n" + fix_label + visible(fix))
        grid.add_row("", Text(word, style), body)
    return grid


_SIM_MARK = {True: ("ok", "green"), False: ("FAIL", "red"), None: ("?", "dim")}


def protocol_lines(result: TargetResult, cat: Catalog | None = None) -> list[str]:
    """Accepted protocol versions and, per version, the accepted cipher suites."""
    facts = result.facts
    if not facts.protocols:
        return []
    marks = {True: _c(cat, "yes"), False: _c(cat, "no"), None: "?"}
    seen = [f"{v} {marks[ok]}" for v, ok in facts.protocols.items()]
    if facts.sslv2 is not None:
        seen.insert(0, f"SSLv2 {marks[facts.sslv2]}")
    lines = [_c(cat, "protocols") + ", ".join(seen)]
    for version in PROTOCOLS:
        suites = facts.cipher_suites.get(version)
        if suites is None:
            continue
        order = _c(cat, "server_order") if facts.server_cipher_order.get(version) else ""
        groups = facts.groups.get(version)
        extra = _c(cat, "groups", groups=", ".join(groups)) if groups else ""
        lines.append(f"{version}{order}: {', '.join(suites) or _c(cat, 'none')}{extra}")
    return lines


def _common_root(entries: list[dict[str, Any]]) -> str | None:
    roots = [e.get("root") for e in entries if e.get("trust") == "ok" and e.get("root")]
    return max(sorted(set(roots)), key=roots.count) if roots else None


def simulation_table(entries: list[dict[str, Any]], cat: Catalog | None = None) -> Table:
    """One row per simulated client: result, protocol, suite and group, trust, reason."""
    common = _common_root(entries)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column(_c(cat, "sim_client"), overflow="fold")
    table.add_column("", no_wrap=True)
    table.add_column(_c(cat, "sim_protocol"), no_wrap=True)
    table.add_column(_c(cat, "sim_cipher"), overflow="fold")
    table.add_column(_c(cat, "sim_trust"), overflow="fold")
    table.add_column(_c(cat, "sim_reason"), overflow="fold")
    for entry in entries:
        cipher = (entry.get("cipher") or "").removeprefix("TLS_")
        if entry.get("group"):
            cipher += f" / {entry['group']}"
        trust = str(entry.get("trust") or "?")
        ok_root = trust == "ok" and entry.get("root") and entry.get("root") != common
        local = _native(cat)
        if local is not None:
            trust = local.get("sim_trust", trust)
        if ok_root:
            trust += f": {entry['root']}"
        table.add_row(
            str(entry.get("name") or entry.get("client") or "?"),
            _sim_mark(entry.get("ok"), cat),
            entry.get("protocol") or "-",
            cipher or "-",
            trust,
            _reason(entry, cat),
        )
    return table


def _sim_mark(ok: Any, cat: Catalog | None) -> Text:
    word, style = _SIM_MARK.get(ok, ("?", "dim"))
    key = {True: "mark_pass", False: "mark_fail"}.get(ok) if isinstance(ok, bool) else None
    return Text(_c(cat, key) if key and _native(cat) else word, style)


def _reason(entry: dict[str, Any], cat: Catalog | None) -> str:
    reason = str(entry.get("reason") or "")
    if cat is None or not reason:
        return reason
    code = entry.get("reason_code")
    return reason_text(reason, cat, code if isinstance(code, str) else None)


def _print_clients(result: TargetResult, console: Console, cat: Catalog | None = None) -> None:
    for line in protocol_lines(result, cat):
        console.print(Text("  " + visible(line), "dim"))
    entries = result.simulation or []
    if not entries:
        return
    failing = sum(1 for e in entries if e.get("ok") is False)
    unknown = sum(1 for e in entries if e.get("ok") is None)
    summary = "  " + _c(cat, "sim_summary", failing=failing, total=len(entries))
    if unknown:
        summary += _c(cat, "sim_unknown", n=unknown)
    console.print(Text(summary, "bold"))
    common = _common_root(entries)
    if common:
        from_file = any(
            e.get("root") == common and e.get("root_source") == "ca-file" for e in entries
        )
        note = _c(cat, "from_ca_file") if from_file else ""
        console.print(Text("  " + _c(cat, "trusted_root", root=visible(common)) + note, "dim"))
    ats = ats_line(entries, cat)
    if ats:
        console.print(Text("  " + visible(ats), "bold"))
    console.print(Text("  " + _c(cat, "dates_note"), "dim"))
    console.print(simulation_table(entries, cat))


def ats_line(entries: list[dict[str, Any]], cat: Catalog | None = None) -> str | None:
    """The Apple ATS verdict: the newest ATS profile, and any older one that fails."""
    ats = [e for e in entries if e.get("ats")]
    if not ats:
        return None
    newest = ats[-1]
    word = _c(cat, {True: "ats_pass", False: "ats_fail", None: "ats_unknown"}[newest.get("ok")])
    if newest.get("ok"):
        detail = f"{newest.get('protocol')}, {newest.get('cipher')}"
    else:
        detail = _reason(newest, cat)
    line = _c(cat, "ats", name=newest.get("name"), word=word) + (f" ({detail})" if detail else "")
    older = [e for e in ats[:-1] if e.get("ok") is False]
    if older and newest.get("ok") is not False:
        line += _c(cat, "ats_older") + ", ".join(
            f"{e.get('name')}: {_reason(e, cat)}" for e in older
        )
    return line


def print_results(
    results: list[TargetResult],
    console: Console,
    verbose: bool = False,
    clients: bool = False,
    lang: str = DEFAULT_LANG,
) -> None:
    """The summary table, then details for every target with something to say.

    ``lang`` (``--lang``) gives the findings' titles, evidence, fix advice and the
    simulation reasons in that language (the table headings stay English).

    ``clients`` (and ``verbose``) add the accepted protocols and suites and the
    per-client handshake simulation of every scanned target.
    """
    cat = catalog(lang)
    console.print(summary_table(results, cat))
    for result in results:
        active = result.active_findings
        shown = [f for f in active if verbose or f.severity != "info"]
        hidden = len(active) - len(shown)
        suppressed = len(result.findings) - len(active)
        show_clients = (clients or verbose) and result.facts.ok
        quiet = not shown and not hidden and not suppressed and not show_clients
        if result.facts.ok and quiet and not result.facts.incomplete:
            continue
        console.print()
        console.print(Text(visible(result.facts.target.label), "bold"))
        if not result.facts.ok:
            assert result.facts.error is not None
            console.print(Text("  " + visible(result.facts.error.message)))
            continue
        if result.facts.incomplete:
            steps = ", ".join(result.facts.incomplete)
            console.print(Text("  " + _c(cat, "incomplete", steps=visible(steps)), "magenta"))
        console.print(findings_grid(shown, verbose, cat=cat))
        if hidden:
            console.print(Text("  " + _c(cat, "hidden", n=hidden), "dim"))
        if suppressed:
            note = "  " + _c(cat, "suppressed", n=suppressed)
            console.print(Text(note, "dim"))
        if show_clients:
            _print_clients(result, console, cat)


def phones_line(results: list[TargetResult], cat: Catalog | None = None) -> str | None:
    """The headline a reader wants when the overall counts look worse than they are: do
    current phones connect, and is it only old Android that fails?  None when every
    scanned target passes, or none was scanned."""
    counts = phones([Outcome(r.facts.ok, r.overall, r.verdicts) for r in results])
    if counts is None or counts.all_pass:
        return None
    line = _c(cat, "phones", current=counts.current, scanned=counts.scanned)
    if counts.old_only:
        line += _c(cat, "phones_old", n=counts.old_only)
    return line


def stale_line(today: date, cat: Catalog | None = None) -> str | None:
    """:func:`certcheck.freshness.stale_note` in ``cat``'s language (None: English)."""
    ages = [
        t for t in table_ages(today)
        if t.changes_verdicts and t.age_days is not None and t.age_days > STALE_AFTER_DAYS
    ]
    if not ages:
        return None
    oldest = max(ages, key=lambda t: t.age_days or 0)
    if any(t.refreshable for t in ages):
        advice = _c(cat, "stale_refresh", command=REFRESH_COMMAND)
    else:
        advice = _c(cat, "stale_upgrade")
    snapshot = oldest.snapshot.isoformat() if oldest.snapshot else "?"
    return _c(
        cat, "stale", n=len(ages), limit=STALE_AFTER_DAYS, file=oldest.file,
        snapshot=snapshot, age=oldest.age_days, advice=advice,
    )


def print_totals(
    results: list[TargetResult],
    console: Console,
    now: datetime | None = None,
    lang: str = DEFAULT_LANG,
) -> None:
    """Counts per overall verdict, the evaluation instant, and a note on stale data."""
    cat = catalog(lang)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.overall] = counts.get(result.overall, 0) + 1
    parts = [
        _c(cat, f"total_{k}", n=counts[k])
        for k in ("pass", "warn", "fail", "error")
        if counts.get(k)
    ]
    console.print()
    when = _c(cat, "evaluated_at", when=now.isoformat(timespec="seconds")) if now else ""
    console.print(Text(_c(cat, "totals", n=len(results)) + ", ".join(parts) + when))
    phones = phones_line(results, cat)
    if phones:
        console.print(Text(phones, "bold"))
    note = stale_line(now.date(), cat) if now else None
    if note:
        console.print(Text(note, "dim"))
