"""How old the shipped data tables are: a stale distrust list is a silent false pass."""

from __future__ import annotations

from datetime import date

from certcheck.platforms import data_sources

#: Data older than this is called out in every report.
STALE_AFTER_DAYS = 180


def stale_tables(today: date) -> list[dict[str, object]]:
    """Every shipped data table whose facts snapshot is older than STALE_AFTER_DAYS."""
    return [
        {"file": s.file, "snapshot": s.snapshot.isoformat(), "age_days": (today - s.snapshot).days}
        for s in data_sources()
        if (today - s.snapshot).days > STALE_AFTER_DAYS
    ]


def stale_note(today: date) -> str | None:
    stale = stale_tables(today)
    if not stale:
        return None
    oldest = max(stale, key=lambda s: int(str(s["age_days"])))
    return (
        f"note: {len(stale)} shipped data table(s) are older than {STALE_AFTER_DAYS} days "
        f"(oldest: {oldest['file']}, {oldest['age_days']} d); upgrade certcheck for current "
        "root stores and distrust lists (certcheck rules --data)"
    )
