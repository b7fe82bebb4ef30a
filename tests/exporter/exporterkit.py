"""Start ``certcheck serve`` on a free loopback port and talk to it."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, timeout: float = 60) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Served:
    def __init__(self, cmd: list[str], config: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*cmd, "serve", "--config", str(config), "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.proc.communicate()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("serve did not start listening")

    def get(self, path: str) -> tuple[int, str]:
        return get(self.base + path)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=20)
        finally:
            self.proc.communicate()


def config_with(base: str, serve: str) -> str:
    """``base`` (a monitor config) with a ``[serve]`` table put before its first table."""
    return re.sub(r"^\[monitor\]", serve + "\n[monitor]", base, count=1, flags=re.M)
