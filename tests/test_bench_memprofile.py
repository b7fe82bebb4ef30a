"""bench/memprofile.py still finds the scan's report hand-over (it silently wrote nothing
after the command modules moved), and RESULTS.md names how the server farm ran."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import results_md  # noqa: E402


def test_memprofile_snapshots_a_real_scan(tmp_path: Path) -> None:
    with socket.socket() as closed:  # bound, never listening: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        report = tmp_path / "memory.json"
        done = subprocess.run(
            [sys.executable, str(BENCH / "memprofile.py"), str(report), "scan",
             f"127.0.0.1:{port}", "--timeout", "2", "--jsonl", "-"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "MEMPROFILE_FRAMES": "1"},  # 8 frames: 20 s more
        )  # fmt: skip
    assert done.returncode == 3, done.stderr  # unreachable: exit 3, as the executable
    assert "Traceback" not in done.stderr
    profile = json.loads(report.read_text())
    assert profile["targets"] == 1
    assert profile["traced_mib_at_emit"] > 0
    assert profile["by_file"] and profile["by_line"]
    assert json.loads(done.stdout.splitlines()[0])["result"]["target"]["port"] == port


def test_results_name_the_farm_processes() -> None:
    assert results_md._farm({"server_processes": 2}) == "2 single-threaded worker processes"
    assert results_md._farm({"server_processes": 1}) == "1 single-threaded worker process"
    assert results_md._farm({}) == "one process (128 handler threads)"  # runs before the change
