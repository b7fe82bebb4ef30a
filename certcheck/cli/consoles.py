"""The command line's two consoles, made when first used.

A :class:`~certcheck.report.safeconsole.SafeConsole` needs rich, whose import is about a
quarter of the start-up CPU of a scan that writes only JSON (``--jsonl -`` in cron, the
benchmark).  Such a scan asks only whether standard error is a terminal and writes plain
progress lines; :class:`LazyConsole` answers both without rich, exactly as rich would,
and builds the real console for everything else.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from certcheck.report.safetext import visible

if TYPE_CHECKING:
    from certcheck.report.safeconsole import SafeConsole

#: Environment variables by which rich decides "terminal" other than isatty()
#: (rich/console.py, Console.is_terminal): with one set, rich itself is asked.
_RICH_TERMINAL_ENV = ("TTY_COMPATIBLE", "FORCE_COLOR")


class LazyConsole:
    """A SafeConsole made on first use; attribute access goes to it."""

    def __init__(self, *, stderr: bool = False, soft_wrap: bool = False) -> None:
        self._options: dict[str, Any] = {"stderr": stderr, "soft_wrap": soft_wrap}
        self._console: SafeConsole | None = None

    @property
    def console(self) -> SafeConsole:
        """The real console (made now if it was not yet)."""
        if self._console is None:
            from certcheck.report.safeconsole import SafeConsole

            self._console = SafeConsole(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)

    def _stream(self) -> TextIO:
        return sys.stderr if self._options["stderr"] else sys.stdout

    def _rich_would_decide_alone(self) -> bool:
        return self._console is None and not any(name in os.environ for name in _RICH_TERMINAL_ENV)

    @property
    def is_terminal(self) -> bool:
        """rich's answer; without rich when only isatty() decides."""
        if not self._rich_would_decide_alone():
            return bool(self.console.is_terminal)
        try:
            return self._stream().isatty()
        except (AttributeError, ValueError):  # no isatty, or closed: rich says False too
            return False

    def line(self, text: str) -> None:
        """Print one plain line of certcheck's own text (no markup, no styles).

        On a soft-wrapping console that is not a terminal rich writes exactly the escaped
        text and a newline, so that is written without it.
        """
        if self._options["soft_wrap"] and not self.is_terminal and self._console is None:
            stream = self._stream()
            stream.write(visible(text, keep_newlines=True) + "\n")
            stream.flush()
            return
        self.console.print(text, markup=False)
