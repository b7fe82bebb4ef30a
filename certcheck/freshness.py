"""How old the data behind a verdict is: a stale root store or distrust list is a silent
false pass (a removed root still "trusted") or a false fail (a new root "unknown").

Ages count from each table's *snapshot* date (the newest upstream fact it holds: the
``snapshot`` of rules/sources.toml, or the one ``certcheck data update`` recorded for a
refreshed copy), not from when certcheck was installed or released.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatch

from certcheck import datadir
from certcheck.platforms import data_sources

#: A verdict-changing table older than this is called out in every report.
STALE_AFTER_DAYS = 180
#: The command that refreshes the tables a builder makes (certcheck.trustdata).
REFRESH_COMMAND = "certcheck data update"

#: Tables whose age can change a verdict, so their age is worth a note:
#: * ``platforms/*`` root stores: a root added or removed upstream since the snapshot makes
#:   a simulated client wrongly fail or pass;
#: * ``distrusted_cas.toml``: a distrust decided since is a false pass;
#: * ``clients.toml``: new releases (their stores, protocols, groups) are missing.
#: Not noted: the rule catalog, references and policy profiles (certcheck's own rules, which
#: change with the code, not with time); ``compromised_roots.toml`` (disclosed keys are
#: historic events: an old entry does not become less true, and new ones come with new
#: rules); ``miniprogram.toml`` (documentation facts the rules are written against).
VERDICT_TABLES = ("platforms/*", "distrusted_cas.toml", "clients.toml")


@dataclass(frozen=True)
class TableAge:
    """One data table: which copy is in use and how old its facts are."""

    file: str
    snapshot: date | None
    age_days: int | None
    copy: str  # "packaged" or "user" (refreshed by certcheck data update)
    changes_verdicts: bool
    refreshable: bool  # certcheck data update can refresh it


def _refreshable() -> set[str]:
    """Tables a builder makes; a builder module that fails to import must not stop a report."""
    from certcheck import trustdata

    try:
        return set(trustdata.builders())
    except Exception:  # noqa: BLE001 - any import-time failure of a builder module
        return set(trustdata.BUILDERS)


def table_ages(today: date) -> list[TableAge]:
    """Every data table of rules/sources.toml, the refreshed copy's date where one is used."""
    refreshable = _refreshable()
    out = []
    for source in data_sources():
        snapshot: date | None = source.snapshot
        copy = "packaged"
        entry, state = datadir.user_state(source.file)
        if entry is not None and state == "ok":
            copy, snapshot = "user", entry.snapshot
        out.append(
            TableAge(
                file=source.file,
                snapshot=snapshot,
                age_days=(today - snapshot).days if snapshot else None,
                copy=copy,
                changes_verdicts=any(fnmatch(source.file, p) for p in VERDICT_TABLES),
                refreshable=source.file in refreshable,
            )
        )
    return out


def stale_tables(today: date) -> list[dict[str, object]]:
    """Every verdict-changing table whose snapshot is older than STALE_AFTER_DAYS."""
    return [
        {
            "file": t.file,
            "snapshot": t.snapshot.isoformat() if t.snapshot else None,
            "age_days": t.age_days,
            "copy": t.copy,
        }
        for t in table_ages(today)
        if t.changes_verdicts and t.age_days is not None and t.age_days > STALE_AFTER_DAYS
    ]


def stale_note(today: date) -> str | None:
    """One line for the console report, or None when every verdict table is recent."""
    ages = [
        t for t in table_ages(today)
        if t.changes_verdicts and t.age_days is not None and t.age_days > STALE_AFTER_DAYS
    ]
    if not ages:
        return None
    oldest = max(ages, key=lambda t: t.age_days or 0)
    assert oldest.snapshot is not None
    if any(t.refreshable for t in ages):
        advice = f"`{REFRESH_COMMAND}` refreshes the root stores"
    else:
        advice = "a newer certcheck brings newer distrust lists and client profiles"
    return (
        f"note: {len(ages)} data table(s) behind these verdicts are over {STALE_AFTER_DAYS} "
        f"days past their snapshot (oldest: {oldest.file}, snapshot "
        f"{oldest.snapshot.isoformat()}, {oldest.age_days} d); {advice} "
        "(certcheck data status lists them)"
    )
