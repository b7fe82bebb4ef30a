"""``--html FILE``: the audit report, one self-contained HTML file.

It is rendered only from the JSON results document (a scan's ``--json`` or a
saved file), never from live objects: ``certcheck report results.json --html``
gives the same page as the scan did.  This module turns the document into a
plain view model (tolerant of missing optional keys: other features add data
over time); the jinja2 templates in ``templates/`` only lay it out, with
autoescaping on, because every certificate field is attacker-controlled.

The page loads nothing: CSS and the small sort/filter script are inline, and a
Content-Security-Policy allows only that script (by hash) and inline styles.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup

from certcheck.model import PROTOCOLS, VERDICT_PLATFORMS
from certcheck.report.chrome import (
    MARKS,
    SAN_SHOWN,
    as_dict,
    as_int,
    as_list,
    as_str,
    colon_hex,
    common_name,
    data_age_note,
    environment,
    parse_when,
    show_time,
    template_source,
    verdict_state,
)
from certcheck.report.evidence import (
    LIST_LIMIT,
    MORE,
    evidence_pairs,
    localized_evidence,
    severity_rank,
    target_label,
    target_url,
    value_text,
    xml_safe,
)
from certcheck.report.headline import Outcome, phones, worst_overall
from certcheck.report.i18n import Catalog, catalog
from certcheck.report.reasons import reason_text

#: the expiry timeline looks this many days ahead of the scan
TIMELINE_DAYS = 90
#: certificates drawn one per row in the timeline (the histogram counts them all)
TIMELINE_ROWS = 30
#: at most this many targets have their detail sections open by default
OPEN_DETAILS_UP_TO = 20
#: large reports: evidence lists and texts are cut to this (the JSON keeps them whole)
COMPACT_LIST, COMPACT_CHARS = 3, 160

_VERDICT_RANK = {"pass": 0, "warn": 1, "unknown": 2, "error": 2, "fail": 3}
_OVERALL_RANK = {"pass": 0, "warn": 1, "error": 2, "fail": 3}


# -- view model ---------------------------------------------------------------------------------


@dataclass
class CertView:
    role: str  # leaf | intermediate | root
    cn: str
    subject: str
    issuer: str
    key: str
    signature: str
    serial: str
    sha256: str
    not_before: str
    not_after: str
    days_left: int | None
    state: str  # ok | soon | crit | expired | future
    elapsed_pct: float | None
    status_text: str
    sans: list[str]
    on_path: bool
    digest: str = ""
    #: id of the full card in the appendix of shared CA certificates (large reports)
    shared_id: str | None = None


@dataclass
class FindingView:
    rule_id: str
    severity: str
    severity_text: str
    title: str
    title_en: str | None
    platforms: list[str]
    breaks: list[str]
    #: (key, text, items): a list value with several entries comes as items, one per line
    evidence: list[tuple[str, str, list[str]]]
    fix: str
    suppressed: bool
    suppressed_reason: str


@dataclass
class TargetView:
    index: int
    anchor: str
    label: str
    url: str
    via: str
    overall: str
    verdicts: list[tuple[str, str, str]]  # (platform, state, platform name)
    days_left: int | None
    expires_text: str
    expires_class: str
    worst: FindingView | None
    more_findings: int
    error: tuple[str, str] | None
    search: str
    findings: list[FindingView] = field(default_factory=list)
    chain: list[CertView] = field(default_factory=list)
    anchor_subject: str | None = None
    anchor_source: str | None = None
    trusted: bool | None = None
    webpki_error: str | None = None
    parse_errors: list[str] = field(default_factory=list)
    protocols: list[tuple[str, str, str, str]] = field(default_factory=list)
    suites: list[dict[str, Any]] = field(default_factory=list)
    connection: list[tuple[str, str]] = field(default_factory=list)
    simulation: dict[str, Any] | None = None
    from_file: bool = False
    #: ids of the shared copy of this target's cipher table / simulation (large reports)
    suites_ref: str | None = None
    simulation_ref: str | None = None

    def sort_keys(self, overall_rank: dict[str, int], verdict_rank: dict[str, int]) -> str:
        """Numbers the summary sorts by: overall, one per platform, days left, worst finding."""
        keys = [overall_rank.get(self.overall, 2)]
        keys += [verdict_rank.get(state, 2) for _p, state, _n in self.verdicts[:3]]
        keys += [999999 if self.days_left is None else self.days_left, self.sort_worst]
        return " ".join(map(str, keys))

    @property
    def sort_worst(self) -> int:
        """Sort key of the worst finding: 4 not scanned, 3 error … 1 info, 0 none."""
        if self.error:
            return 4
        return severity_rank(self.worst.severity) + 1 if self.worst else 0


def _expiry(days: int | None) -> str:
    if days is None:
        return "none"
    if days < 0:
        return "expired"
    if days <= 7:
        return "crit"
    if days <= 30:
        return "soon"
    return "ok"


def _cert_view(
    cert: dict[str, Any], role: str, on_path: bool, now: datetime | None, cat: Catalog
) -> CertView:
    days = as_int(cert.get("days_left"))
    start, end = parse_when(cert.get("not_before")), parse_when(cert.get("not_after"))
    elapsed: float | None = None
    state = _expiry(days)
    if start and end and now:
        span = (end - start).total_seconds() or 1.0
        elapsed = max(0.0, min(100.0, (now - start).total_seconds() / span * 100))
        if now < start:
            state = "future"
    if state == "future":
        status = cat.ui("not_yet_valid")
    elif days is None:
        status = ""
    elif days < 0:
        status = cat.ui("expired_days", n=-days)
    else:
        status = cat.ui("days_left", n=days)
    sans = [str(s) for s in as_list(cert.get("san")) + as_list(cert.get("san_ip"))]
    subject = as_str(cert.get("subject"))
    return CertView(
        role=role,
        cn=common_name(subject),
        subject=subject,
        issuer=as_str(cert.get("issuer")),
        key=as_str(cert.get("key"), "—"),
        signature=as_str(cert.get("signature_hash"), "—"),
        serial=as_str(cert.get("serial"), "—"),
        sha256=colon_hex(as_str(cert.get("sha256"))),
        not_before=show_time(cert.get("not_before"), with_time=False),
        not_after=show_time(cert.get("not_after"), with_time=False),
        days_left=days,
        state=state,
        elapsed_pct=None if elapsed is None else round(elapsed, 1),
        status_text=status,
        sans=sans,
        on_path=on_path,
        digest=as_str(cert.get("sha256")).lower(),
    )


def _evidence(
    evidence: Any, compact: bool, cat: Catalog | None = None
) -> list[tuple[str, str, list[str]]]:
    """(label, text, items) per evidence entry; labels and wording in ``cat``'s language."""
    if cat is not None:
        evidence = localized_evidence(evidence, cat)
    label = cat.evidence_label if cat is not None else str
    limit = COMPACT_LIST if compact else LIST_LIMIT
    max_chars = COMPACT_CHARS if compact else None
    rows: list[tuple[str, str, list[str]]] = []
    more = cat.ui("list_more") if cat is not None else MORE
    for key, text in evidence_pairs(evidence, limit=limit, max_chars=max_chars, more=more):
        value = evidence.get(key) if isinstance(evidence, dict) else None
        if isinstance(value, list) and len(value) > 1 and not compact:
            items = [value_text(v, limit, more) for v in value[:limit]]
            if len(value) > limit:
                items.append(f"… (+{len(value) - limit})")
            rows.append((label(key), "", items))
        else:
            rows.append((label(key), text, []))
    return rows


def finding_view(finding: dict[str, Any], cat: Catalog, compact: bool = False) -> FindingView:
    rule_id = as_str(finding.get("rule_id"), "?")
    severity = as_str(finding.get("severity"), "info")
    english = as_str(finding.get("title"), rule_id)
    translated = cat.rule_title(rule_id, english)
    return FindingView(
        rule_id=rule_id,
        severity=severity,
        severity_text=cat.get("severity", severity),
        title=translated or english,
        title_en=english if translated else None,
        platforms=[cat.get("platform", str(p)) for p in as_list(finding.get("platforms"))],
        breaks=[cat.get("platform", str(p)) for p in as_list(finding.get("breaks"))],
        evidence=_evidence(finding.get("evidence"), compact, cat),
        fix=cat.fix(rule_id, as_str(finding.get("fix"))),
        suppressed=bool(finding.get("suppressed")),
        suppressed_reason=as_str(finding.get("suppressed_reason")),
    )


def _protocol_rows(facts: dict[str, Any], cat: Catalog) -> list[tuple[str, str, str, str]]:
    """(name, state, css tone, error text) for SSLv2 … TLS 1.3 when the probe asked."""
    protocols = as_dict(facts.get("protocols"))
    errors = as_dict(facts.get("protocol_errors"))
    if not protocols and facts.get("sslv2") is None:
        return []
    rows = []
    # SSLv2 is listed only when the probe asked about it
    values: dict[str, Any] = {} if facts.get("sslv2") is None else {"SSLv2": facts["sslv2"]}
    values.update(protocols)
    order = ["SSLv2", *PROTOCOLS] + sorted(k for k in protocols if k not in PROTOCOLS)
    for name in order:
        if name not in values:
            continue
        value = values[name]
        state = "accepted" if value is True else "refused" if value is False else "unknown"
        if state == "accepted":
            tone = (
                "bad"
                if name.startswith("SSL")
                else "legacy"
                if name in ("TLSv1.0", "TLSv1.1")
                else "good"
            )
        elif state == "refused":
            tone = "bad" if name == "TLSv1.2" else "neutral"
        else:
            tone = "neutral"
        rows.append((name, cat.get("protocol_state", state), tone, as_str(errors.get(name))))
    return rows


def _suite_rows(facts: dict[str, Any], cat: Catalog) -> list[dict[str, Any]]:
    suites = as_dict(facts.get("cipher_suites"))
    groups = as_dict(facts.get("groups"))
    order = as_dict(facts.get("server_cipher_order"))
    versions = [v for v in reversed(PROTOCOLS) if v in suites or v in groups]
    versions += sorted(v for v in set(suites) | set(groups) if v not in versions)
    rows = []
    for version in versions:
        server_order = order.get(version)
        rows.append(
            {
                "version": version,
                "suites": [str(s) for s in as_list(suites.get(version))],
                "groups": [str(g) for g in as_list(groups.get(version))],
                "order": "—" if server_order is None else cat.ui("yes" if server_order else "no"),
            }
        )
    return rows


def _connection(
    facts: dict[str, Any], cat: Catalog, compact: bool = False
) -> list[tuple[str, str]]:
    rows = []
    negotiated = " · ".join(
        str(v) for v in (facts.get("negotiated_protocol"), facts.get("negotiated_cipher")) if v
    )
    if negotiated:
        rows.append((cat.ui("negotiated"), negotiated))
    if facts.get("address") and facts.get("address") != as_dict(facts.get("target")).get(
        "connect_addr"
    ):
        rows.append((cat.ui("address"), as_str(facts.get("address"))))
    if facts.get("alpn"):
        rows.append((cat.ui("alpn"), as_str(facts.get("alpn"))))
    if facts.get("source", "scan") != "file" and "ocsp_staple" in facts:
        rows.append((cat.ui("ocsp_staple"), cat.ui("yes" if facts.get("ocsp_staple") else "no")))
    timings = as_dict(facts.get("timings_ms"))
    if timings and not compact:
        shown = ", ".join(
            f"{k} {v:.0f} ms" for k, v in timings.items() if isinstance(v, int | float)
        )
        rows.append((cat.ui("timings"), shown))
    return rows


#: simulation columns, in this order, when present; every other key goes in a last column
_SIM_COLUMNS = ("name", "client", "platform", "ok", "protocol", "cipher", "group", "reason")


def _sim_cell(key: str, value: Any, cat: Catalog) -> tuple[str, str]:
    if key == "ok" and isinstance(value, bool):
        return cat.ui("sim_ok" if value else "sim_fail"), "pass" if value else "fail"
    if key == "platform" and value is not None:
        return cat.get("platform", str(value)), ""
    if key == "reason" and isinstance(value, str):
        return reason_text(value, cat), ""
    if isinstance(value, list | dict):
        return value_text(value), ""
    return ("—" if value in (None, "") else str(value)), ""


def _sim_more(key: str, value: Any, cat: Catalog) -> str:
    """``label: value`` of a simulation key beyond the columns, in ``cat``'s language."""
    if key == "trust" and isinstance(value, str):
        shown = cat.get("sim_trust", value)
    elif key == "root_source" and isinstance(value, str) and cat.lang != "en":
        shown = cat.get("anchor_source", "system" if value == "store" else value)
    else:
        shown = value_text(localized_evidence(value, cat))
    return cat.ui("kv", label=cat.get("sim_column", key, key), value=shown)


#: clients with the same outcome share one row of the simulation table
_GROUP_BY = ("ok", "protocol", "cipher", "group", "reason")
#: client names written out in a grouped row before "+N more"
GROUP_NAMES_SHOWN = 6


def _sim_tone(ok: Any) -> str:
    return "pass" if ok is True else "fail" if ok is False else "unknown"


def _simulation(entries: Any, cat: Catalog) -> dict[str, Any] | None:
    """Client simulation, rendered generically: any keys, identical outcomes grouped.

    Clients with the same ``ok``/protocol/cipher/group/reason share one row naming
    them all; clients that fail (or are unknown) for the same ``reason_code`` share one
    too, though the reason's wording names each client's store (the first wording is
    shown, the others behind "+N").  Failing groups come first, then unknown ones, then
    those that connect (the page shows only the first two unless asked).  ``client``
    (an id) is left out when a readable ``name`` is there; a column whose values differ
    in a group lists the distinct ones; keys beyond :data:`_SIM_COLUMNS` go in a last
    column as ``key: value`` when every client of the group has the same value.
    """
    rows_in = [e for e in as_list(entries) if isinstance(e, dict)]
    if not rows_in:
        return None
    keys = [k for k in _SIM_COLUMNS if any(e.get(k) not in (None, "") for e in rows_in)]
    if "name" in keys and "client" in keys:
        keys.remove("client")
    keys = [k for k in keys if k not in ("name", "client")]
    rest: list[str] = []
    for entry in rows_in:
        rest += [k for k in entry if k not in _SIM_COLUMNS and k not in rest]
    buckets: dict[str, list[dict[str, Any]]] = {}
    for entry in rows_in:
        code = entry.get("reason_code")
        if entry.get("ok") is not True and isinstance(code, str) and code:
            bucket: list[Any] = ["code", entry.get("ok"), code]
        else:
            bucket = [entry.get(k) for k in _GROUP_BY]
        buckets.setdefault(json.dumps(bucket, default=str), []).append(entry)
    order = {"fail": 0, "unknown": 1, "pass": 2}
    ranked: list[tuple[tuple[int, int, int], dict[str, Any]]] = []
    for position, members in enumerate(buckets.values()):
        first = members[0]
        cells: list[tuple[str, str, list[str]]] = []
        for key in keys:
            values = list(dict.fromkeys(_sim_cell(key, m.get(key), cat) for m in members))
            if key == "reason" and len(values) > 1:
                cells.append((values[0][0], values[0][1], [text for text, _t in values[1:]]))
            else:
                cells.append((", ".join(text for text, _t in values), values[0][1], []))
        if rest:
            same = [
                k
                for k in rest
                if first.get(k) not in (None, "") and all(m.get(k) == first.get(k) for m in members)
            ]
            other = "; ".join(_sim_more(k, first[k], cat) for k in same)
            cells.append((other or "—", "", []))
        tone = _sim_tone(first.get("ok"))
        names = [as_str(m.get("name") or m.get("client"), "?") for m in members]
        group = {
            "names": names[:GROUP_NAMES_SHOWN],
            "more_names": names[GROUP_NAMES_SHOWN:],
            "count": len(members),
            "cells": cells,
            "tone": tone,
        }
        ranked.append(((order[tone], -len(members), position), group))
    groups = [group for _rank, group in sorted(ranked, key=lambda r: r[0])]
    shown = [g for g in groups if g["tone"] != "pass"]
    hidden = [g for g in groups if g["tone"] == "pass"]
    columns = [cat.ui("sim_clients")] + [cat.get("sim_column", k, k) for k in keys]
    columns += [cat.ui("sim_more")] if rest else []
    passing = sum(g["count"] for g in hidden)
    return {
        "columns": columns,
        "shown": shown,
        "hidden": hidden,
        "total": len(rows_in),
        "hidden_clients": passing,
        "summary": cat.ui("sim_summary", ok=passing, total=len(rows_in)),
    }


def target_view(
    index: int,
    result: dict[str, Any],
    now: datetime | None,
    cat: Catalog,
    compact: bool = False,
    memo: dict[str, Any] | None = None,
) -> TargetView:
    facts = as_dict(result.get("facts"))
    target = as_dict(result.get("target")) or as_dict(facts.get("target"))
    label = target_label(target)
    overall = as_str(result.get("overall"), "error")
    verdict_map = as_dict(result.get("verdicts"))
    platforms = list(VERDICT_PLATFORMS) + sorted(
        k for k in verdict_map if k not in VERDICT_PLATFORMS
    )
    verdicts = [(p, verdict_state(verdict_map.get(p)), cat.get("platform", p)) for p in platforms]
    certificate = as_dict(result.get("certificate"))
    leaf = as_dict(certificate.get("leaf"))
    days = as_int(leaf.get("days_left"))
    if days is None:
        expires_text = "—"
    elif days < 0:
        expires_text = cat.ui("expired_ago", n=-days)
    else:
        expires_text = cat.ui("days", n=days)
    findings = [
        finding_view(f, cat, compact)
        for f in as_list(result.get("findings"))
        if isinstance(f, dict)
    ]
    findings.sort(key=lambda f: (f.suppressed, -severity_rank(f.severity), f.rule_id))
    active = [f for f in findings if not f.suppressed]
    error = None
    if result.get("status") == "error" or facts.get("error"):
        err = as_dict(facts.get("error"))
        error = (as_str(err.get("kind"), "error"), as_str(err.get("message")))
    via = as_str(target.get("connect_addr"))
    original = as_str(target.get("original"))
    # the script also searches the row's text and the rule ids of the target's findings
    search = " ".join(
        [original if original != label else "", overall] + ([error[0]] if error else [])
    ).lower()
    view = TargetView(
        index=index,
        anchor=f"t-{index}",
        label=label,
        url=target_url(target),
        via=via,
        overall=overall,
        verdicts=verdicts,
        days_left=days,
        expires_text=expires_text,
        expires_class=_expiry(days),
        worst=active[0] if active else None,
        more_findings=max(0, len(active) - 1),
        error=error,
        search=search,
        findings=findings,
    )
    path = [str(p) for p in as_list(certificate.get("path"))]
    served = [c for c in as_list(certificate.get("chain")) if isinstance(c, dict)]
    if not served and leaf:
        served = [leaf]
    for position, cert in enumerate(served):
        role = "leaf" if position == 0 else "root" if cert.get("self_signed") else "intermediate"
        on_path = not path or as_str(cert.get("subject")) in path
        view.chain.append(_cert_view(cert, role, on_path, now, cat))
    anchor = certificate.get("anchor")
    if isinstance(anchor, str) and anchor not in {c.subject for c in view.chain}:
        view.anchor_subject = anchor
        source = as_str(certificate.get("anchor_source"), "system")
        view.anchor_source = cat.get("anchor_source", source)
    if isinstance(certificate.get("trusted"), bool):
        view.trusted = certificate["trusted"]
    webpki = as_str(certificate.get("webpki_error"))
    if compact and len(webpki) > COMPACT_CHARS:
        webpki = webpki[: COMPACT_CHARS - 1] + "…"
    view.webpki_error = webpki or None
    view.parse_errors = [str(p) for p in as_list(certificate.get("parse_errors"))]
    view.protocols = _protocol_rows(facts, cat)
    view.suites = _suite_rows(facts, cat)
    view.connection = _connection(facts, cat, compact)
    entries = result.get("simulation")
    if memo is None or not entries:
        view.simulation = _simulation(entries, cat)
    else:  # fleets share configurations: build each distinct simulation table once
        key = json.dumps(entries, sort_keys=True, default=str)
        if key not in memo:
            memo[key] = _simulation(entries, cat)
        view.simulation = memo[key]
    view.from_file = facts.get("source") == "file"
    return view


# -- expiry timeline ----------------------------------------------------------------------------


@dataclass
class TimelineRow:
    y: int
    x: float
    label: str
    title: str
    days: int
    tone: str
    text: str
    href: str
    #: the day count is written left of the dot (near the right edge)
    flip: bool = False


def _timeline(targets: list[TargetView], now: datetime | None, cat: Catalog) -> dict[str, Any]:
    """Geometry of the inline SVG: a weekly histogram over every certificate, then rows."""
    seen: dict[str, dict[str, Any]] = {}
    for target in targets:
        for cert in target.chain:
            if cert.days_left is None or cert.days_left > TIMELINE_DAYS or not cert.sha256:
                continue
            item = seen.setdefault(
                cert.sha256,
                {"cert": cert, "targets": [], "href": f"#{target.anchor}"},
            )
            if target.label not in item["targets"]:
                item["targets"].append(target.label)
    items = sorted(seen.values(), key=lambda i: (i["cert"].days_left, i["targets"][0]))
    width, label_w, right = 960, 300, 24
    plot_x0, plot_x1 = label_w + 100, width - right
    expired_x0 = label_w + 16

    def x_of(days: int) -> float:
        if days < 0:
            return (expired_x0 + plot_x0) / 2
        return plot_x0 + (plot_x1 - plot_x0) * min(days, TIMELINE_DAYS) / TIMELINE_DAYS

    bins = [0] * (TIMELINE_DAYS // 7 + 2)  # [expired, week 1 … week 13]
    for item in items:
        days = item["cert"].days_left
        bins[0 if days < 0 else 1 + min(days // 7, len(bins) - 2)] += 1
    top = max(bins) or 1
    hist_h, hist_y = 56, 34
    bars = []
    for position, count in enumerate(bins):
        if position == 0:
            x0, x1 = expired_x0, plot_x0 - 6
        else:
            x0 = x_of((position - 1) * 7)
            x1 = x_of(min(position * 7, TIMELINE_DAYS))
        height = round(hist_h * count / top, 1) if count else 0
        bars.append(
            {
                "x": round(x0 + 1, 1),
                "w": round(max(1.0, x1 - x0 - 2), 1),
                "y": round(hist_y + hist_h - height, 1),
                "h": height,
                "count": count,
                "cx": round((x0 + x1) / 2, 1),
                "tone": "expired"
                if position == 0
                else "crit"
                if position == 1
                else "soon"
                if position <= 5
                else "ok",
            }
        )
    axis_y = hist_y + hist_h + 14
    rows_y0 = axis_y + 44
    row_h = 22
    rows = []
    for number, item in enumerate(items[:TIMELINE_ROWS]):
        cert: CertView = item["cert"]
        names = item["targets"]
        who = names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "")
        role = cat.ui(cert.role)
        label = f"{cert.cn} · {who}" if cert.role != "leaf" else who
        if len(label) > 46:
            label = label[:45] + "…"
        days = cert.days_left or 0
        rows.append(
            TimelineRow(
                y=rows_y0 + number * row_h,
                x=round(x_of(days), 1),
                label=label,
                title=f"{role}: {cert.subject} — {cert.not_after} ({', '.join(names)})",
                days=days,
                tone=_expiry(days),
                text=cat.ui("timeline_expired") if days < 0 else cat.ui("days", n=days),
                href=item["href"],
                flip=x_of(days) > plot_x1 - 60,
            )
        )
    ticks = []
    for days in (0, 7, 30, 60, 90):
        date = (now + timedelta(days=days)).strftime("%m-%d") if now else ""
        ticks.append({"x": round(x_of(days), 1), "days": days, "date": date})
    height = rows_y0 + len(rows) * row_h + 6
    return {
        "width": width,
        "height": height,
        "count": len(items),
        "more": max(0, len(items) - TIMELINE_ROWS),
        "rows": rows,
        "bars": bars,
        "ticks": ticks,
        "plot_x0": plot_x0,
        "plot_x1": plot_x1,
        "expired_x0": expired_x0,
        "label_x": label_w,
        "hist_y": hist_y,
        "hist_h": hist_h,
        "axis_y": axis_y,
        "rows_y0": rows_y0,
        "row_h": row_h,
        "days": TIMELINE_DAYS,
    }


# -- rendering ----------------------------------------------------------------------------------


def _share_cas(targets: list[TargetView]) -> list[CertView]:
    """CA certificates served by several targets: drawn once in full, referenced elsewhere."""
    seen: dict[str, list[CertView]] = {}
    for target in targets:
        for cert in target.chain:
            if cert.role != "leaf" and cert.digest:
                seen.setdefault(cert.digest, []).append(cert)
    shared = []
    for digest, certs in seen.items():
        if len(certs) < 2:
            continue
        for cert in certs:
            cert.shared_id = f"ca-{digest[:16]}"
        card = replace(certs[0], on_path=True)
        shared.append(card)
    shared.sort(key=lambda c: (c.role != "intermediate", c.cn.lower()))
    return shared


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _share_blocks(targets: list[TargetView]) -> list[dict[str, Any]]:
    """Cipher tables and simulations that several targets share: drawn once, linked from each."""
    blocks: list[dict[str, Any]] = []
    for kind, attr, ref in (
        ("suites", "suites", "suites_ref"),
        ("simulation", "simulation", "simulation_ref"),
    ):
        groups: dict[str, list[TargetView]] = {}
        for target in targets:
            data = getattr(target, attr)
            if data:
                groups.setdefault(json.dumps(data, sort_keys=True, default=str), []).append(target)
        for users in groups.values():
            if len(users) < 2:
                continue
            block_id = f"{kind}-{sum(1 for b in blocks if b['kind'] == kind) + 1}"
            for target in users:
                setattr(target, ref, block_id)
            blocks.append(
                {"id": block_id, "kind": kind, "data": getattr(users[0], attr), "users": len(users)}
            )
    return blocks


def _fixes(targets: list[TargetView]) -> list[dict[str, Any]]:
    """One entry per rule that fired, with its fix text (large reports link here)."""
    by_rule: dict[str, dict[str, Any]] = {}
    for target in targets:
        for finding in target.findings:
            if not finding.fix:
                continue
            entry = by_rule.setdefault(
                finding.rule_id,
                {
                    "rule_id": finding.rule_id,
                    "severity": finding.severity,
                    "severity_text": finding.severity_text,
                    "title": finding.title,
                    "fix": finding.fix,
                    "platforms": finding.platforms,
                    "users": set(),
                },
            )
            entry["users"].add(target.index)
    entries = [{**e, "users": len(e["users"])} for e in by_rule.values()]
    entries.sort(key=lambda e: (-severity_rank(e["severity"]), -e["users"], e["rule_id"]))
    return entries


#: old clients named in the headline before "+N"
HEADLINE_CLIENTS = 6


def _outcome(result: dict[str, Any]) -> Outcome:
    facts = as_dict(result.get("facts"))
    findings = [f for f in as_list(result.get("findings")) if isinstance(f, dict)]
    legacy = tuple(
        as_str(f.get("rule_id"), "?")
        for f in findings
        if not f.get("suppressed") and "android_legacy" in as_list(f.get("breaks"))
    )
    failing = tuple(
        as_str(e.get("name") or e.get("client"), "?")
        for e in as_list(result.get("simulation"))
        if isinstance(e, dict) and e.get("ok") is False
    )
    return Outcome(
        scanned=result.get("status") != "error" and not facts.get("error"),
        overall=as_str(result.get("overall"), "error"),
        verdicts={k: verdict_state(v) for k, v in as_dict(result.get("verdicts")).items()},
        legacy_rules=legacy,
        failing_clients=failing,
    )


def _headline(
    results: list[dict[str, Any]], targets: list[TargetView], cat: Catalog
) -> dict[str, Any]:
    """The answer at the top of the page: the worst result, then do current phones connect
    and is it only old Android that fails (the console's counts, :mod:`.headline`)."""
    outcomes = [_outcome(r) for r in results]
    worst = worst_overall(o.overall for o in outcomes)
    counts = phones(outcomes)
    unscanned = sum(1 for o in outcomes if not o.scanned)
    lines: list[str] = []
    details: list[str] = []
    if counts is None:
        lines.append(cat.ui("headline_none"))
    elif counts.all_pass:
        lines.append(cat.ui("headline_all_pass", n=counts.scanned))
    else:
        line = cat.ui("headline_phones", current=counts.current, scanned=counts.scanned)
        if counts.old_only:
            line += cat.ui("headline_sep") + cat.ui("headline_old", n=counts.old_only)
        lines.append(line)
        if counts.old_only and counts.old_rule:
            titles = {f.rule_id: f.title for t in targets for f in t.findings}
            details.append(cat.ui("headline_why", reason=titles.get(counts.old_rule, "?")))
        if counts.old_only and counts.old_clients:
            names = ", ".join(counts.old_clients[:HEADLINE_CLIENTS])
            beyond = len(counts.old_clients) - HEADLINE_CLIENTS
            if beyond > 0:
                names += " " + cat.ui("sim_names_more", n=beyond)
            details.append(cat.ui("headline_old_clients", names=names))
    if unscanned and counts is not None:
        lines.append(cat.ui("headline_unscanned", n=unscanned))
    verdict = cat.get("verdict", worst)
    return {
        "worst": worst,
        "worst_text": verdict,
        "worst_label": cat.ui("headline_worst", verdict=verdict),
        "lines": lines,
        "details": details,
    }


def build_view(document: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """Everything the template shows, from a results document (ValueError: unknown lang)."""
    cat = catalog(lang)
    now = parse_when(document.get("evaluated_at"))
    results = [r for r in as_list(document.get("results")) if isinstance(r, dict)]
    large = len(results) > OPEN_DETAILS_UP_TO
    memo: dict[str, Any] = {}
    targets = [target_view(i, r, now, cat, large, memo) for i, r in enumerate(results)]
    summary = as_dict(document.get("summary"))
    counts = {
        key: as_int(summary.get(key))
        if as_int(summary.get(key)) is not None
        else sum(1 for t in targets if t.overall == key)
        for key in ("pass", "warn", "fail", "error")
    }
    tool = as_dict(document.get("tool"))
    return {
        "t": cat,
        "lang": cat.html_lang,
        "tool_name": as_str(tool.get("name"), "certcheck"),
        "tool_version": as_str(tool.get("version"), "?"),
        "evaluated_at": show_time(document.get("evaluated_at")),
        "evaluated_iso": as_str(document.get("evaluated_at")),
        "profile": as_str(document.get("profile"), "—"),
        "fail_on": cat.get("severity", as_str(document.get("fail_on"), "error")),
        "exit_code": as_str(document.get("exit_code"), "—"),
        "counts": counts,
        "data_note": data_age_note(document),
        "headline": _headline(results, targets, cat),
        "total": len(targets),
        "targets": targets,
        "platforms": [(p, cat.get("platform", p)) for p in VERDICT_PLATFORMS],
        "timeline": _timeline(targets, now, cat),
        "shared_cas": _share_cas(targets) if large else [],
        "shared_blocks": _share_blocks(targets) if large else [],
        "fixes": _fixes(targets) if large else [],
        "compact": large,
        "open_details": len(targets) <= OPEN_DETAILS_UP_TO,
        "san_shown": SAN_SHOWN,
        "verdict_rank": _VERDICT_RANK,
        "marks": MARKS,
        "overall_rank": _OVERALL_RANK,
    }


def render_html(document: dict[str, Any], lang: str = "en") -> str:
    """The complete report page for a results document."""
    view = build_view(document, lang)
    script = template_source("report.js")
    style = template_source("report.css")
    view["script"] = Markup(script)
    view["style"] = Markup(style)
    view["csp"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src {_csp_hash(script)}; base-uri 'none'; form-action 'none'"
    )
    page = environment().get_template("report.html.j2").render(**view)
    # control characters and lone surrogates from hostile fields: not even HTML may carry them
    return xml_safe(page)
