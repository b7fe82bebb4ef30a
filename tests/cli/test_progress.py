"""The terminal progress bar (certcheck/cli/progress.py) and the lines without a terminal."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from certcheck.cli.progress import progress_bar


def test_the_bar_counts_each_target() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with progress_bar(3, console) as advance:
        for _ in range(3):
            advance()
        console.print("", end="")  # let the live display draw at least once
    text = screen.getvalue()
    assert "scanning" in text and "3/3" in text and "/s" in text


def test_a_scan_without_a_terminal_does_not_load_rich_progress() -> None:
    code = (
        "import sys; import certcheck.cli.scan;"
        "print('rich.progress' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
