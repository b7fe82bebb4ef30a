"""``certcheck forecast``: what will start failing in the next N days, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from certcheck.cli.common import fail_usage, out, parse_at, read_file, write_output
from certcheck.cli.options import (
    AtOpt,
    CaFile,
    Distrust,
    HtmlOut,
    IgnoreOpt,
    JsonOut,
    LangOpt,
    Profile,
    ProfileFile,
    Resolve,
    TargetsArg,
    TargetsFile,
    Timeout,
)
from certcheck.cli.settings import build_policy, report_files
from certcheck.evaluate import Policy
from certcheck.forecast import IMPROVEMENTS, forecast, forecast_document
from certcheck.freshness import stale_tables
from certcheck.model import ServerFacts
from certcheck.pipeline import scan_targets
from certcheck.report import jsondoc
from certcheck.targets import TargetError, collect_targets


def _facts(
    targets: list[str] | None,
    targets_file: Path | None,
    resolve: list[str] | None,
    facts_file: Path | None,
    timeout: float,
) -> list[ServerFacts]:
    if facts_file is not None:
        if targets or targets_file:
            fail_usage("give targets or --facts, not both")
        text = read_file(facts_file, "--facts").decode("utf-8", "replace")
        try:
            return jsondoc.load_facts(text, str(facts_file))
        except jsondoc.DocumentError as exc:
            fail_usage(str(exc))
    if not targets and not targets_file:
        fail_usage("no target given (targets, --targets-file or --facts FILE)")
    try:
        parsed = collect_targets(targets or [], targets_file, resolve or [])
    except TargetError as exc:
        fail_usage(str(exc))
    return scan_targets(parsed, timeout)


def _from_config(path: Path, timeout: float) -> tuple[list[ServerFacts], Policy]:
    """The targets and policy of a monitor configuration; one scan of them."""
    from certcheck.monitor.config import ConfigError, load_config

    try:
        config = load_config(path)
        policy = config.policy()
    except ConfigError as exc:
        fail_usage(str(exc))
    return scan_targets([t.target for t in config.targets], timeout), policy


def forecast_command(
    targets: TargetsArg = None,
    targets_file: TargetsFile = None,
    facts_file: Annotated[
        Path | None,
        typer.Option("--facts", help="Forecast saved facts (--save-facts or --json) instead."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Forecast the targets of a certcheck.toml (monitor config)."
        ),
    ] = None,
    days: Annotated[int, typer.Option("--days", help="How far ahead to look.", min=1)] = 90,
    resolve: Resolve = None,
    timeout: Timeout = 10.0,
    ca_file: CaFile = None,
    distrust: Distrust = None,
    profile: Profile = "wechat",
    profile_file: ProfileFile = None,
    ignore: IgnoreOpt = None,
    at: AtOpt = None,
    json_out: JsonOut = None,
    html: HtmlOut = None,
    lang: LangOpt = "en",
) -> None:
    """List, in date order, what will start failing, on which platform and why.

    One scan (or none, with --facts); every date is an offline re-evaluation.
    Exit code 1 when something breaks within the window, else 0.
    """
    report_files(json_out, html, lang)  # checked before any work is done
    if config is not None:
        if targets or targets_file or facts_file:
            fail_usage("give --config, targets or --facts, not several")
        facts, policy = _from_config(config, timeout)
    else:
        facts = _facts(targets, targets_file, resolve, facts_file, timeout)
        policy = build_policy(profile, None, None, ca_file, distrust, profile_file, ignore)
    start = parse_at(at)
    baseline, events = forecast(facts, policy, start, days)
    document = forecast_document(
        baseline, events, start, days, policy.profile.name, stale_tables(start.date())
    )
    if json_out:
        write_output("--json", json_out, jsondoc.dumps(document))
    if html:
        from certcheck.report.forecast_page import render_forecast_html

        write_output("--html", html, render_forecast_html(document, lang))
    if "-" not in (json_out, html):
        _print(document, baseline)
    # 1 when something starts failing in the window; improvements alone are not a problem
    raise typer.Exit(1 if any(not e.better for e in events) else 0)


def _print(document: dict, baseline: list) -> None:
    out.print(
        f"Forecast from {document['from']} for {document['days']} days "
        f"({len(baseline)} target(s), profile {document['profile']})",
        highlight=False,
    )
    for result in baseline:
        if not result.facts.ok:
            out.print(f"  {result.facts.target.label}: not scanned, nothing to forecast")
    if not document["events"]:
        out.print("Nothing changes in this window.")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("Date", no_wrap=True)
    table.add_column("Target", overflow="fold")
    table.add_column("Change", overflow="fold")
    table.add_column("Platforms", overflow="fold")
    for event in document["events"]:
        what = event["rule_id"] or "verdict"
        if event["severity"]:
            what = f"{what} ({event['severity']})"
        if event["change"] in IMPROVEMENTS:
            what = f"improves: {what}"
        table.add_row(
            event["at"][:10],
            event["target"],
            f"{what}: {event['title']}",
            ", ".join(event["platforms"]),
        )
    out.print(table)
