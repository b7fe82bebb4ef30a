"""The command line: ``app`` (the typer app and its registrations), ``common`` (consoles, usage
errors, file I/O), ``options`` (shared options, defined once), ``settings`` (options →
policy and outputs), ``emit`` (reports of a finished run), and one module per command."""

from __future__ import annotations

from typing import NoReturn


def main() -> NoReturn:
    """``certcheck`` (the console script): imports the commands only when run."""
    from certcheck.cli.app import main as run

    run()
