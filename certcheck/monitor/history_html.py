"""``certcheck history --html FILE``: the change log and each target's results over time.

One self-contained page (no script, nothing loaded), autoescaped, styled with
the audit report's stylesheet (``templates/report.css``) so both pages look
alike.  Each target gets an inline SVG of days-to-expiry per run with the
expiry thresholds drawn in, and a table of its verdicts over time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from certcheck import __version__
from certcheck.core.times import whole_days
from certcheck.model import VERDICT_PLATFORMS
from certcheck.monitor.changes import PLATFORM_NAMES
from certcheck.monitor.store import Store
from certcheck.report.safetext import html_visible

CHART_WIDTH, CHART_HEIGHT = 720, 180
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 48, 16, 12, 28


def _show(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "—"


def _cn(subject: str | None) -> str:
    for part in (subject or "").split(","):
        key, _, value = part.partition("=")
        if key.strip().upper() == "CN" and value:
            return value.strip()
    return subject or "—"


@dataclass
class Point:
    x: float
    y: float
    tone: str
    title: str


@dataclass
class TargetHistory:
    label: str
    anchor: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    polyline: str = ""
    lines: list[dict[str, Any]] = field(default_factory=list)
    x_labels: list[dict[str, Any]] = field(default_factory=list)


def _chart(history: TargetHistory, thresholds: tuple[int, ...]) -> None:
    """Geometry of the days-to-expiry chart (SVG coordinates)."""
    dated = [r for r in history.rows if r["days_left"] is not None]
    if not dated:
        return
    times = [r["at"].timestamp() for r in dated]
    days = [r["days_left"] for r in dated]
    t0, t1 = min(times), max(times)
    low = min(0.0, min(days))
    high = max(max(days), max(thresholds, default=30)) * 1.05 or 1.0
    plot_w = CHART_WIDTH - _PAD_LEFT - _PAD_RIGHT
    plot_h = CHART_HEIGHT - _PAD_TOP - _PAD_BOTTOM

    def x_of(stamp: float) -> float:
        return round(_PAD_LEFT + (plot_w * (stamp - t0) / (t1 - t0) if t1 > t0 else plot_w / 2), 1)

    def y_of(value: float) -> float:
        return round(_PAD_TOP + plot_h * (high - value) / (high - low), 1)

    for row, stamp in zip(dated, times, strict=True):
        history.points.append(
            Point(
                x_of(stamp),
                y_of(row["days_left"]),
                row["overall"],
                f"{_show(row['at'])}: {whole_days(row['days_left'])} days, {row['overall']}",
            )
        )
    history.polyline = " ".join(f"{p.x},{p.y}" for p in history.points)
    for value, label in [(0.0, "0"), *((float(t), str(t)) for t in thresholds)]:
        y = y_of(value)
        crowded = any(abs(line["y"] - y) < 12 for line in history.lines)
        if low <= value <= high and not crowded:
            history.lines.append({"y": y, "label": label, "zero": value == 0})
    history.x_labels = [
        {"x": x_of(t0), "text": _show(datetime.fromtimestamp(t0, UTC))[:10], "anchor": "start"},
    ]
    if t1 > t0:
        history.x_labels.append(
            {"x": x_of(t1), "text": _show(datetime.fromtimestamp(t1, UTC))[:10], "anchor": "end"}
        )


def build_view(
    store: Store,
    *,
    since: datetime | None,
    target: str | None,
    thresholds: tuple[int, ...] = (30, 7, 1),
    now: datetime | None = None,
) -> dict[str, Any]:
    runs = store.list_runs(since=since, limit=200)
    changes = store.list_changes(since=since, target=target)
    histories: dict[str, TargetHistory] = {}
    for row in store.timeline(since=since, target=target):
        history = histories.setdefault(row.target, TargetHistory(row.target, f"t-{len(histories)}"))
        verdicts = row.verdicts or {}
        history.rows.append(
            {
                "at": row.evaluated_at,
                "shown": _show(row.evaluated_at),
                "run_id": row.run_id,
                "overall": row.overall,
                "verdicts": [(p, verdicts.get(p, "unknown")) for p in VERDICT_PLATFORMS],
                "days_left": row.days_left,
                "days_text": "—" if row.days_left is None else str(whole_days(row.days_left)),
                "sha256": (row.leaf_sha256 or "")[:16],
                "issuer": _cn(row.issuer),
                "error": row.error_kind,
            }
        )
    for history in histories.values():
        _chart(history, thresholds)
        history.rows.reverse()  # newest first in the table
    return {
        "generated": _show(now or datetime.now(UTC)),
        "tool_version": __version__,
        "database": store.label,
        "since": _show(since) if since else None,
        "target": target,
        "runs": [
            {
                "id": r.id,
                "started": _show(r.started_at),
                "status": r.status,
                "done": r.targets_done,
                "total": r.targets_total,
                "changes": r.changes,
                "exit_code": "—" if r.exit_code is None else r.exit_code,
            }
            for r in runs
        ],
        "changes": [
            {
                "at": _show(c.created_at),
                "target": c.target,
                "anchor": histories[c.target].anchor if c.target in histories else None,
                "kind": c.kind,
                "severity": c.severity,
                "good": c.good,
                "summary": c.summary,
            }
            for c in changes
        ],
        "targets": sorted(histories.values(), key=lambda h: h.label),
        "platforms": [(p, PLATFORM_NAMES[p]) for p in VERDICT_PLATFORMS],
        "outbox": [
            (name, {**info, "last_attempt": _show(info["last_attempt"])})
            for name, info in sorted(store.outbox_summary().items())
        ],
        "chart": {
            "width": CHART_WIDTH,
            "height": CHART_HEIGHT,
            "left": _PAD_LEFT,
            "right": CHART_WIDTH - _PAD_RIGHT,
            "bottom": CHART_HEIGHT - _PAD_BOTTOM + 16,
        },
    }


def _template_source(name: str) -> str:
    return resources.files("certcheck.templates").joinpath(name).read_text(encoding="utf-8")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=html_visible,
    )


def _stylesheet() -> str:
    try:
        return _template_source("report.css")
    except FileNotFoundError:
        return ""


def render_history(store: Store, **options: Any) -> str:
    """The history page for ``store`` (options as for :func:`build_view`)."""
    view = build_view(store, **options)
    view["style"] = Markup(_stylesheet())
    return _environment().get_template("history.html.j2").render(**view)
