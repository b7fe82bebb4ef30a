"""Monitoring a fleet: shards of one configuration sharing one history (SQLite and PostgreSQL),
outbox ownership, attempt and age caps, stable alert ids across kill -9, e-mail headers,
the delivery exit code, and robot answers that only look like success.

Everything is real: certcheck runs as a separate process where the test kills it, receivers
are HTTP and SMTP servers on 127.0.0.1, histories are SQLite files or PostgreSQL databases.
"""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from monitorkit import (  # noqa: F401
    MiniCA,
    closed_port,
    history_url_fixture,
    inproc_fixture,
    pg_url_fixture,
    receiver_fixture,
)
from sqlalchemy import select, text

from certcheck.model import ScanError, ServerFacts, Target, TargetResult
from certcheck.monitor import migrations, schema
from certcheck.monitor.alerts import Message
from certcheck.monitor.config import load_config, parse_config
from certcheck.monitor.delivery import deliver_outbox, send
from certcheck.monitor.lock import LockBusy, shard_key
from certcheck.monitor.run import run_monitor
from certcheck.monitor.store import Store
from certcheck.targets import in_shard

# -- helpers ----------------------------------------------------------------------------------


def fleet_config(
    hosts: list[str],
    port: int,
    history: str,
    ca_file: Path,
    notify: str = "",
    alerts: str = "",
) -> str:
    """Targets that refuse connections (each run alerts 'unreachable' at once, then reminds)."""
    lines = [
        "[monitor]",
        f'ca_file = "{ca_file}"',
        "timeout = 2.0",
        "concurrency = 4",
        "[alerts]",
        'min_severity = "error"',
        "retries = 1",
        "backoff_seconds = 0",
        "timeout_seconds = 20",
        alerts,
        "[history]",
        f'url = "{history}"',
    ]
    for host in hosts:
        lines += ["[[targets]]", f'host = "{host}"', f"port = {port}", 'resolve = "127.0.0.1"']
    return "\n".join(lines) + "\n" + notify


def split_hosts(port: int, per_shard: int = 2) -> tuple[list[str], list[str]]:
    """Host names that land ``per_shard`` in shard 1/2 and ``per_shard`` in 2/2 (stable split)."""
    one: list[str] = []
    two: list[str] = []
    index = 0
    while len(one) < per_shard or len(two) < per_shard:
        host = f"t{index}.example.test"
        index += 1
        side = one if in_shard(Target(host, port), (1, 2)) else two
        if len(side) < per_shard:
            side.append(host)
    return one, two


@dataclass
class Hold:
    """A webhook receiver on 127.0.0.1 that dedupes by the body's ``id``.

    The first ``hold`` requests are kept open until :meth:`release` (then answered);
    every request is answered with ``status``.
    """

    hold: int = 0
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    unique: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.held = threading.Event()
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.requests.append(
                        {"body": body, "key": self.headers.get("Idempotency-Key")}
                    )
                    holding = receiver.hold > 0
                    receiver.hold -= 1 if holding else 0
                if holding:
                    receiver.held.set()
                    receiver.released.wait(30)
                if receiver.status == 200:
                    with receiver.lock:
                        receiver.unique.setdefault(body["id"], body)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender was killed while we held its request

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hold() -> Iterator[Any]:
    made: list[Hold] = []

    def make(**kwargs: Any) -> Hold:
        made.append(Hold(**kwargs))
        return made[-1]

    yield make
    for item in made:
        item.close()


@pytest.fixture
def ca_file(tmp_path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(MiniCA().pem)
    return path


def rows(url: str, table: Any) -> list[Any]:
    store = Store.open(url)
    try:
        with store.engine.connect() as connection:
            return list(connection.execute(select(table).order_by(table.c.id)))
    finally:
        store.close()


def monitor(path: Path, **options: Any):
    config = load_config(path)
    store = Store.open(config.history_url, config.redactor)
    try:
        return run_monitor(config, store, sleep=lambda _s: None, **options)
    finally:
        store.close()


def spawn(certcheck_cmd: list[str], *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*certcheck_cmd, "monitor", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Any, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


# -- 1. shards run at the same time; identical runs are refused --------------------------------


def test_two_shards_of_one_config_run_at_once_and_deliver_every_alert_once(
    history_url, ca_file, tmp_path, hold, certcheck_cmd
):
    port = closed_port()
    one, two = split_hosts(port)
    hook = hold(hold=1)  # shard 1's first POST is held open while shard 2 runs
    path = tmp_path / "certcheck.toml"
    path.write_text(
        fleet_config(
            one + two,
            port,
            history_url,
            ca_file,
            notify=f'[[notify]]\ntype = "webhook"\nurl = "{hook.url()}"\n',
        )
    )
    first = spawn(certcheck_cmd, "--config", path, "--shard", "1/2")
    try:
        assert hook.held.wait(60), first.stderr.read() if first.poll() is not None else ""
        # Shard 1 holds its lock (mid-delivery); shard 2 runs and finishes meanwhile.
        second = subprocess.run(
            [*certcheck_cmd, "monitor", "--config", str(path), "--shard", "2/2"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert second.returncode == 3, second.stderr  # its targets are unreachable
        assert first.poll() is None  # shard 1 is still waiting for its receiver
        assert "2 target(s) (shard 2/2), 2 change(s), 0 alert(s) pending" in second.stdout
        # ... while the very same shard is refused: exit 5, naming the holder.
        again = subprocess.run(
            [*certcheck_cmd, "monitor", "--config", str(path), "--shard", "1/2"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert (again.returncode, again.stdout) == (5, "")
        assert again.stderr.startswith("certcheck: another certcheck monitor run is using")
        assert "shard 1/2" in again.stderr and "Traceback" not in again.stderr
        hook.release()
        assert first.wait(timeout=90) == 3
    finally:
        if first.poll() is None:
            first.kill()
    runs = rows(history_url, schema.runs)
    assert [(r.shard, r.status, r.targets_done) for r in runs] == [
        ("1/2", "complete", 2),
        ("2/2", "complete", 2),
    ]
    assert runs[0].started_at < runs[1].started_at  # shard 2 ran inside shard 1's run
    assert runs[0].lock_key == shard_key(f"{h}:{port}" for h in one)
    # Every target's alert reached the receiver; shard 1's held one went again with its id.
    targets = sorted(b["target"] for b in hook.unique.values())
    assert targets == sorted(f"{h}:{port}" for h in one + two)
    assert {r.status for r in rows(history_url, schema.deliveries)} == {"sent"}


def test_a_shard_lock_refuses_only_its_own_targets_and_live_runs_are_not_closed(
    history_url, ca_file, tmp_path, inproc
):
    port = closed_port()
    one, two = split_hosts(port, per_shard=1)
    path = tmp_path / "certcheck.toml"
    path.write_text(fleet_config(one + two, port, history_url, ca_file))
    holder = Store.open(history_url)
    try:
        holder.migrate()
        key = shard_key([f"{one[0]}:{port}"])
        with holder.lock(key=key):
            live = holder.begin_run(datetime.now(UTC), 1, "wechat", lock_key=key, shard="1/2")
            code, _out, err = inproc("monitor", "--config", path, "--shard", "1/2")
            assert code == 5 and "another certcheck monitor run" in err, err
            code, out, err = inproc("monitor", "--config", path, "--shard", "2/2")
            assert code == 3, err
            # The other shard's run is alive (its lock is held): not marked interrupted.
            assert "interrupted" not in out
            status = {r.id: r.status for r in rows(history_url, schema.runs)}
            assert status[live] == "running"
        # Whole-history maintenance (store.lock() without a key) refuses every shard.
        other = Store.open(history_url)
        try:
            with holder.lock(), pytest.raises(LockBusy), other.lock(key=shard_key(["x:1"])):
                pass
        finally:
            other.close()
        # The holder is gone now: the next run closes its run as interrupted.
        code, out, _err = inproc("monitor", "--config", path, "--shard", "2/2")
        assert code == 3 and "an earlier run was interrupted" in out
        assert {r.id: r.status for r in rows(history_url, schema.runs)}[live] == "interrupted"
    finally:
        holder.close()


def test_shard_must_be_k_of_n(inproc, ca_file, tmp_path):
    path = tmp_path / "certcheck.toml"
    path.write_text(fleet_config(["a.example.test"], 1, "sqlite:///h.db", ca_file))
    code, _out, err = inproc("monitor", "--config", path, "--shard", "3/2")
    assert code == 2 and "expected K/N" in err


# -- 2. a run only touches its own outbox rows -------------------------------------------------


def test_another_configuration_leaves_this_ones_undelivered_alerts_alone(
    history_url, ca_file, tmp_path, hold
):
    port = closed_port()
    hook = hold(status=503)
    a_path, b_path = tmp_path / "a.toml", tmp_path / "b.toml"
    a_path.write_text(
        fleet_config(
            ["a1.example.test", "a2.example.test"],
            port,
            history_url,
            ca_file,
            notify=f'[[notify]]\nname = "team-a"\ntype = "webhook"\nurl = "{hook.url()}"\n',
        )
    )
    b_path.write_text(  # other targets, and no channel called team-a
        fleet_config(["b1.example.test"], port, history_url, ca_file)
    )
    t0 = datetime.now(UTC)
    first = monitor(a_path, now=t0)
    assert first.delivery.pending == {"team-a": 2}
    other = monitor(b_path, now=t0 + timedelta(minutes=5))
    assert other.delivery.abandoned == [] and other.delivery.pending == {}
    assert [r.status for r in rows(history_url, schema.deliveries)] == ["pending", "pending"]
    assert len(hook.requests) == 1  # only a's own run tried (and paused the channel)
    hook.status = 200
    again = monitor(a_path, now=t0 + timedelta(minutes=10))
    assert len(again.delivery.sent) == 2 and again.delivery.pending == {}
    assert sorted(b["target"] for b in hook.unique.values()) == [
        f"a1.example.test:{port}",
        f"a2.example.test:{port}",
    ]


# -- 3. attempt and age caps; a poison message does not block its channel ----------------------


def _alert(store: Store, run_id: int, target: str, now: datetime, channel: str) -> None:
    facts = ServerFacts(Target(target.split(":")[0]), "x", error=ScanError("refused", "refused"))
    message = Message(
        kind="change",
        target=target,
        title=f"certcheck {target}: unreachable",
        severity="error",
        items=[{"kind": "unreachable", "severity": "error", "summary": "refused", "good": False}],
        created_at=now.isoformat(),
        run_id=run_id,
    )
    store.record_target(
        run_id, target, TargetResult(facts, overall="error"), now, [], (message, [channel])
    )


class Picky(BaseHTTPRequestHandler):
    """Rejects (HTTP 400) any body about a target named poison*, accepts the rest."""

    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Picky.seen.append(body["target"])
        status = 400 if body["target"].startswith("poison") else 200
        answer = b"payload too large" if status == 400 else b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: object) -> None:
        pass


def test_a_message_the_service_always_rejects_fails_after_max_attempts_and_blocks_nothing(
    history_url,
):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Picky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Picky.seen = []
    config = parse_config(
        "[alerts]\nretries = 3\nbackoff_seconds = 0\nmax_attempts = 2\n"
        '[[targets]]\nhost = "x.example.test"\n[[notify]]\ntype = "webhook"\n'
        f'url = "http://127.0.0.1:{server.server_address[1]}/hook"\n',
        "certcheck.toml",
        Path("/nonexistent"),
    )
    store = Store.open(history_url)
    try:
        store.migrate()
        now = datetime.now(UTC)
        run_id = store.begin_run(now, 3, "wechat")
        for target in ("poison.test:443", "good1.test:443", "good2.test:443"):
            _alert(store, run_id, target, now, "webhook")

        def deliver(moment: datetime):
            return deliver_outbox(
                store, config.channels, config.alerts, config.redactor, lambda _s: None, now=moment
            )

        first = deliver(now)
        # The poison row was tried once (a rejection is not retried), the rest went out.
        assert Picky.seen == ["poison.test:443", "good1.test:443", "good2.test:443"]
        assert [t for _c, t in first.sent] == [
            "certcheck good1.test:443: unreachable",
            "certcheck good2.test:443: unreachable",
        ]
        assert first.rejected == {"webhook": "HTTP 400 Bad Request: payload too large"}
        # New alerts queue in front of the row that failed before.
        _alert(store, run_id, "good3.test:443", now, "webhook")
        second = deliver(now)
        assert Picky.seen[3:] == ["good3.test:443", "poison.test:443"]
        assert second.gave_up == [
            "certcheck poison.test:443: unreachable to 'webhook': gave up after 2 attempt(s); "
            "last error: HTTP 400 Bad Request: payload too large"
        ]
        assert [(r.status, r.attempts) for r in store.delivery_rows()] == [
            ("failed", 2),
            ("sent", 1),
            ("sent", 1),
            ("sent", 1),
        ]
        assert store.pending_deliveries() == []
        assert deliver(now).sent == [] and len(Picky.seen) == 5  # never tried again
        # max_age_hours: an alert nobody could deliver for too long is failed, not sent.
        _alert(store, run_id, "late.test:443", now, "webhook")
        late = deliver(now + timedelta(hours=73))
        assert late.sent == [] and len(Picky.seen) == 5
        assert "not delivered within max_age_hours = 72" in late.gave_up[0]
        assert store.delivery_rows()[-1].status == "failed"
    finally:
        store.close()
        server.shutdown()
        server.server_close()


def test_a_channel_that_is_down_stops_after_the_first_alert(history_url, hold):
    hook = hold(status=503)
    config = parse_config(
        "[alerts]\nretries = 2\nbackoff_seconds = 0\n"
        '[[targets]]\nhost = "x.example.test"\n[[notify]]\ntype = "webhook"\n'
        f'url = "{hook.url()}"\n',
        "certcheck.toml",
        Path("/nonexistent"),
    )
    store = Store.open(history_url)
    try:
        store.migrate()
        now = datetime.now(UTC)
        run_id = store.begin_run(now, 3, "wechat")
        for target in ("a.test:443", "b.test:443", "c.test:443"):
            _alert(store, run_id, target, now, "webhook")
        report = deliver_outbox(
            store, config.channels, config.alerts, config.redactor, lambda _s: None
        )
        assert report.failed == {"webhook": "HTTP 503 Service Unavailable"}
        assert len(hook.requests) == 2 and report.pending == {"webhook": 3}  # retried once
    finally:
        store.close()


# -- 8. stable ids, in flight, kill -9 ---------------------------------------------------------


def test_kill_9_mid_post_then_the_next_run_sends_the_same_id(
    history_url, ca_file, tmp_path, hold, certcheck_cmd
):
    port = closed_port()
    hook = hold(hold=1)
    path = tmp_path / "certcheck.toml"
    path.write_text(
        fleet_config(
            ["k.example.test"],
            port,
            history_url,
            ca_file,
            notify=f'[[notify]]\ntype = "webhook"\nurl = "{hook.url()}"\n',
        )
    )
    running = spawn(certcheck_cmd, "--config", path)
    try:
        assert hook.held.wait(60)
        os.kill(running.pid, signal.SIGKILL)
        running.wait(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
    [row] = rows(history_url, schema.deliveries)
    assert row.status == "sending" and row.uid  # marked in flight before the POST
    first_id = hook.requests[0]["body"]["id"]
    assert first_id == row.uid == hook.requests[0]["key"]
    hook.release()
    again = subprocess.run(
        [*certcheck_cmd, "monitor", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert again.returncode == 3, again.stderr
    said = " ".join(again.stdout.split())
    assert "1 alert(s) left in flight by a killed run: sent again, same id" in said
    assert [r["body"]["id"] for r in hook.requests] == [first_id, first_id]
    assert [r["key"] for r in hook.requests] == [first_id, first_id]
    assert list(hook.unique) == [first_id]  # the receiver shows it once
    [row] = rows(history_url, schema.deliveries)
    assert (row.status, row.uid) == ("sent", first_id)


# -- 6. e-mail headers --------------------------------------------------------------------------


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        self.messages.append(envelope.content)
        return "250 Message accepted"


def test_email_has_date_and_a_message_id_stable_per_alert():
    mailbox = _Mailbox()
    port = closed_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = parse_config(
            '[[targets]]\nhost = "x.example.test"\n[[notify]]\ntype = "email"\n'
            f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            'from = "certcheck@mail.example.test"\nto = ["ops@example.test"]\n',
            "certcheck.toml",
            Path("/nonexistent"),
        )
        message = Message("change", "x:443", "certcheck x:443: down", "error", [], "now")
        channel = config.channels["email"]
        send(channel, message, 5, alert_id="6f1c1f1e-1d2a-4c55-9a0e-2a1b3c4d5e6f")
        send(channel, message, 5, alert_id="6f1c1f1e-1d2a-4c55-9a0e-2a1b3c4d5e6f")
        send(channel, message, 5)  # a test message: a fresh id
        send(channel, message, 5)
    finally:
        controller.stop()
    mails = [email.message_from_bytes(m) for m in mailbox.messages]
    for mail in mails:
        sent = parsedate_to_datetime(mail["Date"])
        assert abs((datetime.now(UTC) - sent).total_seconds()) < 120
    ids = [m["Message-ID"] for m in mails]
    assert ids[0] == ids[1] == "<certcheck.6f1c1f1e-1d2a-4c55-9a0e-2a1b3c4d5e6f@mail.example.test>"
    assert mails[0]["X-Certcheck-Alert-Id"] == "6f1c1f1e-1d2a-4c55-9a0e-2a1b3c4d5e6f"
    assert ids[2] != ids[3] and all(i.endswith("@mail.example.test>") for i in ids[2:])


# -- 7. the exit code when deliveries fail -----------------------------------------------------


def test_fail_on_delivery_exits_6_and_the_summary_counts_pending_alerts(inproc, ca_file, tmp_path):
    port = closed_port()
    path = tmp_path / "certcheck.toml"
    path.write_text(
        fleet_config(
            ["d1.example.test", "d2.example.test"],
            port,
            f"sqlite:///{tmp_path / 'h.db'}",
            ca_file,
            notify=f'[[notify]]\ntype = "webhook"\nurl = "http://127.0.0.1:{closed_port()}/x"\n',
        )
    )
    code, out, err = inproc("monitor", "--config", path)
    assert code == 3  # without the flag: the scan's code
    assert "2 change(s), 2 alert(s) pending" in out
    assert "delivery to 'webhook' failed: connection refused; 2 alert(s) kept" in err
    code, out, err = inproc("monitor", "--config", path, "--fail-on-delivery")
    assert code == 6, err
    assert "0 change(s), 2 alert(s) pending" in out


# -- 9. robot answers ---------------------------------------------------------------------------


def test_feishu_empty_answer_fails_and_slack_keeps_its_reason(receiver, tmp_path):
    feishu = receiver(answer=b"{}")
    slack = receiver(default=404, answer=b"channel_not_found")
    config = parse_config(
        "[alerts]\nretries = 1\n"
        '[[targets]]\nhost = "x.example.test"\n'
        f'[[notify]]\ntype = "feishu"\nurl = "{feishu.url()}"\n'
        f'[[notify]]\ntype = "slack"\nurl = "{slack.url()}"\n',
        "certcheck.toml",
        Path("/nonexistent"),
    )
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        store.migrate()
        now = datetime.now(UTC)
        run_id = store.begin_run(now, 1, "wechat")
        facts = ServerFacts(Target("x.test"), "x", error=ScanError("refused", "refused"))
        message = Message("change", "x.test:443", "certcheck x.test:443: down", "error", [], "t")
        store.record_target(
            run_id,
            "x.test:443",
            TargetResult(facts, overall="error"),
            now,
            [],
            (message, ["feishu", "slack"]),
        )
        report = deliver_outbox(store, config.channels, config.alerts, config.redactor)
        assert report.sent == []
        errors = {r.channel: r.last_error for r in store.delivery_rows()}
        assert errors == {
            "feishu": "refused by the feishu API: answer has no code or StatusCode",
            "slack": "HTTP 404 Not Found: channel_not_found",
        }
        assert {r.status for r in store.delivery_rows()} == {"pending"}
        headers = {k.lower(): v for k, v in slack.requests[0].headers.items()}
        assert headers["idempotency-key"] == store.delivery_rows()[1].uid
    finally:
        store.close()


# -- schema version 3 ---------------------------------------------------------------------------


def test_a_version_2_history_gets_fleet_columns_and_ids_for_pending_alerts(history_url):
    store = Store.open(history_url)
    try:
        store.migrate()
        now = datetime.now(UTC)
        run_id = store.begin_run(now, 1, "wechat")
        _alert(store, run_id, "old.test:443", now, "webhook")
        with store.engine.begin() as connection:
            for table, column in (
                ("certcheck_runs", "lock_key"),
                ("certcheck_runs", "shard"),
                ("certcheck_deliveries", "uid"),
            ):
                connection.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            connection.execute(schema.schema_version.update().values(version=2))
        assert store.migrate() == migrations.LATEST >= 3
        [row] = store.pending_deliveries()
        assert row.uid and len(row.uid) == 36 and row.target == "old.test:443"
    finally:
        store.close()
