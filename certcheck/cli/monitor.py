"""Scheduled monitoring commands: ``init``, ``monitor``, ``history``, ``notify-test``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from certcheck.cli.common import EXIT_CODES_HELP, err, fail_usage, out
from certcheck.cli.monitor_common import CHANGE_STYLE, ConfigOpt, load_monitor_config, open_store
from certcheck.cli.options import FailOn
from certcheck.exitcodes import EXIT_HISTORY_BUSY
from certcheck.monitor import DEFAULT_FILE
from certcheck.report import console as console_report
from certcheck.report.safetext import visible

if TYPE_CHECKING:  # the monitor modules (SQLAlchemy, pydantic) load only when a command runs
    from certcheck.monitor.redact import Redactor
    from certcheck.monitor.run import MonitorOutcome

MONITOR_HELP = (
    EXIT_CODES_HELP + " 5 another monitor run of the same targets (or shard) holds the "
    "history; 6 with --fail-on-delivery: an alert is still undelivered or was given up "
    "(wins over 0, 1 and 3)."
)


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
                lines.append(Text(f"  {item['severity']:8} ", CHANGE_STYLE[item["severity"]]))
                lines[-1].append(visible(redactor.scrub(item["summary"])))
            continue
        for change in shown:
            word = "ok" if change.good else change.severity
            line = Text(f"  {word:8} ", CHANGE_STYLE["ok" if change.good else change.severity])
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
    config = load_monitor_config(config_path)
    if textfile is not None and not textfile.parent.is_dir():
        fail_usage(f"--prometheus-textfile {str(textfile)!r}: the folder does not exist")
    store = open_store(config.history_url, config.redactor)
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

    config = load_monitor_config(config_path)
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
