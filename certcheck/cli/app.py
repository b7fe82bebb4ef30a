"""The ``certcheck`` application: the typer app, every command registered in one place.

Command modules define plain functions and never import this module; adding a command
is one function in its module and one line in :func:`build_app`.  Exit codes: 0
compliant at --fail-on, 1 a finding at or above it, 2 usage error, 3 a target could not
be scanned and none failed on findings, 4 certcheck failed to evaluate a target (an
internal error, reported on that target); monitor only: 5 another run of the same
targets holds the history, 6 with --fail-on-delivery an alert is still undelivered.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from certcheck import __version__
from certcheck.cli import (
    chain,
    data,
    demo,
    evaluate,
    forecast,
    history,
    miniprogram,
    monitor,
    report,
    rules,
    scan,
    serve,
)
from certcheck.cli.common import EXIT_CODES_HELP, UsageProblem, err, out
from certcheck.exitcodes import EXIT_INTERRUPTED, EXIT_USAGE


def version() -> None:
    """Print the certcheck version."""
    out.print(f"certcheck {__version__}")


def build_app() -> typer.Typer:
    """The app with every command, in the order ``certcheck --help`` lists them."""
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
    app.command("scan", epilog=EXIT_CODES_HELP)(scan.scan)
    app.command("evaluate", epilog=EXIT_CODES_HELP)(evaluate.evaluate)
    app.command("check-cert", epilog=EXIT_CODES_HELP)(evaluate.check_cert)
    app.command("demo", epilog=EXIT_CODES_HELP)(demo.demo)
    app.command("version")(version)
    app.command("fix-chain")(chain.fix_chain)
    app.command("rules")(rules.rules)
    app.command("forecast")(forecast.forecast_command)
    app.command("miniprogram", help=miniprogram.HELP, epilog=EXIT_CODES_HELP)(
        miniprogram.miniprogram
    )
    app.command("init")(monitor.init)
    app.command("monitor", epilog=monitor.MONITOR_HELP)(monitor.monitor)
    app.command("history")(history.history)
    app.command("notify-test")(monitor.notify_test)
    app.command("report", epilog=report.REPORT_HELP)(report.report)
    app.command("schema")(report.schema)
    app.command("serve")(serve.serve)
    app.add_typer(data.data_app, name="data")
    return app


def main() -> NoReturn:
    """Entry point: turns every usage problem into one line and exit code 2."""
    app = build_app()
    try:
        code = app(standalone_mode=False)
    except UsageProblem as exc:
        err.print(f"certcheck: error: {exc}", markup=False)
        sys.exit(EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt):
        err.print("certcheck: interrupted", markup=False)
        sys.exit(EXIT_INTERRUPTED)
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
