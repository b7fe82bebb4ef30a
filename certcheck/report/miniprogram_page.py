"""HTML page for ``certcheck miniprogram --html``, from a ``certcheck-miniprogram`` document.

Read tolerantly (optional keys may be missing), laid out by autoescaped jinja2 templates
that reuse the scan report's stylesheet and macros (:mod:`certcheck.report.chrome`), and
self-contained: no script, nothing loaded, a Content-Security-Policy that allows inline
styles only.  Every host, title and evidence value may come from a hostile certificate or
server.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from typing import Any

from certcheck.catalog import read_data
from certcheck.model import SEVERITY_ORDER, VERDICT_PLATFORMS
from certcheck.report.chrome import (
    EXTRA_STYLES,
    as_dict,
    as_int,
    as_list,
    as_str,
    overall_state,
    page_common,
    parse_when,
    render_page,
    show_time,
    verdict_state,
)
from certcheck.report.html import FindingView, finding_view, target_view
from certcheck.report.i18n import Catalog, catalog

#: a request still running this long after the mini program goes to the background fails
#: (WeChat documentation, Network; rules/miniprogram.toml) - used when the document has no limits
BACKGROUND_MS = 5000
#: "approaching" a limit means reaching this fraction of it (rules/miniprogram.toml)
NEAR_FRACTION = 0.8
#: mini-program endpoints: the TLS details start open for at most this many endpoints
OPEN_TLS_UP_TO = 3
#: request phases in the order they happen (the keys of an exchange's ``timings_ms``)
PHASES = ("dns", "connect", "tls", "first_byte")


def _sorted_findings(findings: list[Any], cat: Catalog) -> list[FindingView]:
    views = [finding_view(f, cat) for f in findings if isinstance(f, dict)]
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
    given = as_dict(value)
    platforms = list(VERDICT_PLATFORMS) + sorted(p for p in given if p not in VERDICT_PLATFORMS)
    return [(p, verdict_state(given.get(p)), cat.get("platform", p)) for p in platforms]


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


# -- mini program -------------------------------------------------------------------------------


def _timing(
    exchange: dict[str, Any], limits: dict[str, Any], cat: Catalog
) -> dict[str, Any] | None:
    """A request's phases on one scale with WeChat's networkTimeout and the background limit."""
    timings = as_dict(exchange.get("timings_ms"))
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
    kind = as_str(exchange.get("kind"), "http")
    error = as_dict(exchange.get("error"))
    status = as_int(exchange.get("status"))
    if error:
        kind = as_str(error.get("kind"), "error")
        status_text = f"{kind}: {as_str(error.get('message'))}".strip()
        tone = "fail"
    elif status is None:
        status_text, tone = "—", "unknown"
    else:
        status_text = f"{status} {as_str(exchange.get('reason'))}".strip()
        expected = 101 if kind == "websocket" else None
        ok = status == expected if expected else 200 <= status < 400
        tone = "pass" if ok and not as_list(exchange.get("problems")) else "fail"
    boms = as_int(exchange.get("bom_count")) or 0
    return {
        "kind": kind,
        "kind_text": cat.get("mp_kind", kind),
        "url": as_str(exchange.get("url"), "—"),
        "guessed": exchange.get("path_given") is False,
        "status": status_text,
        "tone": tone,
        "problems": [str(p) for p in as_list(exchange.get("problems"))],
        "content_type": as_str(exchange.get("content_type")) or "—",
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
    name = as_str(group.get("group"), "?")
    findings = _sorted_findings(as_list(group.get("findings")), cat)
    entries = []
    for entry in map(as_dict, as_list(group.get("entries"))):
        endpoint = as_str(entry.get("endpoint"))
        entries.append(
            {
                "entry": as_str(entry.get("entry"), "—"),
                "accepted": entry.get("accepted") is not False,
                "endpoint": endpoint,
                "href": endpoints.get(endpoint, ""),
                "works": [str(u) for u in as_list(entry.get("requests_work"))],
                "fails": [str(u) for u in as_list(entry.get("requests_fail"))],
            }
        )
    requests = [
        {
            "url": as_str(r.get("url"), "—"),
            "allowed": bool(r.get("allowed")),
            "by": [_api_name(str(a), cat) for a in as_list(r.get("allowed_by"))],
        }
        for r in map(as_dict, as_list(group.get("requests")))
    ]
    # info findings repeat what the table shows (ports bound, ...): folded, but never the
    # ICP reminder of the "general" group
    fold = bool(entries or requests)
    folded = [f for f in findings if fold and f.severity == "info"]
    timeouts = []
    if name == "networkTimeout":
        given = as_dict(config.get("networkTimeout"))
        effective = as_dict(config.get("effective_timeout_ms"))
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
        "title": cat.get("mp_group", name, as_str(group.get("label"), name)),
        "entries": entries,
        "show_endpoint": any(e["endpoint"] for e in entries),
        "show_urls": any(e["works"] or e["fails"] for e in entries),
        "requests": requests,
        "timeouts": timeouts,
        "findings": [f for f in findings if not (fold and f.severity == "info")],
        "folded": folded,
        "counts": _severity_counts(findings),
        "shown": bool(entries or requests or findings or name == "general")
        or (name == "networkTimeout" and bool(as_dict(config.get("networkTimeout")))),
    }


def _endpoint_view(
    index: int,
    endpoint: dict[str, Any],
    limits: dict[str, Any],
    now: datetime | None,
    cat: Catalog,
    open_tls: bool,
) -> dict[str, Any]:
    tls = as_dict(endpoint.get("tls"))
    target = target_view(index, tls, now, cat) if tls else None
    findings = _sorted_findings(as_list(endpoint.get("findings")), cat)
    raw = [as_dict(x) for x in as_list(endpoint.get("exchanges"))]
    exchanges = [_exchange_view(x, limits, cat) for x in raw]
    label = as_str(endpoint.get("endpoint")) or (target.label if target else "?")
    totals = [_number(as_dict(x.get("timings_ms")).get("total")) for x in raw]
    slowest = max((t for t in totals if t is not None), default=None)
    return {
        "anchor": f"ep-{index}",
        "label": label,
        "connect_addr": as_str(endpoint.get("connect_addr")),
        "apis": [_api_name(str(a), cat) for a in as_list(endpoint.get("apis"))],
        "overall": overall_state(endpoint.get("overall")),
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
    keys = as_dict(as_dict(document.get("host_app")).get("timeout_keys"))
    if keys:
        return {str(k): str(v) for k, v in keys.items()}
    data = tomllib.loads(read_data("miniprogram.toml").decode("utf-8"))
    return {str(k): str(v) for k, v in as_dict(data.get("timeout_keys")).items()}


def miniprogram_view(document: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """Everything miniprogram.html.j2 shows, from a ``certcheck-miniprogram`` document."""
    cat = catalog(lang)
    now = parse_when(document.get("evaluated_at"))
    limits = as_dict(document.get("limits"))
    config = as_dict(document.get("config"))
    raw_endpoints = [e for e in as_list(document.get("endpoints")) if isinstance(e, dict)]
    open_tls = len(raw_endpoints) <= OPEN_TLS_UP_TO
    endpoints = [
        _endpoint_view(i, e, limits, now, cat, open_tls) for i, e in enumerate(raw_endpoints)
    ]
    hrefs = {e["label"]: f"#{e['anchor']}" for e in endpoints}
    keys = _timeout_keys(document)
    groups = [
        _lint_group(g, hrefs, config, cat, keys)
        for g in map(as_dict, as_list(document.get("lint")))
    ]
    summary = as_dict(document.get("summary"))
    counts = as_dict(summary.get("findings"))
    findings = {k: as_int(counts.get(k)) or 0 for k in ("error", "warning", "info")}
    if not counts:  # an older or trimmed document: count what is there
        for view in [*(g["counts"] for g in groups), *(e["counts"] for e in endpoints)]:
            for key in findings:
                findings[key] += view[key]
    return {
        **page_common(document, cat),
        "evaluated_at": show_time(document.get("evaluated_at")),
        "evaluated_iso": as_str(document.get("evaluated_at")),
        "source": as_str(document.get("source") or config.get("source"), "—"),
        "fail_on": cat.get("severity", as_str(document.get("fail_on"), "error")),
        "exit_code": as_str(document.get("exit_code"), "—"),
        "host_app": as_str(as_dict(document.get("host_app")).get("name")),
        "overall": overall_state(document.get("overall")),
        "verdicts": _verdicts(document.get("verdicts"), cat),
        "findings": findings,
        "endpoint_count": as_int(summary.get("endpoints")) or len(endpoints),
        "endpoints_checked": document.get("endpoints_checked") is not False,
        "groups": [g for g in groups if g["shown"]],
        "empty_groups": [g["title"] for g in groups if not g["shown"]],
        "endpoints": endpoints,
        "background": _ms(_number(limits.get("background_ms")) or BACKGROUND_MS),
    }


def render_miniprogram_html(document: dict[str, Any], lang: str = "en") -> str:
    """The page for a mini-program check (ValueError: unknown ``lang``)."""
    return render_page("miniprogram.html.j2", miniprogram_view(document, lang), EXTRA_STYLES)


