"""HTML pages for ``certcheck miniprogram --html`` and ``certcheck forecast --html``.

Like the scan report (:mod:`certcheck.report.html`) they are rendered only from
the JSON documents the commands write (``certcheck-miniprogram``,
``certcheck-forecast``), read tolerantly (optional keys may be missing), laid
out by autoescaped jinja2 templates that reuse the scan report's stylesheet and
macros, and self-contained: no script, nothing loaded, a Content-Security-Policy
that allows inline styles only.  Every host, title and evidence value may come
from a hostile certificate or server.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup

from certcheck.catalog import read_data
from certcheck.model import SEVERITY_ORDER, VERDICT_PLATFORMS
from certcheck.report.evidence import xml_safe
from certcheck.report.html import (
    _MARKS,
    SAN_SHOWN,
    FindingView,
    _dict,
    _environment,
    _finding_view,
    _int,
    _list,
    _show_time,
    _str,
    _target_view,
    _template_source,
    _when,
    data_age_note,
    verdict_state,
)
from certcheck.report.i18n import Catalog, catalog

#: the pages carry no script at all
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)
#: a request still running this long after the mini program goes to the background fails
#: (WeChat documentation, Network; rules/miniprogram.toml) - used when the document has no limits
BACKGROUND_MS = 5000
#: "approaching" a limit means reaching this fraction of it (rules/miniprogram.toml)
NEAR_FRACTION = 0.8
#: mini-program endpoints: the TLS details start open for at most this many endpoints
OPEN_TLS_UP_TO = 3
#: forecast: targets drawn one per row in the timeline (the table lists every event)
FORECAST_ROWS = 40
#: request phases in the order they happen (the keys of an exchange's ``timings_ms``)
PHASES = ("dns", "connect", "tls", "first_byte")


def _sorted_findings(findings: list[Any], cat: Catalog) -> list[FindingView]:
    views = [_finding_view(f, cat) for f in findings if isinstance(f, dict)]
    views.sort(key=lambda f: (f.suppressed, -SEVERITY_ORDER.get(f.severity, -1), f.rule_id))
    return views


def _severity_counts(findings: list[FindingView]) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for finding in findings:
        if not finding.suppressed and finding.severity in counts:
            counts[finding.severity] += 1
    return counts


def _verdicts(value: Any, cat: Catalog) -> list[tuple[str, str, str]]:
    """(platform, state, platform name) for iOS, Android, old Android and any others given."""
    given = _dict(value)
    platforms = list(VERDICT_PLATFORMS) + sorted(p for p in given if p not in VERDICT_PLATFORMS)
    return [(p, verdict_state(given.get(p)), cat.get("platform", p)) for p in platforms]


def _overall(value: Any) -> str:
    """An overall verdict: pass, warn, fail, or error (not checked) for anything else."""
    return value if value in ("pass", "warn", "fail") else "error"


def _ms(value: float | None) -> str:
    """A duration for people: 0.4 ms, 85 ms, 1.2 s, 60 s."""
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value / 1000:.1f}".removesuffix(".0") + " s"
    if value >= 100:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _page(template: str, view: dict[str, Any]) -> str:
    view["style"] = Markup(_template_source("report.css") + _template_source("extra.css"))
    view["csp"] = CSP
    page = _environment().get_template(template).render(**view)
    # control characters and lone surrogates from hostile fields: not even HTML may carry them
    return xml_safe(page)


def _common(document: dict[str, Any], cat: Catalog) -> dict[str, Any]:
    tool = _dict(document.get("tool"))
    return {
        "t": cat,
        "lang": cat.html_lang,
        "tool_name": _str(tool.get("name"), "certcheck"),
        "tool_version": _str(tool.get("version"), "?"),
        "profile": _str(document.get("profile"), "—"),
        "data_note": data_age_note(document),
        "marks": _MARKS,
        "san_shown": SAN_SHOWN,
        "compact": False,
        "open_details": False,
    }


# -- mini program -------------------------------------------------------------------------------


def _timing(
    exchange: dict[str, Any], limits: dict[str, Any], cat: Catalog
) -> dict[str, Any] | None:
    """A request's phases on one scale with WeChat's networkTimeout and the background limit."""
    timings = _dict(exchange.get("timings_ms"))
    phases = [(p, _number(timings.get(p))) for p in PHASES]
    done = [(p, ms) for p, ms in phases if ms is not None]
    total = _number(timings.get("total"))
    if total is None and done:
        total = sum(ms for _p, ms in done)
    if total is None:
        return None
    limit = _number(exchange.get("limit_ms"))
    background_ms = _number(limits.get("background_ms")) or BACKGROUND_MS
    near = _number(limits.get("near_fraction")) or NEAR_FRACTION
    scale = max(total, float(background_ms), limit or 0.0) or 1.0
    spent = sum(ms for _p, ms in done)
    segments = [
        {
            "phase": phase,
            "name": cat.ui(f"mp_phase_{phase}"),
            "text": _ms(ms),
            "share": round(100 * ms / total, 2) if total else 0,
        }
        for phase, ms in done
    ]
    waiting = max(0.0, total - spent)
    if exchange.get("error") and waiting > 0:  # the phase that never finished
        segments.append(
            {
                "phase": "wait",
                "name": cat.ui("mp_phase_wait"),
                "text": _ms(waiting),
                "share": round(100 * waiting / total, 2) if total else 0,
            }
        )
    if limit and total >= limit:
        tone = "fail"
    elif (limit and total >= near * limit) or total >= near * background_ms:
        tone = "warn"
    else:
        tone = "pass"
    return {
        "segments": segments,
        "total": _ms(total),
        "fill": round(100 * total / scale, 2),
        "tone": tone,
        "limit": None
        if limit is None
        else {"pos": round(100 * limit / scale, 2), "text": cat.ui("mp_limit", t=_ms(limit))},
        "background": {
            "pos": round(100 * background_ms / scale, 2),
            "text": cat.ui("mp_background", t=_ms(background_ms)),
        },
    }


def _exchange_view(
    exchange: dict[str, Any], limits: dict[str, Any], cat: Catalog
) -> dict[str, Any]:
    kind = _str(exchange.get("kind"), "http")
    error = _dict(exchange.get("error"))
    status = _int(exchange.get("status"))
    if error:
        status_text = f"{_str(error.get('kind'), 'error')}: {_str(error.get('message'))}".strip()
        tone = "fail"
    elif status is None:
        status_text, tone = "—", "unknown"
    else:
        status_text = f"{status} {_str(exchange.get('reason'))}".strip()
        expected = 101 if kind == "websocket" else None
        ok = status == expected if expected else 200 <= status < 400
        tone = "pass" if ok and not _list(exchange.get("problems")) else "fail"
    boms = _int(exchange.get("bom_count")) or 0
    return {
        "kind": kind,
        "kind_text": cat.get("mp_kind", kind),
        "url": _str(exchange.get("url"), "—"),
        "guessed": exchange.get("path_given") is False,
        "status": status_text,
        "tone": tone,
        "problems": [str(p) for p in _list(exchange.get("problems"))],
        "content_type": _str(exchange.get("content_type")) or "—",
        "utf8": exchange.get("body_utf8"),
        "boms": boms,
        "timing": _timing(exchange, limits, cat),
    }


def _api_name(api: str, cat: Catalog) -> str:
    return cat.get("mp_group", api)


def _lint_group(
    group: dict[str, Any],
    endpoints: dict[str, str],
    config: dict[str, Any],
    cat: Catalog,
    timeout_keys: dict[str, str],
) -> dict[str, Any]:
    name = _str(group.get("group"), "?")
    findings = _sorted_findings(_list(group.get("findings")), cat)
    entries = []
    for entry in map(_dict, _list(group.get("entries"))):
        endpoint = _str(entry.get("endpoint"))
        entries.append(
            {
                "entry": _str(entry.get("entry"), "—"),
                "accepted": entry.get("accepted") is not False,
                "endpoint": endpoint,
                "href": endpoints.get(endpoint, ""),
                "works": [str(u) for u in _list(entry.get("requests_work"))],
                "fails": [str(u) for u in _list(entry.get("requests_fail"))],
            }
        )
    requests = [
        {
            "url": _str(r.get("url"), "—"),
            "allowed": bool(r.get("allowed")),
            "by": [_api_name(str(a), cat) for a in _list(r.get("allowed_by"))],
        }
        for r in map(_dict, _list(group.get("requests")))
    ]
    # info findings repeat what the table shows (ports bound, ...): folded, but never the
    # ICP reminder of the "general" group
    fold = bool(entries or requests)
    folded = [f for f in findings if fold and f.severity == "info"]
    timeouts = []
    if name == "networkTimeout":
        given = _dict(config.get("networkTimeout"))
        effective = _dict(config.get("effective_timeout_ms"))
        for key, api in timeout_keys.items():
            if key in given or api in effective:
                timeouts.append(
                    {
                        "key": key,
                        "api": _api_name(api, cat),
                        "given": _ms(_number(given.get(key))) if key in given else "—",
                        "effective": _ms(_number(effective.get(api))),
                    }
                )
    return {
        "name": name,
        "anchor": f"g-{name}",
        "title": cat.get("mp_group", name, _str(group.get("label"), name)),
        "entries": entries,
        "show_endpoint": any(e["endpoint"] for e in entries),
        "show_urls": any(e["works"] or e["fails"] for e in entries),
        "requests": requests,
        "timeouts": timeouts,
        "findings": [f for f in findings if not (fold and f.severity == "info")],
        "folded": folded,
        "counts": _severity_counts(findings),
        "shown": bool(entries or requests or findings or name == "general")
        or (name == "networkTimeout" and bool(_dict(config.get("networkTimeout")))),
    }


def _endpoint_view(
    index: int,
    endpoint: dict[str, Any],
    limits: dict[str, Any],
    now: datetime | None,
    cat: Catalog,
    open_tls: bool,
) -> dict[str, Any]:
    tls = _dict(endpoint.get("tls"))
    target = _target_view(index, tls, now, cat) if tls else None
    findings = _sorted_findings(_list(endpoint.get("findings")), cat)
    raw = [_dict(x) for x in _list(endpoint.get("exchanges"))]
    exchanges = [_exchange_view(x, limits, cat) for x in raw]
    label = _str(endpoint.get("endpoint")) or (target.label if target else "?")
    totals = [_number(_dict(x.get("timings_ms")).get("total")) for x in raw]
    slowest = max((t for t in totals if t is not None), default=None)
    return {
        "anchor": f"ep-{index}",
        "label": label,
        "connect_addr": _str(endpoint.get("connect_addr")),
        "apis": [_api_name(str(a), cat) for a in _list(endpoint.get("apis"))],
        "overall": _overall(endpoint.get("overall")),
        "verdicts": _verdicts(endpoint.get("verdicts"), cat),
        "exchanges": exchanges,
        "findings": findings,
        "counts": _severity_counts(findings + (target.findings if target else [])),
        "slowest": _ms(slowest) if slowest is not None else "—",
        "tv": target,
        "tls_open": target is not None and (open_tls or target.overall in ("fail", "error")),
    }


def _timeout_keys(document: dict[str, Any]) -> dict[str, str]:
    """networkTimeout key -> API list, from the document (schema 1.1+), else the shipped data
    (documents written before the host app carried it)."""
    keys = _dict(_dict(document.get("host_app")).get("timeout_keys"))
    if keys:
        return {str(k): str(v) for k, v in keys.items()}
    data = tomllib.loads(read_data("miniprogram.toml").decode("utf-8"))
    return {str(k): str(v) for k, v in _dict(data.get("timeout_keys")).items()}


def miniprogram_view(document: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """Everything miniprogram.html.j2 shows, from a ``certcheck-miniprogram`` document."""
    cat = catalog(lang)
    now = _when(document.get("evaluated_at"))
    limits = _dict(document.get("limits"))
    config = _dict(document.get("config"))
    raw_endpoints = [e for e in _list(document.get("endpoints")) if isinstance(e, dict)]
    open_tls = len(raw_endpoints) <= OPEN_TLS_UP_TO
    endpoints = [
        _endpoint_view(i, e, limits, now, cat, open_tls) for i, e in enumerate(raw_endpoints)
    ]
    hrefs = {e["label"]: f"#{e['anchor']}" for e in endpoints}
    keys = _timeout_keys(document)
    groups = [
        _lint_group(g, hrefs, config, cat, keys) for g in map(_dict, _list(document.get("lint")))
    ]
    summary = _dict(document.get("summary"))
    counts = _dict(summary.get("findings"))
    findings = {k: _int(counts.get(k)) or 0 for k in ("error", "warning", "info")}
    if not counts:  # an older or trimmed document: count what is there
        for view in [*(g["counts"] for g in groups), *(e["counts"] for e in endpoints)]:
            for key in findings:
                findings[key] += view[key]
    return {
        **_common(document, cat),
        "evaluated_at": _show_time(document.get("evaluated_at")),
        "evaluated_iso": _str(document.get("evaluated_at")),
        "source": _str(document.get("source") or config.get("source"), "—"),
        "fail_on": cat.get("severity", _str(document.get("fail_on"), "error")),
        "exit_code": _str(document.get("exit_code"), "—"),
        "host_app": _str(_dict(document.get("host_app")).get("name")),
        "overall": _overall(document.get("overall")),
        "verdicts": _verdicts(document.get("verdicts"), cat),
        "findings": findings,
        "endpoint_count": _int(summary.get("endpoints")) or len(endpoints),
        "endpoints_checked": document.get("endpoints_checked") is not False,
        "groups": [g for g in groups if g["shown"]],
        "empty_groups": [g["title"] for g in groups if not g["shown"]],
        "endpoints": endpoints,
        "background": _ms(_number(limits.get("background_ms")) or BACKGROUND_MS),
    }


def render_miniprogram_html(document: dict[str, Any], lang: str = "en") -> str:
    """The page for a mini-program check (ValueError: unknown ``lang``)."""
    return _page("miniprogram.html.j2", miniprogram_view(document, lang))


# -- forecast -----------------------------------------------------------------------------------

_EVENT_RANK = {"verdict": 3, "error": 2, "warning": 1, "info": 0}
_WARN_OR_WORSE, _ERROR_OR_WORSE = ("warning", "error", "verdict"), ("error", "verdict")


def _event_tone(event: dict[str, Any]) -> str:
    if event.get("change") == "verdict" or not event.get("severity"):
        return "verdict"
    severity = _str(event.get("severity"))
    return severity if severity in _EVENT_RANK else "info"


def _platform_order(platform: str) -> tuple[int, str]:
    """iOS, Android, old Android first (as everywhere else), then any others by name."""
    known = list(VERDICT_PLATFORMS)
    return (known.index(platform) if platform in known else len(known), platform)


def _later(start: datetime | None, days: int) -> datetime | None:
    """``start`` plus ``days``, or None (no start, or past the calendar's end)."""
    if start is None:
        return None
    try:
        return start + timedelta(days=days)
    except OverflowError:
        return None


def _tick_step(days: int) -> int:
    for step in (1, 2, 7, 14, 30, 61, 91, 182, 365, 730):
        if days / step <= 8:
            return step
    return max(1, days // 8)


def _event_view(
    index: int, event: dict[str, Any], start: datetime | None, cat: Catalog
) -> dict[str, Any]:
    rule_id = _str(event.get("rule_id"))
    tone = _event_tone(event)
    platforms = sorted(map(str, _list(event.get("platforms"))), key=_platform_order)
    detail = _dict(event.get("detail"))
    failing = {str(p) for p in _list(detail.get("platforms_start_failing"))}
    if tone == "verdict":
        failing |= set(platforms)
        names = ", ".join(cat.get("platform", p) for p in platforms) or "?"
        title, title_en = cat.ui("fc_verdict_event", platform=names), None
        severity_text = cat.ui("fc_verdict")
    else:
        english = _str(event.get("title"), rule_id or "?")
        translated = cat.rule_title(rule_id) if rule_id else None
        title, title_en = translated or english, english if translated else None
        severity_text = cat.get("severity", tone)
    at = _when(event.get("at"))
    evidence = {k: v for k, v in detail.items() if k != "platforms_start_failing"}
    return {
        "anchor": f"ev-{index}",
        "at": at,
        "date": _show_time(event.get("at")),
        "offset": "" if at is None or start is None else cat.ui("fc_in_days", n=(at - start).days),
        "target": _str(event.get("target"), "?"),
        "tone": tone,
        "severity_text": severity_text,
        "title": title,
        "title_en": title_en,
        "rule_id": rule_id,
        "platforms": [
            (cat.get("platform", p), p in failing or "all" in failing) for p in platforms
        ],
        "detail": _finding_view({"evidence": evidence}, cat).evidence,
    }


def _forecast_timeline(
    events: list[dict[str, Any]],
    baseline: dict[str, str],
    start: datetime | None,
    days: int,
    cat: Catalog,
) -> dict[str, Any]:
    """Geometry of the inline SVG: a date axis and one row of event markers per target."""
    width, label_w, right = 960, 250, 28
    x0, x1 = label_w + 22, width - right
    axis_y, rows_y0, row_h = 34, 62, 30

    def x_of(moment: datetime | None) -> float:
        if moment is None or start is None or days <= 0:
            return x0
        share = (moment - start).total_seconds() / (days * 86400)
        return round(x0 + (x1 - x0) * min(1.0, max(0.0, share)), 1)

    by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_target[event["target"]].append(event)
    rows = []
    for number, (target, items) in enumerate(list(by_target.items())[:FORECAST_ROWS]):
        y = rows_y0 + number * row_h
        markers: dict[float, dict[str, Any]] = {}
        for event in items:
            x = x_of(event["at"])
            marker = markers.setdefault(
                x, {"x": x, "tone": event["tone"], "href": f"#{event['anchor']}", "titles": []}
            )
            if _EVENT_RANK[event["tone"]] > _EVENT_RANK[marker["tone"]]:
                marker["tone"] = event["tone"]
            marker["titles"].append(f"{event['date']}: {event['title']}")
        # from the first warning on the row is amber, from the first error on red
        spans = []
        for tone, tones in (("warn", _WARN_OR_WORSE), ("fail", _ERROR_OR_WORSE)):
            first = next((e for e in items if e["tone"] in tones), None)
            if first is not None:
                spans = [s for s in spans if s["x"] != x_of(first["at"])]
                spans.append({"tone": tone, "x": x_of(first["at"])})
        label = target if len(target) <= 34 else target[:33] + "…"
        state = baseline.get(target, "unknown")
        rows.append(
            {
                "y": y,
                "label": label,
                "title": target,
                "now": state,
                "now_text": cat.get("verdict", state),
                "markers": [
                    {**m, "count": len(m["titles"]), "title": "\n".join(m["titles"])}
                    for m in sorted(markers.values(), key=lambda m: m["x"])
                ],
                "spans": spans,
            }
        )
    ticks = []
    step = _tick_step(days)
    for offset in range(0, days + 1, step):
        moment = _later(start, offset)
        ticks.append(
            {
                "x": x_of(moment) if moment else round(x0 + (x1 - x0) * offset / max(days, 1), 1),
                "top": cat.ui("fc_start") if offset == 0 else "+" + cat.ui("days", n=offset),
                "date": moment.strftime("%Y-%m-%d" if days > 300 else "%m-%d") if moment else "",
            }
        )
    return {
        "width": width,
        "height": rows_y0 + len(rows) * row_h - row_h // 2 + 8,
        "x0": x0,
        "x1": x1,
        "label_x": label_w,
        "axis_y": axis_y,
        "rows_y0": rows_y0,
        "row_h": row_h,
        "rows": rows,
        "ticks": ticks,
        "more": max(0, len(by_target) - FORECAST_ROWS),
    }


def forecast_view(document: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """Everything forecast.html.j2 shows, from a ``certcheck-forecast`` document."""
    cat = catalog(lang)
    start = _when(document.get("from"))
    days = max(0, _int(document.get("days")) or 0)
    end = _later(start, days)
    raw = [e for e in _list(document.get("events")) if isinstance(e, dict)]
    raw.sort(key=lambda e: (_str(e.get("at")), _str(e.get("target")), _str(e.get("rule_id"))))
    events = [_event_view(i, e, start, cat) for i, e in enumerate(raw)]
    baseline = {
        _str(b.get("target"), "?"): _overall(b.get("overall"))
        for b in map(_dict, _list(document.get("baseline")))
    }
    affected = {e["target"] for e in events}
    first_break = next((e for e in events if e["tone"] in ("error", "verdict")), None)
    return {
        **_common(document, cat),
        "from": _show_time(document.get("from")),
        "from_iso": _str(document.get("from")),
        "until": _show_time(end.isoformat(), with_time=False) if end else "—",
        "days": days,
        "events": events,
        "target_count": len(baseline) or len(affected),
        "affected": len(affected),
        "first_break": first_break,
        "quiet": [t for t, state in baseline.items() if t not in affected and state != "error"],
        "unscanned": [t for t, state in baseline.items() if state == "error"],
        "timeline": _forecast_timeline(events, baseline, start, days, cat),
    }


def render_forecast_html(document: dict[str, Any], lang: str = "en") -> str:
    """The page for a forecast (ValueError: unknown ``lang``)."""
    return _page("forecast.html.j2", forecast_view(document, lang))
