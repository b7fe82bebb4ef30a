"""The monitoring commands as cron runs them: separate processes, killed runs, overlapping runs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from monitorkit import (  # noqa: F401
    HangingServer,
    MiniCA,
    closed_port,
    config_text,
    inproc_fixture,
    receiver_fixture,
    serve,
)

from certcheck.monitor.example import EXAMPLE_CONFIG
from certcheck.report.history_page import render_history
from certcheck.report.schema import validation_errors


@pytest.fixture
def cli(certcheck_cmd):
    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 90):
        return subprocess.run(
            [*certcheck_cmd, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )

    return run


@pytest.fixture
def ca(tmp_path):
    authority = MiniCA()
    (tmp_path / "ca.pem").write_bytes(authority.pem)
    return authority


def query(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db, timeout=10) as connection:
        return connection.execute(sql).fetchall()


def wait_for(condition, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_init_writes_the_example_and_refuses_to_overwrite(inproc, tmp_path):
    path = tmp_path / "certcheck.toml"
    code, _, _ = inproc("init", path)
    assert code == 0 and path.read_text() == EXAMPLE_CONFIG
    code, _, problem = inproc("init", path)
    assert code == 2
    assert problem == f"certcheck: error: '{path}' already exists (use --force to overwrite it)\n"
    path.write_text("changed")
    assert inproc("init", path, "--force")[0] == 0 and path.read_text() == EXAMPLE_CONFIG


def test_bad_configuration_is_one_line_and_exit_2(cli, inproc, tmp_path):
    path = tmp_path / "certcheck.toml"
    path.write_text('[monitor]\ntimeout = 5.0\n\n[[targets]]\nhost = "a.test"\nprot = 443\n')
    expected = f"certcheck: error: {path}:6: targets[0].prot: unknown key (did you mean 'port'?)\n"
    for command in ("history", "notify-test"):
        assert inproc(command, "--config", path) == (2, "", expected), command
    done = cli("monitor", "--config", path)  # the real entry point, in its own process
    assert (done.returncode, done.stdout, done.stderr) == (2, "", expected)
    code, _, problem = inproc("monitor", "--config", tmp_path / "nope.toml")
    assert code == 2 and "certcheck init writes an example" in problem


def test_monitor_quiet_history_and_html(cli, inproc, ca, tmp_path, receiver):
    hook = receiver()
    good = serve(ca, "good.example.test")
    bad = serve(ca, "bad.example.test", cert_host="other.example.test")
    try:
        path = tmp_path / "certcheck.toml"
        path.write_text(
            config_text(
                [("good.example.test", good.port), ("bad.example.test", bad.port)],
                'path = "history.db"',
                ca_file=tmp_path / "ca.pem",
                notify=f'[[notify]]\ntype = "wecom"\nurl = "{hook.url()}?key=${{WECOM_KEY}}"\n',
            )
        )
        env = {"WECOM_KEY": "wecom-key-2718"}
        first = cli("monitor", "--config", path, "--quiet", env=env)
        assert first.returncode == 1, first.stderr  # bad.example.test fails on an error
        assert "bad.example.test" in first.stdout and "hostname_mismatch" in first.stdout
        assert "good.example.test" not in first.stdout  # only what changed
        assert "alerts sent: 1 to wecom" in first.stdout
        assert len(hook.requests) == 1
        second = cli("monitor", "--config", path, "--quiet", env=env)
        assert (second.returncode, second.stdout, second.stderr) == (1, "", "")
        third = cli("monitor", "--config", path, env=env)
        assert third.stdout.startswith("certcheck monitor: run 3, 2 target(s), 0 change(s)")
        assert "good.example.test" in third.stdout  # the summary table
        for done in (first, second, third):
            assert "wecom-key-2718" not in done.stdout + done.stderr

        code, listed, _ = inproc("history", "--config", path)
        assert code == 0
        assert "complete  2/2" in listed
        assert "bad.example.test:" in listed and "hostname_mismatch" in listed
        _, only, _ = inproc("history", "--config", path, "--target", "good.example.test")
        assert "Changes for good.example.test" in only
        assert "hostname_mismatch" not in only
        assert "none" in inproc("history", "--config", path, "--since", "2999-01-01")[1]
        code, _, problem = inproc("history", "--config", path, "--since", "yesterday")
        assert code == 2 and "--since 'yesterday'" in problem
        # --db reads a history without the configuration (no secrets needed).
        code, direct, _ = inproc("history", "--db", tmp_path / "history.db", "--since", "7d")
        assert code == 0 and "hostname_mismatch" in direct

        page = tmp_path / "history.html"
        code, _, problem = inproc("history", "--config", path, "--html", page)
        assert code == 0, problem
        text = page.read_text()
        assert "<h2>Change log</h2>" in text and "hostname_mismatch" in text
        assert f"bad.example.test:{bad.port}" in text and "<svg" in text
        assert "wecom-key-2718" not in text

        # --json: the document the page is rendered from; it validates against the schema
        # and the page shows what it holds (no second read of the database).
        code, dumped, problem = inproc("history", "--config", path, "--json", "-")
        assert code == 0, problem
        document = json.loads(dumped)
        assert document["kind"] == "certcheck-history"
        assert validation_errors(document) == []
        bad_rows = [t for t in document["targets"] if t["target"].startswith("bad.")]
        assert bad_rows and all(r["overall"] == "fail" for r in bad_rows[0]["results"])
        assert [r["id"] for r in document["runs"]] == [3, 2, 1]
        assert any("hostname_mismatch" in c["summary"] for c in document["changes"])
        assert render_history(document).count("<tr>") == text.count("<tr>")
        broken = {**document, "runs": [{"id": "x"}]}
        assert validation_errors(broken)
    finally:
        good.stop()
        bad.stop()


def test_a_killed_run_keeps_finished_targets_and_the_next_run_carries_on(
    cli,
    certcheck_cmd,
    ca,
    tmp_path,
    receiver,
):
    hook = receiver()
    first = serve(ca, "first.example.test", cert_host="wrong.example.test")
    second = serve(ca, "second.example.test")
    hanging = HangingServer()
    last = serve(ca, "last.example.test")
    try:
        path = tmp_path / "certcheck.toml"
        path.write_text(
            config_text(
                [
                    ("first.example.test", first.port),
                    ("second.example.test", second.port),
                    ("hang.example.test", hanging.port),
                    ("last.example.test", last.port),
                ],
                'path = "history.db"',
                ca_file=tmp_path / "ca.pem",
                notify=f'[[notify]]\ntype = "webhook"\nurl = "{hook.url()}"\n',
            )
            .replace("concurrency = 4", "concurrency = 1")
            .replace("timeout = 3.0", "timeout = 1.5")
        )
        db = tmp_path / "history.db"
        process = subprocess.Popen(
            [*certcheck_cmd, "monitor", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Targets go one at a time; kill the run while it waits on the hanging server.
            wait_for(lambda: db.exists() and _count(db, "certcheck_results") >= 2)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        assert query(db, "SELECT id, status FROM certcheck_runs") == [(1, "running")]
        kept = query(db, "SELECT target FROM certcheck_results ORDER BY id")
        assert kept == [
            (f"first.example.test:{first.port}",),
            (f"second.example.test:{second.port}",),
        ]
        assert hook.requests == []  # killed before delivering: the alert waits in the outbox
        assert query(db, "SELECT status FROM certcheck_deliveries") == [("pending",)]

        done = cli("monitor", "--config", path)
        assert done.returncode == 1, done.stderr
        assert "an earlier run was interrupted" in done.stdout
        assert query(db, "SELECT id, status, targets_done FROM certcheck_runs ORDER BY id") == [
            (1, "interrupted", 2),
            (2, "complete", 4),
        ]
        # The finished targets were compared with run 1, not treated as new again ...
        changed = query(db, "SELECT DISTINCT target FROM certcheck_changes WHERE run_id = 2")
        assert sorted(t for (t,) in changed) == [
            f"hang.example.test:{hanging.port}",
            f"last.example.test:{last.port}",
        ]
        # ... and run 1's alert was delivered, once.
        bodies = hook.bodies()
        first_alerts = [b for b in bodies if b["target"].startswith("first.")]
        assert len(first_alerts) == 1 and first_alerts[0]["run_id"] == 1
        assert [b["target"].split(":")[0] for b in bodies] == [
            "first.example.test",
            "hang.example.test",
        ]
    finally:
        for server in (first, second, last, hanging):
            server.stop()


def _count(db: Path, table: str) -> int:
    try:
        return query(db, f"SELECT COUNT(*) FROM {table}")[0][0]
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet


def test_overlapping_runs_exit_with_a_clear_message_or_wait(cli, certcheck_cmd, ca, tmp_path):
    hanging = HangingServer()
    good = serve(ca, "good.example.test")
    try:
        path = tmp_path / "certcheck.toml"
        text = config_text(
            [("hang.example.test", hanging.port)],
            'path = "history.db"',
            ca_file=tmp_path / "ca.pem",
        )
        # timeout 6 s: the first run spends about 12 s on the hanging server, so it is
        # surely still going when the second run starts on a loaded CI machine (with 3 s
        # it once ended first there)
        path.write_text(text.replace("timeout = 3.0", "timeout = 6.0"))
        def locked() -> bool:  # the run's own lock file: history.db.lock.<its target set>
            return any("pid" in f.read_text() for f in tmp_path.glob("history.db.lock.*"))

        running = subprocess.Popen(
            [*certcheck_cmd, "monitor", "--config", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(locked)
            busy = cli("monitor", "--config", path)
            assert running.poll() is None  # the first run was still going
            assert (busy.returncode, busy.stdout) == (5, "")  # 5: the history is busy
            assert busy.stderr.startswith(
                f"certcheck: another certcheck monitor run is using this history "
                f"(pid {running.pid}, started "
            )
            assert "Traceback" not in busy.stderr
            # A run of the same targets with --wait queues behind the first one (runs of
            # other targets do not wait: tests/monitor/test_monitor_fleet.py).
            waited = cli("monitor", "--config", path, "--wait", "120")
            assert waited.returncode == 3, waited.stderr  # hang.example.test: unreachable
            assert running.wait(timeout=60) == 3
        finally:
            if running.poll() is None:
                running.kill()
        rows = query(
            tmp_path / "history.db",
            "SELECT id, status, started_at, finished_at FROM certcheck_runs ORDER BY id",
        )
        assert [(r[0], r[1]) for r in rows] == [(1, "complete"), (2, "complete")]
        assert rows[1][2] >= rows[0][3]  # the second run started after the first finished
    finally:
        hanging.stop()
        good.stop()
