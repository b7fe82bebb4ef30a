"""HTML page for ``certcheck forecast --html``, from a ``certcheck-forecast`` document.

Like the other pages (:mod:`certcheck.report.chrome`): read tolerantly, autoescaped,
self-contained, no script.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from certcheck.model import VERDICT_PLATFORMS
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
)
from certcheck.report.html import finding_view
from certcheck.report.i18n import Catalog, catalog

#: forecast: targets drawn one per row in the timeline (the table lists every event)
FORECAST_ROWS = 40

# -- forecast -----------------------------------------------------------------------------------

_EVENT_RANK = {"verdict": 4, "error": 3, "warning": 2, "info": 1, "better": 0}
#: event kinds that are improvements (certcheck.forecast.IMPROVEMENTS)
_IMPROVEMENTS = ("resolved", "verdict_recovers")
#: the legend's entries, in order: (tone, ui key or severity); only tones drawn are listed
_LEGEND = (("error", None), ("warning", None), ("info", None), ("verdict", "fc_legend_verdict"),
           ("better", "fc_legend_better"))


def _event_tone(event: dict[str, Any]) -> str:
    if event.get("change") in _IMPROVEMENTS:
        return "better"
    if event.get("change") == "verdict" or not event.get("severity"):
        return "verdict"
    severity = as_str(event.get("severity"))
    return severity if severity in _EVENT_RANK else "info"


def _state_tone(severities: dict[str, str], failing: set[str]) -> str | None:
    """The row's colour while these findings are active and these platforms fail."""
    if failing or "error" in severities.values():
        return "fail"
    return "warn" if "warning" in severities.values() else None


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
    rule_id = as_str(event.get("rule_id"))
    tone = _event_tone(event)
    platforms = sorted(map(str, as_list(event.get("platforms"))), key=_platform_order)
    detail = as_dict(event.get("detail"))
    failing = {str(p) for p in as_list(detail.get("platforms_start_failing"))}
    change = as_str(event.get("change"))
    names = ", ".join(cat.get("platform", p) for p in platforms) or "?"
    if change == "verdict_recovers":
        title, title_en = cat.ui("fc_recovers_event", platform=names), None
        severity_text = cat.ui("fc_better")
    elif tone == "verdict":
        failing |= set(platforms)
        title, title_en = cat.ui("fc_verdict_event", platform=names), None
        severity_text = cat.ui("fc_verdict")
    else:
        english = as_str(event.get("title"), rule_id or "?")
        translated = cat.rule_title(rule_id) if rule_id else None
        title, title_en = translated or english, english if translated else None
        severity_text = cat.get("severity", tone)
        if change == "resolved":
            title = cat.ui("fc_resolved_event", title=title)
            severity_text = cat.ui("fc_better")
    at = parse_when(event.get("at"))
    evidence = {
        k: v for k, v in detail.items() if k not in ("platforms_start_failing", "resolved")
    }
    return {
        "change": change,
        "anchor": f"ev-{index}",
        "at": at,
        "date": show_time(event.get("at")),
        "day": show_time(event.get("at"), with_time=False),
        "offset": "" if at is None or start is None else cat.ui("fc_in_days", n=(at - start).days),
        "target": as_str(event.get("target"), "?"),
        "tone": tone,
        "severity_text": severity_text,
        "title": title,
        "title_en": title_en,
        "rule_id": rule_id,
        "platforms": [
            (cat.get("platform", p), p in failing or "all" in failing) for p in platforms
        ],
        "platform_keys": platforms,
        "severity_key": as_str(event.get("severity")),
        "detail": finding_view({"evidence": evidence}, cat).evidence,
    }


def _segments(
    items: list[dict[str, Any]], start_findings: dict[str, str], x_of: Any, x_end: float
) -> list[dict[str, Any]]:
    """Coloured stretches of one row: amber while a warning is active, red while an error
    is or a platform fails, none once the target is back to good (an improvement)."""
    active = dict(start_findings)
    failing: set[str] = set()
    moments: list[tuple[float, str | None]] = [(x_of(None), _state_tone(active, failing))]
    for event in items:
        rule, change = event["rule_id"], event["change"]
        if change == "new_finding" and rule:
            active[rule] = event["severity_key"]
        elif change == "resolved" and rule:
            active.pop(rule, None)
        elif change == "verdict":
            failing |= set(event["platform_keys"])
        elif change == "verdict_recovers":
            failing -= set(event["platform_keys"])
        moments.append((x_of(event["at"]), _state_tone(active, failing)))
    segments: list[dict[str, Any]] = []
    for (x, tone), (x_next, _) in zip(moments, [*moments[1:], (x_end, None)], strict=True):
        if tone is None or x_next <= x:
            continue
        if segments and segments[-1]["tone"] == tone and segments[-1]["x2"] == x:
            segments[-1]["x2"] = x_next
        else:
            segments.append({"tone": tone, "x": x, "x2": x_next})
    return segments


def _forecast_timeline(
    events: list[dict[str, Any]],
    baseline: dict[str, str],
    start: datetime | None,
    days: int,
    cat: Catalog,
    start_findings: dict[str, dict[str, str]] | None = None,
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
        spans = _segments(items, (start_findings or {}).get(target, {}), x_of, x1)
        # long names keep their start and their port; the full name is the row's title
        label = target if len(target) <= 34 else target[:22] + "…" + target[-11:]
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
    offsets = list(range(0, days + 1, step))
    for offset in offsets:
        moment = _later(start, offset)
        ticks.append(
            {
                "x": x_of(moment) if moment else round(x0 + (x1 - x0) * offset / max(days, 1), 1),
                "top": cat.ui("fc_start") if offset == 0 else "+" + cat.ui("days", n=offset),
                "date": moment.strftime("%Y-%m-%d" if days > 300 else "%m-%d") if moment else "",
                # the last label ends at its tick, so it is not cut at the chart's edge
                "anchor": "end" if offset == offsets[-1] and offset else "middle",
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
        "legend": [
            (tone, cat.ui(key) if key else cat.get("severity", tone))
            for tone, key in _LEGEND
            if any(e["tone"] == tone for e in events)
        ],
        "more": max(0, len(by_target) - FORECAST_ROWS),
    }


def forecast_view(document: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """Everything forecast.html.j2 shows, from a ``certcheck-forecast`` document."""
    cat = catalog(lang)
    start = parse_when(document.get("from"))
    days = max(0, as_int(document.get("days")) or 0)
    end = _later(start, days)
    raw = [e for e in as_list(document.get("events")) if isinstance(e, dict)]
    raw.sort(key=lambda e: (as_str(e.get("at")), as_str(e.get("target")), as_str(e.get("rule_id"))))
    events = [_event_view(i, e, start, cat) for i, e in enumerate(raw)]
    baseline = {
        as_str(b.get("target"), "?"): overall_state(b.get("overall"))
        for b in map(as_dict, as_list(document.get("baseline")))
    }
    start_findings = {
        as_str(b.get("target"), "?"): {
            as_str(f.get("rule_id")): as_str(f.get("severity"))
            for f in map(as_dict, as_list(b.get("findings")))
        }
        for b in map(as_dict, as_list(document.get("baseline")))
    }
    days_grouped: list[dict[str, Any]] = []
    for event in events:
        if not days_grouped or days_grouped[-1]["day"] != event["day"]:
            days_grouped.append({"day": event["day"], "offset": event["offset"], "events": []})
        days_grouped[-1]["events"].append(event)
    for group in days_grouped:
        # the time too when every change of the day happens at the same instant
        times = {e["date"] for e in group["events"]}
        group["when"] = times.pop() if len(times) == 1 else group["day"]
    affected = {e["target"] for e in events}
    first_break = next((e for e in events if e["tone"] in ("error", "verdict")), None)
    worse = [e for e in events if e["tone"] != "better"]
    return {
        **page_common(document, cat),
        "from": show_time(document.get("from")),
        "from_iso": as_str(document.get("from")),
        "until": show_time(end.isoformat(), with_time=False) if end else "—",
        "days": days,
        "events": events,
        "days_grouped": days_grouped,
        "worse_count": len(worse),
        "better_count": len(events) - len(worse),
        "target_count": len(baseline) or len(affected),
        "affected": len(affected),
        "first_break": first_break,
        "quiet": [t for t, state in baseline.items() if t not in affected and state != "error"],
        "unscanned": [t for t, state in baseline.items() if state == "error"],
        "timeline": _forecast_timeline(events, baseline, start, days, cat, start_findings),
    }


def render_forecast_html(document: dict[str, Any], lang: str = "en") -> str:
    """The page for a forecast (ValueError: unknown ``lang``)."""
    return render_page("forecast.html.j2", forecast_view(document, lang), EXTRA_STYLES)
