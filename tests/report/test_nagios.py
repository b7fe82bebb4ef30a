"""``--nagios``: one plugin status line with perfdata, and the plugin exit codes."""

from __future__ import annotations

import re
import socket
import subprocess

LINE = re.compile(
    r"^CERTCHECK (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+( \| ('[^']+'=-?\d+;\d+;\d+;;\s?)+)?$"
)


def _run(certcheck_cmd, *args):
    return subprocess.run([*certcheck_cmd, *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def _check(certcheck_cmd, sample_dir, name, *extra):
    return _run(certcheck_cmd, "check-cert", sample_dir / f"{name}.pem", "--ca-file",
                sample_dir / "ca.pem", "--nagios", *extra)


def test_ok_warning_critical(certcheck_cmd, sample_dir, sample_set):
    good = _check(certcheck_cmd, sample_dir, "good_rsa")
    assert good.returncode == 0 and good.stdout.count("\n") == 1, good.stdout
    assert LINE.match(good.stdout.strip()) and good.stdout.startswith("CERTCHECK OK - ")
    assert "'good.example.test:443 days'=" in good.stdout
    weak = _check(certcheck_cmd, sample_dir, "sha1")
    assert weak.returncode == 2 and weak.stdout.startswith("CERTCHECK CRITICAL - ")
    assert "sig_hash_weak" in weak.stdout  # the cause, not the simulation's summary rule
    soon = _check(certcheck_cmd, sample_dir, "expiring_soon", "--warn-days", "60",
                  "--crit-days", "0")
    assert soon.returncode == 1 and soon.stdout.startswith("CERTCHECK WARNING - "), soon.stdout
    assert ";60;0;;" in soon.stdout


def test_an_unreachable_target_is_unknown(certcheck_cmd):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = _run(certcheck_cmd, "scan", f"down.example.test:{port}", "--resolve",
                f"down.example.test:{port}:127.0.0.1", "--timeout", "2", "--nagios")
    assert proc.returncode == 3
    assert proc.stdout.startswith("CERTCHECK UNKNOWN - 1 of 1 target(s) with problems: ")
    assert "not scanned (refused)" in proc.stdout
