"""The ``certcheck`` command line.

Exit codes: 0 compliant at --fail-on, 1 a finding at or above it, 2 usage
error, 3 a target could not be scanned and none failed on findings, 4 certcheck
failed to evaluate a target (an internal error, reported on that target);
monitor only: 5 another run of the same targets holds the history, 6 with
--fail-on-delivery an alert is still undelivered.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from certcheck import __version__
from certcheck.catalog import load_profiles
from certcheck.evaluate import Policy
from certcheck.evaluate.trust import TrustStoreError
from certcheck.fleetscan import run_scan
from certcheck.model import ServerFacts, TargetResult
from certcheck.policyfile import PolicyFileError, load_policy_file, parse_ignore
from certcheck.probe.aia import add_aia_issuers
from certcheck.probe.context import ScanContext
from certcheck.report import console as console_report
from certcheck.report import jsondoc
from certcheck.report.jsonl import JsonlWriter
from certcheck.report.outputs import OutputError, ReportFiles, open_stream, write_reports
from certcheck.report.safetext import SafeConsole
from certcheck.runner import (
    DEFAULT_CONCURRENCY,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    evaluate_all,
    exit_code,
    scan_targets,
)
from certcheck.safeload import quote
from certcheck.targets import TargetError, parse_shard, parse_target, plan_targets

EXIT_CODES_HELP = (
    "Exit codes: 0 every target compliant at --fail-on; 1 at least one finding at or "
    "above --fail-on; 2 usage error (bad flag, target or file); 3 at least one target "
    "could not be scanned (DNS, refused, timeout, not TLS) and none failed on findings; "
    "4 certcheck itself failed to evaluate a target (an internal error, reported on that "
    "target; the others are complete); 5 and 6 are monitor's (history busy, undelivered "
    "alerts: certcheck monitor --help)."
)

app = typer.Typer(
    name="certcheck",
    help="Will every phone accept this server's TLS? Checks certificates, chains and "
    "protocols against iOS ATS, Android and old Android rules.\n\n" + EXIT_CODES_HELP,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = SafeConsole()
err = SafeConsole(stderr=True, soft_wrap=True)


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"


class UsageProblem(Exception):
    """A problem with what the user gave us: exit code 2, one line, no traceback."""


def fail_usage(message: str) -> NoReturn:
    raise UsageProblem(message)


def _profile_names() -> list[str]:
    return sorted(load_profiles())


# -- shared options ---------------------------------------------------------------------------

CaFile = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        help="PEM file of extra trust anchors (private CA), added to "
        "the Mozilla roots from certifi.",
    ),
]
Distrust = Annotated[
    list[str] | None,
    typer.Option(
        "--distrust",
        metavar="SHA256",
        help="Treat the CA certificate with this "
        "SHA-256 fingerprint as fully distrusted on every platform (repeatable).",
    ),
]
Profile = Annotated[
    str, typer.Option("--profile", help="Policy profile: wechat (default), ats or strict.")
]
WarnDays = Annotated[
    int | None,
    typer.Option(
        "--warn-days",
        help="Warn when the certificate expires within this many days (profile default 30).",
        min=0,
    ),
]
CritDays = Annotated[
    int | None,
    typer.Option(
        "--crit-days",
        help="Error when the certificate expires within this many days (profile default 7).",
        min=0,
    ),
]
FailOnOpt = Annotated[
    FailOn, typer.Option("--fail-on", help="Lowest severity that makes the exit code 1.")
]
JsonOut = Annotated[
    str | None,
    typer.Option(
        "--json",
        metavar="FILE",
        help="Write the JSON results document to FILE ('-' for standard output).",
    ),
]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show info findings and fix advice.")
]
Clients = Annotated[
    bool,
    typer.Option(
        "--clients",
        help="Show the accepted protocols and cipher suites and the per-client handshake "
        "simulation (also shown with --verbose).",
    ),
]
HtmlOut = Annotated[
    str | None,
    typer.Option(
        "--html", metavar="FILE", help="Write the HTML audit report (one self-contained file)."
    ),
]
LangOpt = Annotated[str, typer.Option("--lang", help="Language of the HTML report: en or zh.")]
JsonlOut = Annotated[
    str | None,
    typer.Option(
        "--jsonl",
        metavar="FILE",
        help="Write one JSON line per target as soon as it is done ('-' for standard output).",
    ),
]
JunitOut = Annotated[
    str | None,
    typer.Option(
        "--junit",
        metavar="FILE",
        help="Write JUnit XML: one test per target × rule, failing at --fail-on.",
    ),
]
SarifOut = Annotated[
    str | None,
    typer.Option("--sarif", metavar="FILE", help="Write SARIF 2.1.0 for code-scanning dashboards."),
]


ProfileFile = Annotated[
    Path | None,
    typer.Option(
        "--profile-file",
        help="Your own policy TOML: base profile, thresholds, per-rule severity "
        "(or 'off') and [[ignore]] suppressions.",
    ),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore",
        metavar="RULE_ID[:HOST]",
        help="Suppress a rule (for one host): still in JSON, marked suppressed (repeatable).",
    ),
]
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="DATE",
        help="Evaluate as of this UTC date or date-time (ISO 8601) instead of now.",
    ),
]


TargetsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="host, host:port, https://host[:port]/path, wss://host[:port], [::1]:443",
        show_default=False,
    ),
]
TargetsFile = Annotated[
    Path | None,
    typer.Option("--targets-file", help="File with one target per line (# starts a comment)."),
]
Resolve = Annotated[
    list[str] | None,
    typer.Option(
        "--resolve",
        metavar="HOST:PORT:ADDR",
        help="Connect to ADDR for HOST:PORT, keeping HOST for SNI and name checks "
        "(curl convention; repeatable).",
    ),
]
Timeout = Annotated[
    float, typer.Option("--timeout", help="Seconds per connection.", min=0.1, max=600)
]


def _now(at: str | None) -> datetime:
    """The evaluation instant: ``--at`` (UTC) or the clock."""
    if at is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        fail_usage(
            f"--at {at!r}: expected an ISO date or date-time, e.g. 2027-03-15 or "
            "2027-03-15T12:00:00Z"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def write_output(flag: str, path: str, text: str) -> None:
    """Write one output file (``-``: standard output); a failure is a usage error."""
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail_usage(f"{flag} {path!r}: {exc.strerror or exc}")


def _read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail_usage(f"{what} {str(path)!r}: {exc.strerror or exc}")


def _policy(
    profile: str,
    warn_days: int | None,
    crit_days: int | None,
    ca_file: Path | None,
    distrust: list[str] | None,
    profile_file: Path | None = None,
    ignore: list[str] | None = None,
) -> Policy:
    if profile not in load_profiles():
        fail_usage(f"--profile {profile!r}: choose one of {', '.join(_profile_names())}")
    profile_obj = None
    ignores = []
    try:
        if profile_file is not None:
            profile_obj, ignores = load_policy_file(profile_file)
        ignores += [parse_ignore(item) for item in ignore or []]
    except PolicyFileError as exc:
        fail_usage(str(exc))
    for fp in distrust or []:
        clean = fp.lower().replace(":", "")
        if len(clean) != 64 or any(c not in "0123456789abcdef" for c in clean):
            fail_usage(f"--distrust {fp!r}: expected a SHA-256 fingerprint (64 hex digits)")
    ca_pem = _read_file(ca_file, "--ca-file") if ca_file else None
    try:
        return Policy.build(
            profile,
            warn_days,
            crit_days,
            ca_pem,
            distrust,
            profile_obj=profile_obj,
            ignores=ignores,
        )
    except TrustStoreError as exc:
        fail_usage(str(exc).replace("--ca-file", f"--ca-file {str(ca_file)!r}"))


def _report_files(
    json_out: str | None,
    html: str | None = None,
    lang: str = "en",
    jsonl_out: str | None = None,
    junit: str | None = None,
    sarif: str | None = None,
) -> ReportFiles:
    """The file outputs asked for, checked before any work is done."""
    files = ReportFiles(
        json=json_out, html=html, lang=lang, jsonl=jsonl_out, junit=junit, sarif=sarif
    )
    try:
        files.check()
    except OutputError as exc:
        fail_usage(str(exc))
    return files


def _emit(
    results: list[TargetResult],
    *,
    now: datetime,
    policy: Policy,
    fail_on: FailOn,
    json_out: str | None,
    verbose: bool,
    clients: bool = False,
    files: ReportFiles | None = None,
    jsonl_done: bool = False,
    code: int | None = None,
    interrupted: bool = False,
) -> int:
    """Write the reports and the console summary; return the exit code.

    ``code`` is given by streaming scans, whose ``results`` may be a sample.
    """
    code = exit_code(results, fail_on.value) if code is None else code
    files = files or _report_files(json_out)
    if files.needs_document:
        document = jsondoc.results_document(
            results,
            now=now,
            profile=policy.profile.name,
            fail_on=fail_on.value,
            exit_code=code,
            interrupted=interrupted,
        )
        try:
            write_reports(document, files, jsonl_done=jsonl_done)
        except OutputError as exc:
            fail_usage(str(exc))
    if not files.to_stdout:
        console_report.print_results(results, out, verbose, clients)
        console_report.print_totals(results, out, now)
    return code


# -- commands ---------------------------------------------------------------------------------


@app.command(epilog=EXIT_CODES_HELP)
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
    files = _report_files(json_out, html, lang, jsonl_out, junit, sarif)
    policy = _policy(profile, warn_days, crit_days, ca_file, distrust, profile_file, ignore)
    now = _now(at)
    post_probe = None
    if fetch_aia:
        overrides = plan.overrides

        def post_probe(item: ServerFacts) -> None:
            add_aia_issuers(item, timeout, overrides)

    keep_all = bool(files.json or files.html or files.junit or files.sarif or save_facts)
    try:
        with _jsonl_writer(files, policy, fail_on) as write_line, _progress(plan.count) as tick:

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
            text = jsondoc.dumps(jsondoc.facts_document(outcome.facts))
            save_facts.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail_usage(f"--save-facts {str(save_facts)!r}: {exc.strerror or exc}")
    code = _emit(
        outcome.results,
        now=now,
        policy=policy,
        fail_on=fail_on,
        json_out=json_out,
        verbose=verbose,
        clients=clients,
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


class _RateColumn(ProgressColumn):
    """Targets per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "-/s")


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[], None]]:
    """A progress bar (count, rate, ETA) on a terminal for multi-target scans."""
    if total <= 1 or not err.is_terminal:
        yield lambda: None
        return
    columns = (
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("scan", total=total)
        yield lambda: progress.advance(task)


@app.command(epilog=EXIT_CODES_HELP)
def evaluate(
    facts_file: Annotated[
        Path,
        typer.Argument(
            help="Facts saved with --save-facts, a --json results document or --jsonl lines."
        ),
    ],
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
    verbose: Verbose = False,
    clients: Clients = False,
) -> None:
    """Evaluate saved facts again, offline (no network)."""
    files = _report_files(json_out, html, lang, jsonl_out, junit, sarif)
    text = _read_file(facts_file, "facts file").decode("utf-8", "replace")
    try:
        facts = jsondoc.load_facts(text, str(facts_file))
    except jsondoc.DocumentError as exc:
        fail_usage(str(exc))
    policy = _policy(profile, warn_days, crit_days, ca_file, distrust, profile_file, ignore)
    now = _now(at)
    results = evaluate_all(facts, policy, now)
    raise typer.Exit(
        _emit(
            results,
            now=now,
            policy=policy,
            fail_on=fail_on,
            json_out=json_out,
            verbose=verbose,
            clients=clients,
            files=files,
        )
    )


def _load_pem_chain(path: Path) -> list[str]:
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    data = _read_file(path, "certificate file")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            fail_usage(f"{str(path)!r}: no PEM or DER certificate could be read")
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii") for c in certs]


@app.command("check-cert", epilog=EXIT_CODES_HELP)
def check_cert(
    chain_file: Annotated[
        Path,
        typer.Argument(
            help="PEM file: the leaf first, then the intermediates as the server would send them."
        ),
    ],
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Host name the certificate must cover (default: the first name in its SAN).",
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
    verbose: Verbose = False,
) -> None:
    """Check a certificate chain from a file: the certificate rules, no network."""
    files = _report_files(json_out, html, lang, jsonl_out, junit, sarif)
    chain = _load_pem_chain(chain_file)
    if host is None:
        host = _default_host(chain[0])
        try:
            target = parse_target(host)
        except TargetError:
            fail_usage(
                f"{str(chain_file)!r}: the certificate's name {quote(host)} is not a host name "
                "(give one with --host)"
            )
    else:
        try:
            target = parse_target(host)
        except TargetError as exc:
            fail_usage(f"--host: {exc}")
    policy = _policy(profile, warn_days, crit_days, ca_file, distrust, profile_file, ignore)
    facts = ServerFacts(
        target=target,
        scanned_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        chain=chain,
        source="file",
    )
    now = _now(at)
    results = evaluate_all([facts], policy, now)
    raise typer.Exit(
        _emit(
            results,
            now=now,
            policy=policy,
            fail_on=fail_on,
            json_out=json_out,
            verbose=verbose,
            files=files,
        )
    )


def _default_host(leaf_b64: str) -> str:
    import base64

    from cryptography import x509

    from certcheck.evaluate.certinfo import common_names, san_dns_names

    leaf = x509.load_der_x509_certificate(base64.b64decode(leaf_b64))
    names = (san_dns_names(leaf) or []) + common_names(leaf)
    if not names:
        fail_usage("the certificate names no host; give one with --host")
    return names[0].replace("*", "wildcard", 1)


@app.command(epilog=EXIT_CODES_HELP)
def demo(
    json_out: JsonOut = None,
    html: HtmlOut = None,
    lang: LangOpt = "en",
    jsonl_out: JsonlOut = None,
    junit: JunitOut = None,
    sarif: SarifOut = None,
    verbose: Verbose = False,
    clients: Clients = False,
) -> None:
    """Scan loopback servers with sample certificates (good and broken): no network needed."""
    from certcheck.demo import demo_servers

    files = _report_files(json_out, html, lang, jsonl_out, junit, sarif)
    if not files.to_stdout:
        out.print(
            "certcheck demo: scanning local TLS servers on 127.0.0.1 that use sample "
            "certificates from a private test CA, as 'certcheck scan HOST --resolve "
            "HOST:PORT:127.0.0.1 --ca-file CA.pem' would.\n"
        )
    with demo_servers() as setup:
        policy = Policy.build(ca_pem=setup.ca_pem)
        facts = scan_targets(setup.targets, timeout=5.0)
    now = datetime.now(UTC)
    results = evaluate_all(facts, policy, now)
    code = _emit(
        results,
        now=now,
        policy=policy,
        fail_on=FailOn.error,
        json_out=json_out,
        verbose=verbose,
        clients=clients,
        files=files,
    )
    if not files.to_stdout:
        out.print(
            "\nThe broken servers fail on purpose. For real use: certcheck scan "
            "example.com  (certcheck --help for options)"
        )
    raise typer.Exit(0 if code in (0, 1) else code)


@app.command()
def version() -> None:
    """Print the certcheck version."""
    out.print(f"certcheck {__version__}")


def _register_command_modules() -> None:
    import importlib

    from certcheck.commands import MODULES

    for name in MODULES:
        importlib.import_module(f"certcheck.commands.{name}")


_register_command_modules()


def main() -> NoReturn:
    """Entry point: turns every usage problem into one line and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except UsageProblem as exc:
        err.print(f"certcheck: error: {exc}", markup=False)
        sys.exit(EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt):
        err.print("certcheck: interrupted", markup=False)
        sys.exit(130)
    except Exception as exc:
        # Typer's (vendored) click raises UsageError subclasses with exit_code 2;
        # matching on that keeps us independent of where the class lives.
        if getattr(exc, "exit_code", None) == EXIT_USAGE and hasattr(exc, "format_message"):
            message = exc.format_message()
            if type(exc).__name__ == "NoArgsIsHelpError":
                err.print(message, markup=False)
            else:
                err.print(f"certcheck: error: {message}", markup=False)
            sys.exit(EXIT_USAGE)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    # Run the importable module, not this __main__ copy: command modules
    # register on certcheck.cli.app.
    from certcheck.cli import main as _main

    _main()
