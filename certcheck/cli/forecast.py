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
        _print(document, baseline, lang)
    # 1 when something starts failing in the window; improvements alone are not a problem
    raise typer.Exit(1 if any(not e.better for e in events) else 0)


def _print(document: dict, baseline: list, lang: str = "en") -> None:
    """The forecast as a table; ``lang`` words it (English: the wording of before #14)."""
    from certcheck.report.i18n import catalog

    cat = catalog(lang)
    native = cat.lang != "en"

    def say(key: str, **values: object) -> str:
        return cat.get("console", key).format(**values)

    out.print(
        say(
            "fc_header",
            start=document["from"],
            days=document["days"],
            n=len(baseline),
            profile=document["profile"],
        ),
        highlight=False,
    )
    for result in baseline:
        if not result.facts.ok:
            out.print("  " + say("fc_not_scanned", target=result.facts.target.label))
    if not document["events"]:
        out.print(say("fc_nothing"))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column(say("fc_col_date"), no_wrap=True)
    table.add_column(say("fc_col_target"), overflow="fold")
    table.add_column(say("fc_col_change"), overflow="fold")
    table.add_column(say("fc_col_platforms"), overflow="fold")
    for event in document["events"]:
        platforms = event["platforms"]
        title = event["title"]
        if native:
            names = ", ".join(cat.get("platform", p) for p in platforms) or "?"
            if event["change"] == "verdict_recovers":
                title = cat.ui("fc_recovers_event", platform=names)
            elif event["change"] == "verdict":
                title = cat.ui("fc_verdict_event", platform=names)
            elif event["rule_id"]:
                title = cat.rule_title(event["rule_id"], title) or title
            platforms = [cat.get("platform", p) for p in platforms]
        what = event["rule_id"] or say("fc_verdict")
        if event["severity"]:
            severity = say(f"sev_{event['severity']}") if native else event["severity"]
            what = say("fc_severity", what=what, severity=severity)
        if event["change"] in IMPROVEMENTS:
            what = say("fc_improves", what=what)
        table.add_row(
            event["at"][:10],
            event["target"],
            say("fc_change", what=what, title=title),
            say("list_sep").join(platforms),
        )
    out.print(table)
