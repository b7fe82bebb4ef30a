"""The history document (kind ``certcheck-history``): the store's runs, changes and timeline.

``certcheck history --json FILE`` writes it and ``certcheck history --html FILE`` renders
it (:mod:`certcheck.report.history_page`), so the page shows exactly what the document
holds and nothing is read from the database while rendering.  Times are ISO 8601 UTC;
days left are whole days (:func:`certcheck.core.times.whole_days`, the rounding every
report uses).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from certcheck import __version__
from certcheck.core.times import iso as iso_instant
from certcheck.core.times import whole_days
from certcheck.model import VERDICT_PLATFORMS
from certcheck.monitor.changes import PLATFORM_NAMES, localized_summary
from certcheck.monitor.store import Store
from certcheck.report.i18n import DEFAULT_LANG, catalog

KIND = "certcheck-history"
SCHEMA_VERSION = "1.0"


def iso(moment: datetime | None) -> str | None:
    """:func:`certcheck.core.times.iso` in UTC; naive times from the store are UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso_instant(moment.astimezone(UTC))


def _days(value: float | None) -> int | None:
    return None if value is None else whole_days(value)


def history_document(
    store: Store,
    *,
    since: datetime | None,
    target: str | None,
    thresholds: tuple[int, ...] = (30, 7, 1),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything the history page shows, as a JSON-ready document."""
    targets: dict[str, list[dict[str, Any]]] = {}
    for row in store.timeline(since=since, target=target):
        verdicts = row.verdicts or {}
        targets.setdefault(row.target, []).append(
            {
                "at": iso(row.evaluated_at),
                "run_id": row.run_id,
                "overall": row.overall,
                "verdicts": {p: verdicts.get(p, "unknown") for p in VERDICT_PLATFORMS},
                "days_left": _days(row.days_left),
                "leaf_sha256": row.leaf_sha256,
                "issuer": row.issuer,
                "error_kind": row.error_kind,
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "tool": {"name": "certcheck", "version": __version__},
        "generated": iso(now or datetime.now(UTC)),
        "database": store.label,
        "since": iso(since),
        "target": target,
        "thresholds": list(thresholds),
        "platforms": {p: PLATFORM_NAMES[p] for p in VERDICT_PLATFORMS},
        "runs": [
            {
                "id": r.id,
                "started": iso(r.started_at),
                "status": r.status,
                "done": r.targets_done,
                "total": r.targets_total,
                "changes": r.changes,
                "exit_code": r.exit_code,
            }
            for r in store.list_runs(since=since, limit=200)
        ],
        "changes": [
            {
                "at": iso(c.created_at),
                "target": c.target,
                "kind": c.kind,
                "severity": c.severity,
                "good": bool(c.good),
                "summary": c.summary,
                # what the summary was made of: the page words it in its language
                "rule_id": (c.detail or {}).get("rule_id"),
                "detail": dict(c.detail or {}),
            }
            for c in store.list_changes(since=since, target=target)
        ],
        "targets": [
            {"target": name, "results": rows} for name, rows in sorted(targets.items())
        ],
        "outbox": {
            name: {
                "pending": info["pending"],
                "last_attempt": iso(info.get("last_attempt")),
                "last_error": info.get("last_error"),
            }
            for name, info in sorted(store.outbox_summary().items())
        },
    }


def worded(document: dict[str, Any], lang: str) -> dict[str, Any]:
    """``document`` with each change's headline in ``lang`` (for the HTML page; the JSON
    keeps the stored English).  A change that does not carry what a translation needs
    keeps its stored headline."""
    if lang == DEFAULT_LANG:
        return document
    cat = catalog(lang)
    changes = [
        {**c, "summary": localized_summary(c, cat)} if isinstance(c.get("detail"), dict) else c
        for c in document.get("changes", [])
    ]
    return {**document, "changes": changes}

