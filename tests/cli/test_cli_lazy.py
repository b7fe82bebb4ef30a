"""``certcheck CMD ...`` builds an app with only CMD (certcheck.cli.app.build_app): what the
user sees must be exactly what the full app says, for help, usage errors and bad options."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from certcheck.cli.app import COMMANDS, GROUPS, build_app

RUNNER = CliRunner()
NAMES = [*COMMANDS, *GROUPS]


def _said(only: str | None, args: list[str]) -> tuple[int, str]:
    result = RUNNER.invoke(build_app(only), args, prog_name="certcheck", env={"COLUMNS": "100"})
    return result.exit_code, result.output


@pytest.mark.parametrize("name", NAMES)
def test_a_command_alone_says_what_the_full_app_says(name: str) -> None:
    for args in ([name, "--help"], [name, "--no-such-option"], [name, "-h"]):
        assert _said(name, args) == _said(None, args), args


@pytest.mark.parametrize("sub", ["update", "status", "reset"])
def test_a_group_alone_keeps_its_subcommands(sub: str) -> None:
    args = ["data", sub, "--help"]
    alone = _said("data", args)
    assert alone == _said(None, args) and alone[0] == 0 and sub in alone[1]


def test_alone_means_the_other_commands_are_not_there() -> None:
    code, text = _said("scan", ["evaluate", "--help"])
    assert code != 0 and "evaluate" in text  # the lone app does not know it: no silent fallback
    assert "scan" in build_app("scan").registered_commands[0].name  # type: ignore[operator]
    assert len(build_app("scan").registered_commands) == 1
    assert len(build_app(None).registered_commands) == len(COMMANDS)


def test_a_scan_start_does_not_import_the_other_commands() -> None:
    code = (
        "import sys; sys.argv = ['certcheck', 'scan', '--help'];"
        "from certcheck.cli.app import build_app; build_app('scan');"
        "print(sorted(m for m in sys.modules if m.startswith('certcheck.cli.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(eval(done.stdout))  # noqa: S307 - our own repr of a list of names
    others = ("monitor", "serve", "miniprogram", "demo", "history", "forecast")
    for other in others:
        assert f"certcheck.cli.{other}" not in loaded
    assert "certcheck.cli.scan" in loaded
