"""Scheduled monitoring commands: ``init``, ``monitor``, ``history``, ``notify-test``."""

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

from certcheck.cli.common import EXIT_CODES_HELP, err, fail_usage, out
from certcheck.cli.options import FailOn
from certcheck.exitcodes import EXIT_HISTORY_BUSY
from certcheck.monitor import DEFAULT_FILE
from certcheck.report import console as console_report
from certcheck.report.safetext import visible

if TYPE_CHECKING:  # the monitor modules (SQLAlchemy, pydantic) load only when a command runs
    from certcheck.monitor.config import MonitorConfig
    from certcheck.monitor.redact import Redactor
    from certcheck.monitor.run import MonitorOutcome
    from certcheck.monitor.store import Store

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        envvar="CERTCHECK_CONFIG",
        help="Monitoring configuration file (certcheck init writes an example).",
    ),
]
MONITOR_HELP = (
    EXIT_CODES_HELP + " 5 another monitor run of the same targets (or shard) holds the "
    "history; 6 with --fail-on-delivery: an alert is still undelivered or was given up "
    "(wins over 0, 1 and 3)."
)


def _config(path: Path, strict_env: bool = True) -> MonitorConfig:
    from certcheck.monitor.config import ConfigError, load_config

    try:
        return load_config(path, strict_env)
    except ConfigError as exc:
        fail_usage(str(exc))


def _open_store(url: str, redactor: Redactor) -> Store:
    from certcheck.monitor.store import Store, StoreError

    try:
        return Store.open(url, redactor)
    except StoreError as exc:
        fail_usage(str(exc))


# -- init -------------------------------------------------------------------------------------


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example configuration.")] = Path(
        DEFAULT_FILE
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example monitoring configuration (certcheck.toml)."""
    from certcheck.monitor.example import EXAMPLE_CONFIG

    if path.exists() and not force:
        fail_usage(f"{str(path)!r} already exists (use --force to overwrite it)")
    try:
        path.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    except OSError as exc:
        fail_usage(f"{str(path)!r}: {exc.strerror or exc}")
    out.print(
        f"wrote {path}: edit the targets and channels, then run certcheck monitor --config {path}",
        markup=False,
    )


# -- monitor ----------------------------------------------------------------------------------


_STYLE = {"error": "red", "warning": "yellow", "info": "cyan", "ok": "green"}


def _change_lines(outcome: MonitorOutcome, redactor: Redactor, everything: bool) -> list[Text]:
    lines: list[Text] = []
    for target in outcome.outcomes:
        shown = [c for c in target.changes if c.kind != "first_seen" and (everything or c.notify)]
        message = target.alert
        if not shown and not (message and message.kind == "reminder"):
            continue
        lines.append(Text(visible(target.monitored.key), "bold"))
        if message is not None and message.kind == "reminder":
            lines.append(Text("  reminder: still standing", "bold"))
            for item in message.items:
                lines.append(Text(f"  {item['severity']:8} ", _STYLE[item["severity"]]))
                lines[-1].append(visible(redactor.scrub(item["summary"])))
            continue
        for change in shown:
            word = "ok" if change.good else change.severity
            line = Text(f"  {word:8} ", _STYLE["ok" if change.good else change.severity])
            line.append(visible(redactor.scrub(change.summary)))
            if not change.notify:
                line.append("  (recorded, not alerted)", "dim")
            lines.append(line)
            if change.fix and not change.good and change.notify:
                lines.append(Text(f"           fix: {visible(change.fix)}", "dim"))
    return lines


def _delivery_lines(outcome: MonitorOutcome) -> tuple[list[str], list[str]]:
    """(information for stdout, problems for stderr)."""
    info: list[str] = []
    problems: list[str] = []
    report = outcome.delivery
    if report.sent:
        per: dict[str, int] = {}
        for channel, _title in report.sent:
            per[channel] = per.get(channel, 0) + 1
        info.append("alerts sent: " + ", ".join(f"{n} to {c}" for c, n in sorted(per.items())))
    for channel, error in sorted(report.failed.items()):
        waiting = report.pending.get(channel, 0)
        problems.append(
            f"certcheck: alert delivery to {channel!r} failed: {error}; "
            f"{waiting} alert(s) kept and retried on the next run"
        )
    for channel, waiting in sorted(report.pending.items()):
        if channel not in report.failed:
            problems.append(
                f"certcheck: {waiting} alert(s) for {channel!r} are still waiting for delivery"
            )
    for channel, error in sorted(report.rejected.items()):
        if channel not in report.failed:
            problems.append(
                f"certcheck: {channel!r} rejected an alert: {error}; the others went on"
            )
    for text in report.abandoned:
        problems.append(f"certcheck: alert abandoned: {text}")
    for text in report.gave_up:
        problems.append(f"certcheck: alert failed: {text}")
    if report.resent:
        info.append(f"{report.resent} alert(s) left in flight by a killed run: sent again, same id")
    return info, problems


def monitor(
    config_path: ConfigOpt = Path(DEFAULT_FILE),
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print nothing unless something changed (for cron mail)."
        ),
    ] = False,
    textfile: Annotated[
        Path | None,
        typer.Option(
            "--prometheus-textfile",
            metavar="PATH",
            help="Write metrics for node_exporter's textfile collector to PATH (atomically).",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            max=86400,
            help="If another run holds the history, wait up to this long (default: exit).",
        ),
    ] = 0.0,
    fail_on: Annotated[
        FailOn | None,
        typer.Option("--fail-on", help="Override the configuration's fail_on."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also list changes that are not alerted.")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Monitor only part K of N of the targets (stable split, as scan --shard); "
            "the shards of one configuration may run at the same time on one history.",
        ),
    ] = None,
    fail_on_delivery: Annotated[
        bool,
        typer.Option(
            "--fail-on-delivery",
            help="Exit 6 when an alert is still undelivered after the run (or was given up).",
        ),
    ] = False,
) -> None:
    """Scan every configured target, record the run, alert on changes."""
    from certcheck.monitor.config import ConfigError
    from certcheck.monitor.lock import LockBusy
    from certcheck.monitor.migrations import SchemaError
    from certcheck.monitor.run import run_monitor
    from certcheck.monitor.store import StoreError
    from certcheck.targets import TargetError, parse_shard

    try:
        part = parse_shard(shard) if shard is not None else None
    except TargetError as exc:
        fail_usage(str(exc))
    config = _config(config_path)
    if textfile is not None and not textfile.parent.is_dir():
        fail_usage(f"--prometheus-textfile {str(textfile)!r}: the folder does not exist")
    store = _open_store(config.history_url, config.redactor)
    try:
        outcome = run_monitor(
            config,
            store,
            wait=wait,
            fail_on=fail_on.value if fail_on else None,
            textfile=textfile,
            shard=part,
            fail_on_delivery=fail_on_delivery,
        )
    except LockBusy as exc:
        err.print(f"certcheck: {config.redactor.scrub(str(exc))}", markup=False)
        raise typer.Exit(EXIT_HISTORY_BUSY) from None
    except (ConfigError, StoreError, SchemaError) as exc:
        fail_usage(config.redactor.scrub(str(exc)))
    except OSError as exc:
        fail_usage(config.redactor.scrub(f"{exc.filename or ''}: {exc.strerror or exc}"))
    finally:
        store.close()
    info, problems = _delivery_lines(outcome)
    changes = _change_lines(outcome, config.redactor, everything=verbose)
    if not quiet or outcome.changed:
        total = len(outcome.outcomes)
        counted = sum(1 for o in outcome.outcomes for c in o.changes if c.kind != "first_seen")
        waiting = sum(outcome.delivery.pending.values())
        where = f" (shard {shard})" if part else ""
        out.print(
            f"certcheck monitor: run {outcome.run_id}, {total} target(s){where}, "
            f"{counted} change(s), {waiting} alert(s) pending, history {store.label}",
            markup=False,
            soft_wrap=True,
        )
    if not quiet:
        if outcome.interrupted_before:
            out.print(
                "(an earlier run was interrupted; its finished targets were kept)", markup=False
            )
        out.print(console_report.summary_table(outcome.results))
    if changes and (not quiet or outcome.changed):
        out.print()
        for line in changes:
            out.print(line, soft_wrap=True)
    if info and (not quiet or outcome.changed):
        out.print()
        for line in info:
            out.print(line, markup=False)
    for line in problems:
        err.print(config.redactor.scrub(line), markup=False)
    raise typer.Exit(outcome.exit_code)


# -- history ----------------------------------------------------------------------------------

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
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
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
        return _open_store(url, Redactor()), (30, 7, 1)
    config = _config(config_path, strict_env=False)
    store = _open_store(config.history_url, config.redactor)
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
) -> None:
    """List monitor runs and the changes they found (or render them as HTML), or prune them."""
    if action is HistoryAction.prune:
        _prune(config_path, db, keep_days)
        return
    moment = _parse_since(since)
    store, thresholds = _history_store(config_path, db)
    try:
        if not _ready(store):
            out.print(
                f"no history yet in {store.label} (certcheck monitor creates it)", markup=False
            )
            return
        if html is not None or json_path is not None:
            _write_history(store, moment, target, thresholds, html, json_path)
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
) -> None:
    """The history document as JSON and/or its HTML page: one document, read once."""
    from certcheck.monitor.history_document import history_document
    from certcheck.report.history_page import render_history

    document = history_document(store, since=since, target=target, thresholds=thresholds)
    if json_path is not None:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if str(json_path) == "-":
            sys.stdout.write(text)
        else:
            _write_file("--json", json_path, text, to_stdout=True)
    if html is not None:
        _write_file("--html", html, render_history(document), str(json_path) != "-")


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
        keep_days = _config(config_path, strict_env=False).file.history.keep_days
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
            _STYLE["ok" if change.good else change.severity],
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


# -- notify-test ------------------------------------------------------------------------------


def notify_test(
    config_path: ConfigOpt = Path(DEFAULT_FILE),
    channel: Annotated[
        list[str] | None,
        typer.Option("--channel", metavar="NAME", help="Only this channel (repeatable)."),
    ] = None,
) -> None:
    """Send a test message to every configured notification channel.

    Exit code 0 when every channel accepted it, 1 when any did not.
    """
    from certcheck.monitor.alerts import notify_test_message
    from certcheck.monitor.delivery import send_with_retries

    config = _config(config_path)
    if not config.channels:
        fail_usage(f"{config_path}: no [[notify]] channels configured")
    names = list(config.channels)
    for wanted in channel or []:
        if wanted not in config.channels:
            fail_usage(f"--channel {wanted!r}: not configured (channels: {', '.join(names)})")
    chosen = channel or names
    failed = 0
    for name in chosen:
        message = notify_test_message(name, datetime.now(UTC), config.monitor.report_url)
        attempts, error = send_with_retries(
            config.channels[name], message, config.alerts, config.redactor
        )
        if error is None:
            out.print(f"{name}: ok", markup=False)
        else:
            failed += 1
            err.print(
                f"{name}: failed after {attempts} attempt(s): {config.redactor.scrub(error)}",
                markup=False,
            )
    raise typer.Exit(1 if failed else 0)
