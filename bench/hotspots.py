"""Where certcheck's time goes: run it under py-spy and summarise the samples.

py-spy (a sampling profiler, a separate process) samples the child;
``--gil`` keeps only the thread holding the GIL, so the samples are where
Python-level CPU goes (threads blocked in socket calls, or in OpenSSL code that
released the GIL, are not counted); ``--format raw`` writes collapsed stacks
(``frame;frame;... count``).  The summary gives, per function, the share of samples it is
on the stack of (inclusive) and at the top of (self), and per file.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

#: "function (path/file.py:123)" -> function and path.
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^():]+)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter or on PATH, if any."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def py_spy_command(py_spy_exe: str, output: Path, cmd: list[str], rate: int = 100) -> list[str]:
    return [
        py_spy_exe,
        "record",
        "--gil",
        "--format",
        "raw",
        "--rate",
        str(rate),
        "--output",
        str(output),
        "--",
        *cmd,
    ]


def _short_file(path: str) -> str:
    for marker in ("/certcheck/", "/site-packages/", "/lib/python3"):
        if marker in path:
            return (
                path.split(marker, 1)[1]
                if marker != "/certcheck/"
                else "certcheck/" + (path.split(marker, 1)[1])
            )
    return path


def _frame_key(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip(), ""
    return match["func"], _short_file(match["file"])


#: A sample belongs to the first of these found walking from the leaf frame up.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("<frozen importlib", "start-up: importing modules"),
    ("certcheck/probe/", "probe (building hellos, sockets, parsing answers)"),
    ("certcheck/evaluate/", "evaluate (rules, chain building, simulation)"),
    ("certcheck/report/", "report (JSON / JSON lines)"),
    ("certcheck/pipeline.py", "pipeline (probe pool, streaming evaluation)"),
    ("concurrent/futures/", "thread pools"),
    ("threading.py", "thread pools"),
)


def category(frames: list[tuple[str, str]]) -> str:
    for _, file in reversed(frames):
        for prefix, name in CATEGORIES:
            if file.startswith(prefix):
                return name
    return "other (CLI, typer, interpreter)"


@dataclass
class Hotspots:
    samples: int
    inclusive: list[tuple[str, float]]
    self_time: list[tuple[str, float]]
    files: list[tuple[str, float]]
    categories: list[tuple[str, float]]


def summarise(raw: Path, top: int = 15) -> Hotspots:
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    files: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_key(f) for f in stack.split(";")]
        frames = [f for f in frames if not f[0].startswith("thread (") and f[0] != "process"]
        if not frames:
            continue
        total += count
        names = {f"{func} ({file})" for func, file in frames}
        for name in names:
            inclusive[name] += count
        for file in {file for _, file in frames if file}:
            files[file] += count
        func, file = frames[-1]
        self_time[f"{func} ({file})"] += count
        categories[category(frames)] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return (
            [(k, round(100 * v / total, 1)) for k, v in counter.most_common(top)] if total else []
        )

    return Hotspots(total, share(inclusive), share(self_time), share(files), share(categories))
