"""The history page: renders a ``certcheck-history`` document as one self-contained page.

No script, nothing loaded, autoescaped, styled with the audit report's stylesheet
(``templates/report.css``) so both pages look alike.  Each target gets an inline SVG of
days-to-expiry per run with the expiry thresholds drawn in, and a table of its verdicts
over time.  Everything shown comes from the document (:mod:`certcheck.monitor.history_document`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from certcheck.model import VERDICT_PLATFORMS
from certcheck.report.chrome import as_str, common_name, parse_when, render_page
from certcheck.report.i18n import Catalog, catalog

CHART_WIDTH, CHART_HEIGHT = 720, 180
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 48, 16, 12, 28


def _show(text: str | None) -> str:
    moment = parse_when(text)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "—"


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


def _chart(history: TargetHistory, thresholds: tuple[int, ...], cat: Catalog) -> None:
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
                cat.ui(
                    "hist_point",
                    when=row["shown"],
                    n=row["days_left"],
                    verdict=cat.get("verdict", row["overall"]),
                ),
            )
        )
    history.polyline = " ".join(f"{p.x},{p.y}" for p in history.points)
    for value, label in [(0.0, "0"), *((float(t), str(t)) for t in thresholds)]:
        y = y_of(value)
        crowded = any(abs(line["y"] - y) < 12 for line in history.lines)
        if low <= value <= high and not crowded:
            history.lines.append({"y": y, "label": label, "zero": value == 0})
    first = datetime.fromtimestamp(t0, UTC).strftime("%Y-%m-%d")
    history.x_labels = [{"x": x_of(t0), "text": first, "anchor": "start"}]
    if t1 > t0:
        last = datetime.fromtimestamp(t1, UTC).strftime("%Y-%m-%d")
        history.x_labels.append({"x": x_of(t1), "text": last, "anchor": "end"})


def _target(
    index: int, entry: dict[str, Any], thresholds: tuple[int, ...], cat: Catalog
) -> TargetHistory:
    history = TargetHistory(entry["target"], f"t-{index}")
    for result in entry["results"]:
        verdicts = result.get("verdicts") or {}
        days = result.get("days_left")
        history.rows.append(
            {
                "at": parse_when(result["at"]),
                "shown": _show(result["at"]),
                "run_id": result["run_id"],
                "overall": result["overall"],
                "verdicts": [(p, verdicts.get(p, "unknown")) for p in VERDICT_PLATFORMS],
                "days_left": days,
                "days_text": "—" if days is None else str(days),
                "sha256": (result.get("leaf_sha256") or "")[:16],
                "issuer": common_name(as_str(result.get("issuer"))),
                "error": result.get("error_kind"),
            }
        )
    _chart(history, thresholds, cat)
    history.rows.reverse()  # newest first in the table
    return history


def page_view(document: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """The template's view of a history document (ValueError: unknown ``lang``)."""
    cat = catalog(lang)
    thresholds = tuple(document.get("thresholds") or (30, 7, 1))
    targets = [_target(i, t, thresholds, cat) for i, t in enumerate(document["targets"])]
    anchors = {t.label: t.anchor for t in targets}
    return {
        "t": cat,
        "lang": cat.html_lang,
        "generated": _show(document["generated"]),
        "tool_version": document["tool"]["version"],
        "database": document["database"],
        "since": _show(document["since"]) if document.get("since") else None,
        "target": document.get("target"),
        "runs": [
            {**r, "started": _show(r["started"]), "exit_code": _or_dash(r["exit_code"])}
            for r in document["runs"]
        ],
        "changes": [
            {
                **c,
                "at": _show(c["at"]),
                "anchor": anchors.get(c["target"]),
            }
            for c in document["changes"]
        ],
        "targets": targets,
        "platforms": [(p, cat.get("platform", p)) for p in VERDICT_PLATFORMS],
        "outbox": [
            (name, {**info, "last_attempt": _show(info.get("last_attempt"))})
            for name, info in sorted(document["outbox"].items())
        ],
        "chart": {
            "width": CHART_WIDTH,
            "height": CHART_HEIGHT,
            "left": _PAD_LEFT,
            "right": CHART_WIDTH - _PAD_RIGHT,
            "bottom": CHART_HEIGHT - _PAD_BOTTOM + 16,
        },
    }


def _or_dash(value: object) -> object:
    return "—" if value is None else value


def render_history(document: dict[str, Any], lang: str = "en") -> str:
    """The history page of a ``certcheck-history`` document, in ``lang``."""
    return render_page("history.html.j2", page_view(document, lang), ("report.css",))
