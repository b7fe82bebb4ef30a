"""Text from servers and files, made safe to show to a person.

A certificate's CN or SAN, a cipher name in a facts file, a server's error text: any of
them can carry ESC sequences (clear the screen, set the window title, recolour the
output), other C0/C1 controls, or Unicode bidi overrides (U+202E turns ``moc.evil`` into
what reads as ``live.com``).  Everything certcheck shows to a person, on a terminal, in a
file, in the HTML report, in XML or in an alert, goes through :func:`visible`, which
replaces each such character with a printable escape (``\\x1b``, ``\\u202e``).  The JSON
documents keep the exact strings: they are data, and JSON escapes controls itself.

:class:`SafeConsole` (in :mod:`certcheck.report.safeconsole`, with rich) is the console
every command prints through: markup is never interpreted (a ``[link=…]`` in a certificate
name stays text), a plain string is escaped before rich measures it, and every text
segment is passed through :func:`visible` before it is written, so a
:class:`~rich.text.Text` made from a value that was not escaped at its source still cannot
drive the terminal (only its column alignment may suffer).
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

#: C0 controls, DEL, C1 controls, and the invisible format characters that reorder or hide
#: text: ALM, ZW space/joiners, LRM/RLM, line/paragraph separators, the bidi embeddings,
#: overrides and isolates, word joiner and invisible operators, BOM, interlinear anchors.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]"
)
_UNSAFE_KEEP_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069"
    "\ufeff\ufff9-\ufffb]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, keep_newlines: bool = False) -> str:
    """``text`` with every control or bidi/invisible format character written as an escape.

    ``keep_newlines`` leaves ``\\n`` alone (for multi-line text certcheck itself composed);
    a single-line value from a server or a file should not keep them.
    """
    pattern = _UNSAFE_KEEP_NEWLINE if keep_newlines else _UNSAFE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape, text)


def is_visible(text: str) -> bool:
    """True when :func:`visible` would leave ``text`` as it is (newlines allowed)."""
    return _UNSAFE_KEEP_NEWLINE.search(text) is None


def visible_value(value: Any) -> Any:
    """:func:`visible` over a string, or over the strings inside lists and dicts (keys too)."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, list | tuple):
        return [visible_value(v) for v in value]
    if isinstance(value, dict):
        return {visible_value(k): visible_value(v) for k, v in value.items()}
    return value


def html_visible(value: object) -> object:
    """The ``finalize`` of the HTML templates: every value a template prints that is text
    from a server or a file shows its control and bidi characters as escapes (a U+202E in
    a CN must not reorder the report); markup the report made itself is left alone."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value, keep_newlines=True)
    return value


def __getattr__(name: str) -> Any:
    """``SafeConsole`` is rich's: imported only when a console is made (rich.console
    and rich.table are a quarter of a JSON-only scan's start-up CPU)."""
    if name == "SafeConsole":
        from certcheck.report.safeconsole import SafeConsole

        return SafeConsole
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
