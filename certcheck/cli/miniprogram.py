"""``certcheck miniprogram``: a mini program's server domains, linted and scanned.

The rules are those of the host app the mini program runs in (``--host-app``): WeChat,
or a super app on Tencent Cloud Super App as a Service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from certcheck.cli.common import fail_usage, out, write_output
from certcheck.cli.options import CaFile, FailOn, FailOnOpt, HtmlOut, JsonOut, LangOpt, Verbose
from certcheck.cli.settings import build_policy, report_files
from certcheck.evaluate import Policy
from certcheck.miniprogram.check import check_miniprogram, exit_code
from certcheck.miniprogram.config import (
    ConfigError,
    MiniProgramConfig,
    config_from_urls,
    load_config,
)
from certcheck.miniprogram.console import print_report
from certcheck.miniprogram.document import miniprogram_document
from certcheck.miniprogram.limits import host_apps, load_limits
from certcheck.report.jsondoc import dumps
from certcheck.targets import TargetError, parse_overrides

HELP = """Check a mini program's server domains against the rules of its host app
(--host-app: wechat, the default, or tcsas for Tencent Cloud Super App as a
Service): first what the host app rejects before any TLS (scheme, IP, localhost,
ports, WeChat's own API host, list sizes, subdomains, ICP reminder - each where
that host app has the rule), then every endpoint: full TLS scan with the wechat
profile, an HTTPS request (timing against the host app's timeouts, response
encoding) and, for wss:// entries, a real WebSocket upgrade.

DOMAINS_FILE is JSON or TOML with WeChat's domain-API field names
(requestdomain, wsrequestdomain, uploaddomain, downloaddomain, udpdomain,
tcpdomain), plus prefetchdomain, networkTimeout (ms, as in app.json), timeout
(the per-call timeout in ms, which wins over networkTimeout) and host_app; the
API's response can be pasted as it is. URLs given with a file are the request
URLs the mini program calls, checked against it; URLs alone are the
configuration."""

#: --host-app choices, from rules/miniprogram.toml
HostApp = Enum("HostApp", {name: name for name in host_apps()}, type=str)  # type: ignore[misc]


def _configuration(sources: list[str], host_app: str | None) -> MiniProgramConfig:
    urls = [s for s in sources if "://" in s]
    files = [s for s in sources if "://" not in s]
    if len(files) > 1:
        fail_usage(
            f"give at most one domain file (got {', '.join(repr(f) for f in files)}); "
            "write domains as URLs, e.g. https://api.example.com"
        )
    try:
        if not files:
            return config_from_urls(urls, host_app=host_app)
        path = Path(files[0])
        if not path.exists():
            fail_usage(
                f"domain file {files[0]!r} does not exist (to give a domain, write it as a "
                f"URL: https://{files[0]})"
            )
        config = load_config(path, host_app)
    except ConfigError as exc:
        fail_usage(str(exc))
    config.request_urls = urls
    return config


def _overrides(resolve: list[str]) -> dict[tuple[str, int], str]:
    try:
        return parse_overrides(resolve)
    except TargetError as exc:
        fail_usage(str(exc))


def _policy(ca_file: Path | None, profile: str) -> Policy:
    """The host app's profile with the --ca-file anchors (the shared policy builder)."""
    return build_policy(profile, None, None, ca_file, None)


def miniprogram(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DOMAINS_FILE|URL...",
            help="A domain file (JSON/TOML) and/or https:// and wss:// URLs.",
            show_default=False,
        ),
    ] = None,
    resolve: Annotated[
        list[str] | None,
        typer.Option(
            "--resolve",
            metavar="HOST:PORT:ADDR",
            help="Connect to ADDR for HOST:PORT, keeping HOST for SNI, Host and name checks "
            "(repeatable; HOST may be *.DOMAIN: every name below DOMAIN).",
        ),
    ] = None,
    host_app: Annotated[
        HostApp | None,
        typer.Option(
            "--host-app",
            help="The host app whose domain rules and limits apply (default: the domain "
            "file's host_app, else wechat).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    ca_file: CaFile = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="Seconds per connection; requests wait at most this or the "
            "networkTimeout, whichever is shorter.",
            min=0.1,
            max=600,
        ),
    ] = 10.0,
    json_out: JsonOut = None,
    html: HtmlOut = None,
    lang: LangOpt = "en",
    no_endpoints: Annotated[
        bool, typer.Option("--no-endpoints", help="Lint the configuration only: no network.")
    ] = False,
    fail_on: FailOnOpt = FailOn.error,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            help="Endpoints TLS-scanned at once (each scan opens a few connections of its own).",
            min=1,
            max=64,
        ),
    ] = 2,
    max_requests: Annotated[
        int | None,
        typer.Option(
            "--max-requests",
            help="HTTPS requests open at once (default: the host app's own limit, 10).",
            min=1,
            max=256,
        ),
    ] = None,
    max_sockets: Annotated[
        int | None,
        typer.Option(
            "--max-sockets",
            help="WebSocket upgrades open at once (default: the host app's own limit, 5).",
            min=1,
            max=256,
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    if not sources:
        fail_usage(
            "no domain file or URL given (e.g. certcheck miniprogram domains.json, or "
            "certcheck miniprogram https://api.example.com wss://ws.example.com)"
        )
    report_files(json_out, html, lang)  # checked before any work is done
    config = _configuration(sources, host_app.value if host_app else None)
    limits = load_limits(config.host_app)
    overrides = _overrides(resolve or [])
    policy = _policy(ca_file, limits.profile)
    now = datetime.now(UTC)
    report = check_miniprogram(
        config,
        policy,
        now,
        resolve=overrides,
        timeout=timeout,
        endpoints=not no_endpoints,
        concurrency=concurrency,
        max_requests=max_requests,
        max_sockets=max_sockets,
        limits=limits,
    )
    code = exit_code(report, fail_on.value)
    document = miniprogram_document(
        report,
        now=now,
        fail_on=fail_on.value,
        exit_code=code,
        max_requests=max_requests,
        max_sockets=max_sockets,
        limits=limits,
    )
    if json_out:
        write_output("--json", json_out, dumps(document))
    if html:
        from certcheck.report.miniprogram_page import render_miniprogram_html

        write_output("--html", html, render_miniprogram_html(document, lang))
    if "-" not in (json_out, html):
        print_report(report, out, verbose, lang)
    raise typer.Exit(code)
