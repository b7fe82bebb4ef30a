"""The ``certcheck`` application: the typer app, every command registered in one place.

Command modules define plain functions and never import this module; adding a command
is one function in its module and one line in :func:`build_app`.  Exit codes: 0
compliant at --fail-on, 1 a finding at or above it, 2 usage error, 3 a target could not
be scanned and none failed on findings, 4 certcheck failed to evaluate a target (an
internal error, reported on that target); monitor only: 5 another run of the same
targets holds the history, 6 with --fail-on-delivery an alert is still undelivered.
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import NoReturn

import typer

from certcheck import __version__
from certcheck.cli.common import EXIT_CODES_HELP, UsageProblem, err, out
from certcheck.exitcodes import EXIT_INTERRUPTED, EXIT_USAGE


def version() -> None:
    """Print the certcheck version."""
    out.print(f"certcheck {__version__}")


#: Every command, in the order ``certcheck --help`` lists them: name -> (module of
#: certcheck.cli, its function, registration options).  An option value starting with
#: ``@`` names an attribute of that module (its help or epilog text).
COMMANDS: dict[str, tuple[str, str, dict[str, str]]] = {
    "scan": ("scan", "scan", {"epilog": EXIT_CODES_HELP}),
    "evaluate": ("evaluate", "evaluate", {"epilog": EXIT_CODES_HELP}),
    "check-cert": ("evaluate", "check_cert", {"epilog": EXIT_CODES_HELP}),
    "demo": ("demo", "demo", {"epilog": EXIT_CODES_HELP}),
    "version": ("app", "version", {}),
    "fix-chain": ("chain", "fix_chain", {}),
    "rules": ("rules", "rules", {}),
    "forecast": ("forecast", "forecast_command", {}),
    "miniprogram": ("miniprogram", "miniprogram", {"help": "@HELP", "epilog": EXIT_CODES_HELP}),
    "init": ("monitor", "init", {}),
    "monitor": ("monitor", "monitor", {"epilog": "@MONITOR_HELP"}),
    "history": ("history", "history", {}),
    "notify-test": ("monitor", "notify_test", {}),
    "report": ("report", "report", {"epilog": "@REPORT_HELP"}),
    "schema": ("report", "schema", {}),
    "serve": ("serve", "serve", {}),
}
#: Command groups: name -> (module, the sub-app's attribute).
GROUPS: dict[str, tuple[str, str]] = {"data": ("data", "data_app")}


def _group() -> None:
    """Keeps a one-command app a group (see build_app)."""


def build_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with just ``only`` when that names one.

    ``certcheck scan ...`` needs neither the other commands' modules nor their options
    (about 50 ms of every start, a fleet scan from cron starts often).  A one-command
    Typer app would make that command the whole program (``scan`` would be read as a
    target): the empty callback keeps it a group, so usage, help and errors are the
    ones of the full app (tests/test_cli_lazy.py compares them).
    """
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
    alone = only in COMMANDS or only in GROUPS
    if alone:
        app.callback()(_group)
    for name, (module_name, attr, options) in COMMANDS.items():
        if alone and name != only:
            continue
        module = importlib.import_module(f"certcheck.cli.{module_name}")
        values = {
            key: getattr(module, value[1:]) if value.startswith("@") else value
            for key, value in options.items()
        }
        app.command(name, **values)(getattr(module, attr))
    for name, (module_name, attr) in GROUPS.items():
        if not alone or name == only:
            module = importlib.import_module(f"certcheck.cli.{module_name}")
            app.add_typer(getattr(module, attr), name=name)
    return app


#: Allocations (minus frees) between young-generation collections; Python's default is 700.
GC_YOUNG_THRESHOLD = 5000


def _settle_collector() -> None:
    """Keep the cyclic garbage collector off what start-up loaded, and run it less often.

    A scan makes many short-lived objects per connection; with the modules, tables and
    typer's app (some 40,000 objects) in the oldest generation, each full collection
    walked them all, and young collections ran every 700 allocations.  Frozen, and at
    every 5,000: the collector's time over 180 bench targets went from 60-70 ms to
    about 17 ms (gc.callbacks timing), about 2.5% of the scan's CPU.  Nothing frozen is
    garbage that matters: it is what every command keeps until it exits.
    """
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), middle, old)
    gc.enable()  # off while the modules loaded (certcheck.cli.main)


def main() -> NoReturn:
    """Entry point: turns every usage problem into one line and exit code 2."""
    app = build_app(sys.argv[1] if len(sys.argv) > 1 else None)
    _settle_collector()
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
