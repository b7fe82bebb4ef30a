"""``certcheck report`` (reports from saved results, no scan) and ``certcheck schema``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from certcheck.cli.common import fail_usage, out
from certcheck.cli.options import FailOn
from certcheck.report import outputs
from certcheck.report.i18n import DEFAULT_LANG
from certcheck.report.schema import schema_text

REPORT_HELP = (
    "Exit codes: 0 the reports were written; 2 usage error (bad flag, unreadable "
    "or invalid document, unwritable output)."
)


def report(
    results_file: Annotated[
        Path,
        typer.Argument(
            help="Results saved with --json, or the lines written by --jsonl (even from a "
            "scan that was stopped part-way).",
            show_default=False,
        ),
    ],
    html: Annotated[
        str | None,
        typer.Option("--html", metavar="FILE", help="Write the HTML audit report to FILE."),
    ] = None,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the HTML report: en or zh.")
    ] = DEFAULT_LANG,
    junit: Annotated[
        str | None,
        typer.Option(
            "--junit", metavar="FILE", help="Write JUnit XML (one test per target × rule)."
        ),
    ] = None,
    sarif: Annotated[
        str | None,
        typer.Option(
            "--sarif", metavar="FILE", help="Write SARIF 2.1.0 for code-scanning dashboards."
        ),
    ] = None,
    json_out: Annotated[
        str | None,
        typer.Option(
            "--json",
            metavar="FILE",
            help="Write the results as one JSON document (e.g. to turn --jsonl lines into one).",
        ),
    ] = None,
    fail_on: Annotated[
        FailOn | None,
        typer.Option(
            "--fail-on",
            help="Lowest severity that fails a JUnit test case (default: the scan's --fail-on).",
        ),
    ] = None,
) -> None:
    """Make reports from saved results, without scanning again (the report never re-evaluates)."""
    files = outputs.ReportFiles(json=json_out, html=html, lang=lang, junit=junit, sarif=sarif)
    if not files.needs_document:
        fail_usage("nothing to write: give --html FILE, --junit FILE, --sarif FILE or --json FILE")
    try:
        files.check()
        document = outputs.load_results(results_file)
        outputs.write_reports(document, files, fail_on=fail_on.value if fail_on else None)
    except outputs.OutputError as exc:
        fail_usage(str(exc))
    if not files.to_stdout:
        for flag, path in files.named().items():
            out.print(f"{flag[2:]}: {path}", soft_wrap=True)


def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the --json, --save-facts and --jsonl documents."""
    sys.stdout.write(schema_text())
