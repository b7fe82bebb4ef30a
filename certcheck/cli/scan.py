"""``certcheck scan``: probe targets, evaluate, report (streaming for large fleets)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from certcheck.cli.common import err, fail_usage, out, parse_at
from certcheck.cli.emit import emit
from certcheck.cli.options import (
    AtOpt,
    CaFile,
    Clients,
    CritDays,
    Distrust,
    FailOn,
    FailOnOpt,
    HtmlOut,
    IgnoreOpt,
    JsonlOut,
    JsonOut,
    JunitOut,
    LangOpt,
    Nagios,
    Profile,
    ProfileFile,
    Resolve,
    SarifOut,
    TargetsArg,
    TargetsFile,
    Timeout,
    Verbose,
    WarnDays,
)
from certcheck.cli.settings import build_policy, report_files
from certcheck.evaluate import Policy
from certcheck.exitcodes import EXIT_INTERRUPTED
from certcheck.model import ServerFacts, TargetResult
from certcheck.pipeline import DEFAULT_CONCURRENCY, run_scan
from certcheck.probe.aia import add_aia_issuers
from certcheck.probe.context import ScanContext
from certcheck.report import jsondoc
from certcheck.report.jsonl import JsonlWriter
from certcheck.report.outputs import OutputError, ReportFiles, open_stream
from certcheck.targets import TargetError, parse_shard, plan_targets


def scan(
    targets: TargetsArg = None,
    targets_file: TargetsFile = None,
    resolve: Resolve = None,
    timeout: Timeout = 10.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Targets scanned at once.", min=1, max=512)
    ] = DEFAULT_CONCURRENCY,
    max_connections: Annotated[
        int,
        typer.Option("--max-connections", help="Connections opened to one target at once.", min=1),
    ] = 5,
    per_host: Annotated[
        int | None,
        typer.Option(
            "--per-host",
            help="Connections to one server address at once, across all its targets "
            "(default: --max-connections).",
            min=1,
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option("--rate", help="New connections per second, overall.", min=0.1),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Scan only part K of N of the targets (a stable split for N machines).",
        ),
    ] = None,
    ca_file: CaFile = None,
    distrust: Distrust = None,
    profile: Profile = "wechat",
    profile_file: ProfileFile = None,
    ignore: IgnoreOpt = None,
    at: AtOpt = None,
    warn_days: WarnDays = None,
    crit_days: CritDays = None,
    fail_on: FailOnOpt = FailOn.error,
    json_out: JsonOut = None,
    html: HtmlOut = None,
    lang: LangOpt = "en",
    jsonl_out: JsonlOut = None,
    junit: JunitOut = None,
    sarif: SarifOut = None,
    save_facts: Annotated[
        Path | None,
        typer.Option(
            "--save-facts", help="Write the raw facts (for 'certcheck evaluate') to this file."
        ),
    ] = None,
    verbose: Verbose = False,
    clients: Clients = False,
    nagios: Nagios = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress on stderr (the reports are written as usual)."
        ),
    ] = False,
    fetch_aia: Annotated[
        bool,
        typer.Option(
            "--fetch-aia",
            help="When the server omits intermediates, fetch them from the AIA caIssuers "
            "URLs (contacts the CA's web server; off by default).",
        ),
    ] = False,
) -> None:
    """Probe servers and check them against every platform's rules."""
    if not targets and not targets_file:
        fail_usage("no target given (e.g. certcheck scan example.com, or --targets-file FILE)")
    try:
        plan = plan_targets(
            targets or [], targets_file, resolve or [], parse_shard(shard) if shard else None
        )
    except TargetError as exc:
        fail_usage(str(exc))
    if not plan.count:
        where = f"--targets-file {str(targets_file)!r}" if targets_file else "the targets"
        fail_usage(f"{where}: no targets" + (f" in shard {shard}" if shard else ""))
    files = report_files(json_out, html, lang, jsonl_out, junit, sarif)
    policy = build_policy(profile, warn_days, crit_days, ca_file, distrust, profile_file, ignore)
    now = parse_at(at)
    post_probe = None
    if fetch_aia:
        overrides = plan.overrides

        def post_probe(item: ServerFacts) -> None:
            add_aia_issuers(item, timeout, overrides)

    keep_all = bool(files.json or files.html or files.junit or files.sarif or save_facts)
    try:
        with (
            _jsonl_writer(files, policy, fail_on) as write_line,
            _progress(plan.count, quiet) as tick,
        ):

            def on_result(result: TargetResult) -> None:
                if write_line:
                    write_line(result, now)
                tick()

            outcome = run_scan(
                plan.iterate(),
                plan.count,
                policy=policy,
                now=now,
                fail_on=fail_on.value,
                timeout=timeout,
                concurrency=concurrency,
                max_connections=max_connections,
                context=ScanContext(per_host=per_host or max_connections, rate=rate),
                keep_all=keep_all,
                keep_simulation=clients or verbose,
                post_probe=post_probe,
                on_result=on_result,
            )
    except OutputError as exc:
        fail_usage(str(exc))
    if save_facts:
        try:
            record = jsondoc.policy_record(policy)
            text = jsondoc.dumps(jsondoc.facts_document(outcome.facts, record))
            save_facts.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail_usage(f"--save-facts {str(save_facts)!r}: {exc.strerror or exc}")
    code = emit(
        outcome.results,
        now=now,
        policy=policy,
        fail_on=fail_on,
        json_out=json_out,
        verbose=verbose,
        clients=clients,
        nagios=nagios,
        files=files,
        jsonl_done=True,
        code=EXIT_INTERRUPTED if outcome.interrupted else outcome.exit_code,
        interrupted=outcome.interrupted,
    )
    if outcome.dropped and not files.to_stdout:
        out.print(
            f"{outcome.dropped} more passing target(s) not listed; totals: "
            + ", ".join(f"{n} {k}" for k, n in sorted(outcome.counts.items())),
            highlight=False,
        )
    if outcome.interrupted:
        done = sum(outcome.counts.values())
        err.print(f"certcheck: interrupted after {done} of {plan.count} target(s); "
                  "finished results were kept", markup=False)
        sys.stdout.flush()
        sys.stderr.flush()
        # Probes still running are bounded by --timeout, but nobody waits for them.
        os._exit(EXIT_INTERRUPTED)
    raise typer.Exit(code)


@contextlib.contextmanager
def _jsonl_writer(
    files: ReportFiles, policy: Policy, fail_on: FailOn
) -> Iterator[Callable[[TargetResult, datetime], None] | None]:
    """Write one --jsonl line per finished target (flushed), or None without --jsonl."""
    if not files.jsonl:
        yield None
        return
    stream = open_stream("--jsonl", files.jsonl)
    writer = JsonlWriter(stream, profile=policy.profile.name, fail_on=fail_on.value)
    try:
        yield writer.write
    finally:
        if stream is not sys.stdout:
            stream.close()


#: seconds between progress lines when stderr is not a terminal (cron, CI logs)
PROGRESS_EVERY = float(os.environ.get("CERTCHECK_PROGRESS_SECONDS", "10"))


def _log_ticker(total: int) -> Callable[[], None]:
    """A progress line on stderr every PROGRESS_EVERY seconds: count, rate, ETA."""
    started = time.monotonic()
    state = {"done": 0, "last": started}

    def tick() -> None:
        state["done"] += 1
        now = time.monotonic()
        done = state["done"]
        if now - state["last"] < PROGRESS_EVERY and done < total:
            return
        state["last"] = now
        rate = done / max(now - started, 1e-6)
        left = (total - done) / rate if rate else 0.0
        eta = f", ETA {int(left // 60)}m{int(left % 60):02d}s" if done < total else ""
        err.line(f"certcheck: {done} of {total} target(s) done, {rate:.1f}/s{eta}")

    return tick


@contextlib.contextmanager
def _progress(total: int, quiet: bool = False) -> Iterator[Callable[[], None]]:
    """A progress bar (count, rate, ETA) on a terminal for multi-target scans; without a
    terminal a line every few seconds, so a long scan in cron or CI is seen to be alive."""
    if total <= 1 or quiet:
        yield lambda: None
        return
    if not err.is_terminal:
        yield _log_ticker(total)
        return
    from certcheck.cli.progress import progress_bar  # rich.progress: only on a terminal

    with progress_bar(total, err.console) as advance:
        yield advance
