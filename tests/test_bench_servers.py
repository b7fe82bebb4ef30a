"""bench/servers.py, the benchmark's server farm, run as the bench runs it.

One farm (12 listeners, 2 worker processes) is started for the module as a
real child process on 127.0.0.1; the tests talk to it with the standard
library's TLS client and its ``stats`` command, then close its standard input
and check that every process is gone.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


class Farm:
    def __init__(self, folder: Path, *args: str) -> None:
        self.folder = folder
        self.manifest_path = folder / "servers.json"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(BENCH / "servers.py"),
                "--manifest",
                str(self.manifest_path),
                *args,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while not self.manifest_path.exists():
            assert self.proc.poll() is None, self.proc.stdout.read() if self.proc.stdout else ""
            assert time.monotonic() < deadline, "no manifest within 60 s"
            time.sleep(0.05)
        self.manifest: dict[str, Any] = json.loads(self.manifest_path.read_text())
        self.asked = 0

    def port(self, kind: str) -> int:
        return next(s["port"] for s in self.manifest["servers"] if s["kind"] == kind)

    def host(self, kind: str) -> str:
        return next(s["host"] for s in self.manifest["servers"] if s["kind"] == kind)

    def stats(self) -> dict[str, Any]:
        self.asked += 1
        path = self.folder / f"stats{self.asked}.json"
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"stats {path}\n".encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + 10
        while not path.exists():
            assert time.monotonic() < deadline, "no stats within 10 s"
            time.sleep(0.02)
        return json.loads(path.read_text())

    def close(self) -> None:
        """Stop the farm if it still runs and close our ends of its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=20)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def client(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.manifest["ca_file"])
        return ctx


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    running = Farm(tmp_path_factory.mktemp("farm"), "--servers", "12", "--processes", "2")
    yield running
    running.close()


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _https_get(farm: Farm, kind: str) -> tuple[str, bytes]:
    with socket.create_connection(("127.0.0.1", farm.port(kind)), timeout=10) as raw:
        with farm.client().wrap_socket(raw, server_hostname=farm.host(kind)) as tls:
            version = str(tls.version())
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
            return version, answer


def test_the_manifest_names_the_workers_and_every_listener_is_loopback(farm: Farm) -> None:
    assert farm.manifest["processes"] == 2
    assert farm.manifest["address"] == "127.0.0.1"
    assert len(farm.manifest["servers"]) == 12
    assert len(_children(farm.proc.pid)) == 2


def test_listeners_of_both_workers_complete_a_verified_handshake_and_answer(farm: Farm) -> None:
    # kind_sequence interleaves kinds: good_rsa and good_ecdsa land on different workers
    # (listeners 0 and 1 of 12; worker k serves k, k + 2, ...)
    kinds = [s["kind"] for s in farm.manifest["servers"]]
    assert kinds.index("good_rsa") % 2 != kinds.index("good_ecdsa") % 2
    for kind in ("good_rsa", "good_ecdsa"):
        version, answer = _https_get(farm, kind)
        assert version == "TLSv1.3"
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok")


def test_a_listener_keeps_its_protocol_floor(farm: Farm) -> None:
    ctx = farm.client()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", farm.port("tls13_only")), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname=farm.host("tls13_only"))


def test_closed_hangs_up_and_silent_never_answers(farm: Farm) -> None:
    with socket.create_connection(("127.0.0.1", farm.port("closed")), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x00")
        try:
            assert sock.recv(10) == b""
        except ConnectionResetError:
            pass
    with socket.create_connection(("127.0.0.1", farm.port("silent")), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x00")
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(10)
        assert farm.stats()["silent_open"] >= 1


def test_a_client_that_never_sends_its_hello_does_not_stall_the_others(farm: Farm) -> None:
    stalled = [socket.create_connection(("127.0.0.1", farm.port("good_rsa"))) for _ in range(20)]
    try:
        version, _ = _https_get(farm, "good_rsa")
        assert version == "TLSv1.3"
    finally:
        for sock in stalled:
            sock.close()


def test_stats_count_every_accepted_connection_over_both_workers(farm: Farm) -> None:
    before = farm.stats()
    for kind in ("good_rsa", "good_ecdsa", "expired", "closed"):
        with socket.create_connection(("127.0.0.1", farm.port(kind)), timeout=10):
            pass
    deadline = time.monotonic() + 10
    while (after := farm.stats())["accepted"] - before["accepted"] < 4:
        assert time.monotonic() < deadline, (before, after)
        time.sleep(0.05)
    assert after["accepted"] - before["accepted"] == 4
    assert after["cpu_s"] >= before["cpu_s"] > 0  # the workers' CPU, summed by the parent


def test_end_of_standard_input_stops_the_farm_and_every_worker(tmp_path: Path) -> None:
    farm = Farm(tmp_path, "--servers", "4", "--processes", "3")
    workers = _children(farm.proc.pid)
    assert len(workers) == 3
    assert farm.proc.stdin is not None
    farm.proc.stdin.close()
    assert farm.proc.wait(timeout=20) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    farm.close()


def test_sigterm_stops_the_farm_and_every_worker(tmp_path: Path) -> None:
    farm = Farm(tmp_path, "--servers", "4", "--processes", "2")
    workers = _children(farm.proc.pid)
    os.kill(farm.proc.pid, signal.SIGTERM)
    assert farm.proc.wait(timeout=20) == 0
    assert farm.proc.stdout is not None
    assert b"stopped (signal)" in farm.proc.stdout.read()
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()
    farm.close()


def test_a_worker_count_out_of_range_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "servers.py"),
            "--manifest",
            str(tmp_path / "m.json"),
            "--processes",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--processes 0: choose 1-64" in done.stderr
    assert "Traceback" not in done.stderr
