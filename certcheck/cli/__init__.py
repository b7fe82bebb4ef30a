"""The command line: ``app`` (the typer app and its registrations), ``common`` (consoles, usage
errors, file I/O), ``options`` (shared options, defined once), ``settings`` (options →
policy and outputs), ``emit`` (reports of a finished run), and one module per command."""

from __future__ import annotations

import gc
from typing import NoReturn


def main() -> NoReturn:
    """``certcheck`` (the console script): imports the commands only when run.

    The collector is off while they load (nothing they make is garbage; some ten
    collections, about 10 ms, walked it); the app turns it on again, see
    ``certcheck.cli.app._settle_collector``.
    """
    gc.disable()
    from certcheck.cli.app import main as run

    run()
