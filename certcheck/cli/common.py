"""What every command shares: the consoles, exit-code help, usage errors, file I/O, --at.

Command modules import from here (and from ``options``, ``settings``, ``emit``); only
``certcheck.cli.app`` knows the typer app and registers the commands on it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from certcheck.cli.consoles import LazyConsole
from certcheck.core.times import parse_instant

EXIT_CODES_HELP = (
    "Exit codes: 0 every target compliant at --fail-on; 1 at least one finding at or "
    "above --fail-on; 2 usage error (bad flag, target or file); 3 at least one target "
    "could not be scanned (DNS, refused, timeout, not TLS) and none failed on findings; "
    "4 certcheck itself failed to evaluate a target (an internal error, reported on that "
    "target; the others are complete); 5 and 6 are monitor's (history busy, undelivered "
    "alerts: certcheck monitor --help)."
)

#: standard output and standard error (SafeConsoles, made when first used)
out = LazyConsole()
err = LazyConsole(stderr=True, soft_wrap=True)


class UsageProblem(Exception):
    """A problem with what the user gave us: exit code 2, one line, no traceback."""


def fail_usage(message: str) -> NoReturn:
    raise UsageProblem(message)


def parse_at(at: str | None) -> datetime:
    """The evaluation instant: ``--at`` (UTC) or the clock."""
    if at is None:
        return datetime.now(UTC)
    try:
        moment = parse_instant(at)
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


def read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail_usage(f"{what} {str(path)!r}: {exc.strerror or exc}")
