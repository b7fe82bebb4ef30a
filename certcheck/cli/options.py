"""Options that several commands take, defined once (typer ``Annotated`` aliases)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from certcheck.catalog import load_profiles


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"


def profile_names() -> list[str]:
    return sorted(load_profiles())


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
Nagios = Annotated[
    bool,
    typer.Option(
        "--nagios",
        help="Nagios/Icinga plugin mode: one status line (CERTCHECK OK|WARNING|CRITICAL|"
        "UNKNOWN - ... | perfdata: days left per certificate) and exit codes 0/1/2/3.",
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
LangOpt = Annotated[
    str,
    typer.Option("--lang", help="Language of the console summary and the HTML report: en or zh."),
]
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
        "(curl convention; repeatable). HOST may be *.DOMAIN: every name below DOMAIN.",
    ),
]
Timeout = Annotated[
    float, typer.Option("--timeout", help="Seconds per connection.", min=0.1, max=600)
]
