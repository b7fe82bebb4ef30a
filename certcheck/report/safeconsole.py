"""The rich console every command prints through (see :mod:`certcheck.report.safetext`).

Apart from the escaping functions, because rich is a quarter of a JSON-only scan's
start-up CPU and such a scan never draws a table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from certcheck.report.safetext import is_visible, visible


class SafeConsole(Console):
    """A rich console that never interprets markup or emoji codes in what it prints, and
    escapes control characters in every text segment it writes (styles and the cursor
    movements of progress bars are rich's own control segments, left as they are)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("emoji", False)
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        # a plain string (a table cell, a print argument) is escaped before rich measures it
        kwargs["markup"] = False
        kwargs["emoji"] = False
        return super().render_str(visible(text, keep_newlines=True), **kwargs)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        safe = (
            segment
            if segment.control or is_visible(segment.text)
            else Segment(visible(segment.text, keep_newlines=True), segment.style)
            for segment in super().render(renderable, options)
        )
        if self.is_terminal:
            yield from safe
            return
        # Into a file or a pipe: no trailing spaces (rich pads table cells to the width).
        yield from _without_trailing_spaces(safe)


def _rstrip_line(out: list[Segment]) -> None:
    """Drop the spaces that end the line being built in ``out`` (up to the last newline)."""
    while out and not out[-1].control:
        text = out[-1].text
        if text.endswith("\n"):
            return
        stripped = text.rstrip(" ")
        if stripped:
            if stripped != text:
                out[-1] = Segment(stripped, out[-1].style)
            return
        out.pop()


def _without_trailing_spaces(segments: Iterable[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for segment in segments:
        if segment.control or "\n" not in segment.text:
            out.append(segment)
            continue
        *lines, last = segment.text.split("\n")
        for line in lines:
            if line:
                out.append(Segment(line, segment.style))
            _rstrip_line(out)
            out.append(Segment("\n", segment.style))
        if last:
            out.append(Segment(last, segment.style))
    return out
