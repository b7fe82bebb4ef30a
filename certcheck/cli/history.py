"""``certcheck history``: runs, changes and alerts in the monitoring history; prune."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from certcheck.cli.common import err, fail_usage, out
from certcheck.cli.monitor_common import CHANGE_STYLE, ConfigOpt, load_monitor_config, open_store
from certcheck.core.times import parse_instant
from certcheck.monitor import DEFAULT_FILE
from certcheck.report.i18n import languages

if TYPE_CHECKING:
    from certcheck.monitor.store import Store

_RELATIVE = re.compile(r"^(\d+)([dhw])$")


def _parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        hours = {"h": 1, "d": 24, "w": 24 * 7}[unit] * amount
        return datetime.now(UTC) - timedelta(hours=hours)
    try:
        moment = parse_instant(text)
    except ValueError:
        fail_usage(
            f"--since {text!r}: expected a date (2026-11-01), a time "
            "(2026-11-01T08:00) or an age (7d, 12h, 2w)"
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _history_store(config_path: Path, db: str | None) -> tuple[Store, tuple[int, ...]]:
    from certcheck.monitor.redact import Redactor

    if db is not None:
        url = db if "://" in db else f"sqlite:///{Path(db).resolve()}"
        if "://" not in db and not Path(db).is_file():
            fail_usage(f"--db {db!r}: no such file")
        return open_store(url, Redactor()), (30, 7, 1)
    config = load_monitor_config(config_path, strict_env=False)
    store = open_store(config.history_url, config.redactor)
    return store, tuple(sorted(set(config.thresholds.expiry_alert_days), reverse=True))


def _ready(store: Store) -> bool:
    """Open the history for reading; False when no run has created it yet."""
    from certcheck.monitor.lock import LockBusy
    from certcheck.monitor.migrations import SchemaError
    from certcheck.monitor.store import StoreError

    try:
        version = store.schema_version()
        if version is None:
            return False
        from certcheck.monitor.migrations import LATEST

        if version < LATEST:
            with store.lock(wait=60):
                store.migrate()
        elif version > LATEST:
            store.migrate()  # raises SchemaError with the explanation
    except (SchemaError, StoreError, LockBusy) as exc:
        fail_usage(str(exc))
    return True


class HistoryAction(StrEnum):
    prune = "prune"


def history(
    action: Annotated[
        HistoryAction | None,
        typer.Argument(
            help="prune: delete runs older than --keep-days (default: [history] keep_days); "
            "each target's latest result and undelivered alerts are kept."
        ),
    ] = None,
    config_path: ConfigOpt = Path(DEFAULT_FILE),
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="FILE|URL",
            help="Read this history (SQLite file or database URL) instead of the config's.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", metavar="HOST[:PORT]", help="Only this target."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="DATE", help="Only since DATE (2026-11-01, or an age: 7d, 12h)."
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", metavar="FILE", help="Write the HTML change log and timeline."),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            metavar="FILE",
            help="Write the same as a certcheck-history JSON document ('-' for stdout).",
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", metavar="N", min=1, max=100000, help="Show at most this many rows."
        ),
    ] = 50,
    keep_days: Annotated[
        int | None,
        typer.Option("--keep-days", metavar="N", min=1, max=36500, help="With prune: keep N days."),
    ] = None,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the HTML page: en or zh.")
    ] = "en",
) -> None:
    """List monitor runs and the changes they found (or render them as HTML), or prune them."""
    if action is HistoryAction.prune:
        _prune(config_path, db, keep_days)
        return
    moment = _parse_since(since)
    if lang not in languages():
        fail_usage(f"--lang {lang!r}: choose one of {', '.join(languages())}")
    store, thresholds = _history_store(config_path, db)
    try:
        if not _ready(store):
            out.print(
                f"no history yet in {store.label} (certcheck monitor creates it)", markup=False
            )
            return
        if html is not None or json_path is not None:
            _write_history(store, moment, target, thresholds, html, json_path, lang)
            return
        _print_history(store, moment, target, limit)
    finally:
        store.close()


def _write_history(
    store: Store,
    since: datetime | None,
    target: str | None,
    thresholds: tuple[int, ...],
    html: Path | None,
    json_path: Path | None,
    lang: str = "en",
) -> None:
    """The history document as JSON and/or its HTML page: one document, read once."""
    from certcheck.monitor.history_document import history_document, worded
    from certcheck.report.history_page import render_history

    document = history_document(store, since=since, target=target, thresholds=thresholds)
    if json_path is not None:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if str(json_path) == "-":
            sys.stdout.write(text)
        else:
            _write_file("--json", json_path, text, to_stdout=True)
    if html is not None:
        page = render_history(worded(document, lang), lang)
        _write_file("--html", html, page, str(json_path) != "-")


def _write_file(option: str, path: Path, text: str, to_stdout: bool) -> None:
    """Write ``text``; say so on stdout, or on stderr when stdout carries the JSON."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail_usage(f"{option} {str(path)!r}: {exc.strerror or exc}")
    (out if to_stdout else err).print(f"wrote {path}", markup=False)


def _prune(config_path: Path, db: str | None, keep_days: int | None) -> None:
    from certcheck.monitor.lock import LockBusy

    if keep_days is None:
        if db is not None:
            fail_usage("history prune --db: give --keep-days N")
        keep_days = load_monitor_config(config_path, strict_env=False).file.history.keep_days
        if keep_days is None:
            fail_usage(
                f"history prune: give --keep-days N or set [history] keep_days in {config_path}"
            )
    store, _ = _history_store(config_path, db)
    try:
        if not _ready(store):
            out.print(f"no history yet in {store.label}", markup=False)
            return
        try:
            with store.lock(wait=60):  # not while a monitor run writes
                counts = store.prune(datetime.now(UTC) - timedelta(days=keep_days))
        except LockBusy as exc:
            fail_usage(str(exc))
        done = ", ".join(f"{n} {what}" for what, n in counts.items())
        out.print(f"pruned history older than {keep_days} day(s): {done}", markup=False)
    finally:
        store.close()


def _print_history(store: Store, since: datetime | None, target: str | None, limit: int) -> None:
    runs = store.list_runs(since=since, limit=limit)
    table = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
    for column in ("run", "started (UTC)", "status", "targets", "changes", "exit"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            str(run.id),
            f"{run.started_at:%Y-%m-%d %H:%M}",
            run.status,
            f"{run.targets_done}/{run.targets_total}",
            str(run.changes),
            "—" if run.exit_code is None else str(run.exit_code),
        )
    out.print(Text("Runs", "bold"))
    out.print(table if runs else Text("  none"))
    changes = store.list_changes(since=since, target=target, limit=limit)
    out.print()
    out.print(Text("Changes" + (f" for {target}" if target else ""), "bold"))
    if not changes:
        out.print("  none", markup=False)
    width = max((len(c.target) for c in changes), default=0)
    for change in reversed(changes):  # the newest `limit`, oldest first
        line = Text(f"  {change.created_at:%Y-%m-%d %H:%M}  {change.target:{width}}  ")
        line.append(
            f"{'ok' if change.good else change.severity:8}",
            CHANGE_STYLE["ok" if change.good else change.severity],
        )
        line.append(f" {change.kind:18} {change.summary}")
        out.print(line, soft_wrap=True)
    outbox = store.outbox_summary()
    for channel, info in sorted(outbox.items()):
        last = f" (last error: {info['last_error']})" if info.get("last_error") else ""
        out.print(
            f"\n{info['pending']} alert(s) waiting for delivery to {channel!r}{last}",
            markup=False,
        )
