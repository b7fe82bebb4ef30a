"""certcheck.cli.consoles: the lazy consoles say and print what rich's would, without rich."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from certcheck.cli.consoles import LazyConsole
from certcheck.report.safeconsole import SafeConsole


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_a_json_only_scan_path_does_not_import_rich() -> None:
    code = (
        "import sys\n"
        "import certcheck.cli.scan, certcheck.cli.emit, certcheck.cli.app\n"
        "from certcheck.cli.common import err\n"
        "err.is_terminal\n"
        "err.line('certcheck: 1 of 2 target(s) done')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert done.stderr == "certcheck: 1 of 2 target(s) done\n"


@pytest.mark.parametrize("tty", [True, False])
@pytest.mark.parametrize(
    "env", [{}, {"FORCE_COLOR": "1"}, {"FORCE_COLOR": ""}, {"TTY_COMPATIBLE": "0"},
            {"TTY_COMPATIBLE": "1"}],
)  # fmt: skip
def test_is_terminal_agrees_with_rich(
    monkeypatch: pytest.MonkeyPatch, tty: bool, env: dict[str, str]
) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    rich_says = SafeConsole(stderr=True, soft_wrap=True).is_terminal
    assert LazyConsole(stderr=True, soft_wrap=True).is_terminal == rich_says


@pytest.mark.parametrize(
    "text",
    [
        "certcheck: 12 of 4000 target(s) done, 81.2/s, ETA 0m48s",
        "x" * 300,  # longer than any width: a soft-wrapping console does not wrap
        "evil \x1b[2J\u202etxt.exe [bold]not markup[/bold] :smile:",
        "two\nlines",
    ],
)
def test_a_plain_line_is_written_exactly_as_rich_writes_it(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setattr(sys, "stderr", _Stream(False))
    SafeConsole(stderr=True, soft_wrap=True).print(text, markup=False)
    by_rich = sys.stderr.getvalue()
    monkeypatch.setattr(sys, "stderr", _Stream(False))
    lazy = LazyConsole(stderr=True, soft_wrap=True)
    lazy.line(text)
    assert sys.stderr.getvalue() == by_rich
    assert lazy._console is None  # written without making the rich console


def test_on_a_terminal_or_without_soft_wrap_the_line_goes_through_rich(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setattr(sys, "stderr", _Stream(True))
    lazy = LazyConsole(stderr=True, soft_wrap=True)
    lazy.line("on a terminal")
    assert isinstance(lazy._console, SafeConsole)
    monkeypatch.setattr(sys, "stdout", _Stream(False))
    plain = LazyConsole()
    plain.line("y " * 60)
    assert isinstance(plain._console, SafeConsole)
    assert "\n" in sys.stdout.getvalue().rstrip("\n")  # wrapped at rich's width


def test_attributes_reach_the_real_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _Stream(False))
    lazy = LazyConsole()
    lazy.print("hello", markup=False)
    assert sys.stdout.getvalue() == "hello\n"
    assert lazy.console is lazy._console
    assert lazy.width == lazy.console.width
