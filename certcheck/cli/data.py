"""``certcheck data update`` / ``data status`` / ``data reset``: refresh the trust tables
from their upstream sources without upgrading certcheck, and say which copy is in use."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from certcheck import datadir, trustdata
from certcheck.cli.common import err, fail_usage, out
from certcheck.freshness import STALE_AFTER_DAYS, table_ages
from certcheck.trustdata import TableBuilder

#: exit code when the tables could not be refreshed (download, parse or check failed;
#: the data in use is unchanged)
EXIT_NOT_UPDATED = 3

DATA_HELP = (
    "Refreshed tables live in $CERTCHECK_DATA_DIR, else $XDG_DATA_HOME/certcheck, else "
    "~/.local/share/certcheck; a refreshed table is used instead of the packaged one. "
    f"Exit codes: 0 done; 2 usage error; {EXIT_NOT_UPDATED} not updated (download or check "
    "failed: the data in use is unchanged)."
)

data_app = typer.Typer(
    help="Refresh the root-store tables from upstream, or show which copy is in use.\n\n"
    + DATA_HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def _builders() -> dict[str, TableBuilder]:
    """Every builder; one whose module fails to import is named and left out."""
    try:
        return dict(trustdata.builders())
    except Exception as exc:  # noqa: BLE001 - a broken builder must not hide the others
        err.print(f"certcheck: warning: a table builder failed to load: {exc}", markup=False)
        return dict(trustdata.BUILDERS)


@data_app.command("update", epilog=DATA_HELP)
def update(
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Read the upstream files from this directory (offline), named as "
            "`data status --files` lists them.",
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Refresh only this table (e.g. platforms/android_roots.tsv)."),
    ] = None,
    source_url: Annotated[
        str | None,
        typer.Option(
            "--source-url",
            help="Download from this base URL instead (a mirror with the upstream paths); "
            "also $CERTCHECK_DATA_SOURCE_URL.",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per download.")] = 30.0,
) -> None:
    """Download the upstream files, rebuild the tables, check them, then switch to them."""
    from certcheck.trustdata import update as updater

    known = _builders()
    chosen_names = list(only) if only else sorted(known)
    unknown = [name for name in chosen_names if name not in known]
    if unknown:
        fail_usage(
            f"no builder for {', '.join(unknown)} (refreshable: {', '.join(sorted(known))})"
        )
    if from_dir is not None and not from_dir.is_dir():
        fail_usage(f"--from {from_dir}: not a directory")
    if timeout <= 0:
        fail_usage("--timeout must be positive")
    base = source_url or os.environ.get(updater.ENV_SOURCE) or None
    if base is not None:
        try:
            updater.check_url(base + "/")
        except updater.UpdateError as exc:
            fail_usage(f"--source-url: {exc}")
    directory = datadir.data_dir()
    try:
        built = updater.update(
            [known[name] for name in chosen_names],
            directory=directory,
            from_dir=from_dir,
            source_url=base,
            timeout=timeout,
        )
    except updater.UpdateError as exc:
        err.print(f"certcheck: data not updated: {exc}", markup=False)
        raise typer.Exit(EXIT_NOT_UPDATED) from None
    for item in built:
        day = item.snapshot.isoformat() if item.snapshot else "no snapshot date"
        out.print(f"updated {item.table} (snapshot {day})", highlight=False)
    out.print(f"in {directory}", highlight=False)


@data_app.command("status", epilog=DATA_HELP)
def status(
    files: Annotated[
        bool, typer.Option("--files", help="Also list the upstream files each table is built from.")
    ] = False,
) -> None:
    """Which copy of each data table is in use (packaged or refreshed) and how old it is."""
    today = datetime.now(UTC).date()
    directory = datadir.data_dir()
    known = _builders()
    out.print(f"data directory: {directory}", highlight=False)
    if (directory / datadir.MANIFEST).exists() and not datadir.read_manifest(directory):
        out.print(f"{datadir.MANIFEST} unreadable or empty: the packaged tables are in use",
                  highlight=False)
    rows = [("table", "copy in use", "snapshot", "age", "refreshed by")]
    for age in table_ages(today):
        entry, state = datadir.user_state(age.file, directory)
        copy = age.copy
        if entry is not None and state != "ok":
            copy = f"packaged (refreshed copy {state}: ignored)"
        elif copy == "user" and entry is not None:
            copy = f"refreshed {entry.fetched_at}"
        days = "" if age.age_days is None else f"{age.age_days} d"
        if age.changes_verdicts and age.age_days is not None and age.age_days > STALE_AFTER_DAYS:
            days += " (stale)"
        snapshot = age.snapshot.isoformat() if age.snapshot else "unknown"
        refresh = "certcheck data update" if age.file in known else "a certcheck release"
        rows.append((age.file, copy, snapshot, days, refresh))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.print("  ".join([*cells, row[-1]]), highlight=False, soft_wrap=True)
    if files:
        for name, builder in sorted(known.items()):
            for upstream in builder.upstream:
                out.print(f"{name}: {upstream.name} <- {upstream.url}", highlight=False,
                          soft_wrap=True)


@data_app.command("reset", epilog=DATA_HELP)
def reset(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Forget only this table's refreshed copy.")
    ] = None,
) -> None:
    """Forget the refreshed copies: use the packaged tables again."""
    from certcheck.trustdata import update as updater

    directory = datadir.data_dir()
    tables = list(only) if only else list(datadir.read_manifest(directory))
    try:
        dropped = updater.remove(directory, tables)
    except updater.UpdateError as exc:
        err.print(f"certcheck: data not reset: {exc}", markup=False)
        raise typer.Exit(EXIT_NOT_UPDATED) from None
    out.print(
        "packaged copy in use again: " + (", ".join(dropped) if dropped else "nothing to reset"),
        highlight=False,
    )
