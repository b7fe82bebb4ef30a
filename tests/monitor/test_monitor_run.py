"""Monitor runs end to end: local TLS servers that change between runs, a recording webhook,
and a history on SQLite and on PostgreSQL.  ``now`` is passed in, so weeks of daily cron
runs take seconds; the certificates are real and the servers are re-configured between runs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from monitorkit import (  # noqa: F401
    MiniCA,
    closed_port,
    config_text,
    history_setting,
    history_url_fixture,
    pg_url_fixture,
    receiver_fixture,
    serve,
    swap,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from certcheck.monitor import schema
from certcheck.monitor.config import load_config
from certcheck.monitor.run import MonitorOutcome, run_monitor
from certcheck.monitor.store import Store

HOOK_KEY = "hook-key-8c1f77e2"


@pytest.fixture
def ca(tmp_path):
    authority = MiniCA()
    (tmp_path / "ca.pem").write_bytes(authority.pem)
    return authority


def run(config_path, now, **options) -> MonitorOutcome:
    config = load_config(config_path)
    store = Store.open(config.history_url, config.redactor)
    try:
        return run_monitor(config, store, now=now, sleep=lambda _s: None, **options)
    finally:
        store.close()


def alerted(outcome: MonitorOutcome) -> dict[str, list[str]]:
    """target host -> the kinds of the alerted items (reminders: 'reminder')."""
    found = {}
    for message in outcome.alerts:
        host = message.target.split(":")[0]
        found[host] = (
            ["reminder"] if message.kind == "reminder" else sorted(i["kind"] for i in message.items)
        )
    return found


def expect(outcome: MonitorOutcome, wanted: dict[str, set[str]]) -> None:
    """Exactly these targets were alerted, each with at least these kinds of change."""
    found = alerted(outcome)
    assert set(found) == set(wanted), found
    for host, kinds in wanted.items():
        assert kinds <= set(found[host]), (host, found[host])


def dump_history(url: str) -> str:
    """Every row of every certcheck table, as text."""
    store = Store.open(url)
    try:
        with store.engine.connect() as connection:
            return "\n".join(
                repr(row)
                for table in schema.metadata.sorted_tables
                for row in connection.execute(select(table))
            )
    finally:
        store.close()


def test_cron_sequence_alerts_each_change_exactly_once(
    history_url,
    ca,
    tmp_path,
    receiver,
    monkeypatch,
):
    monkeypatch.setenv("HOOK_KEY", HOOK_KEY)
    hook = receiver()
    a = serve(ca, "a.example.test", days=40)
    b = serve(ca, "b.example.test", days=40)
    c_port = closed_port()
    servers = [a, b]
    try:
        path = tmp_path / "certcheck.toml"
        path.write_text(
            config_text(
                [
                    ("a.example.test", a.port),
                    ("b.example.test", b.port),
                    ("c.example.test", c_port),
                ],
                history_setting(history_url),
                ca_file=tmp_path / "ca.pem",
                notify=f'[[notify]]\ntype = "webhook"\nurl = "{hook.url()}/${{HOOK_KEY}}"\n',
            )
        )
        t0 = datetime.now(UTC)
        textfile = tmp_path / "certcheck.prom"

        # Day 0: a and b are fine (nothing to say), c refuses connections.
        first = run(path, t0)
        expect(first, {"c.example.test": {"unreachable"}})
        assert first.exit_code == 3  # could not scan c; nothing failed on findings
        assert [o.result.overall for o in first.outcomes][2] == "error"
        # An hour later nothing changed: quiet.
        second = run(path, t0 + timedelta(hours=1))
        assert not second.changed and alerted(second) == {}

        # Day 15: c comes up with a certificate for the wrong name; a and b cross 30 days.
        servers.append(
            serve(ca, "c.example.test", days=90, cert_host="other.example.test", port=c_port)
        )
        third = run(path, t0 + timedelta(days=15))
        expect(
            third,
            {
                "a.example.test": {"expiry_threshold"},
                "b.example.test": {"expiry_threshold"},
                "c.example.test": {"recovered", "new_finding"},
            },
        )
        assert not run(path, t0 + timedelta(days=15, hours=1)).changed

        # Day 34: a gets a new certificate, b drops TLS 1.0/1.1 (and is 6 days from
        # expiry), c is fixed.
        swap(a, ca, days=90)
        swap(b, None, min_version="TLSv1.2")
        swap(servers[2], ca, days=90)
        fifth = run(path, t0 + timedelta(days=34))
        expect(
            fifth,
            {
                "a.example.test": {"cert_replaced"},
                "b.example.test": {"expiry_threshold", "protocols_changed"},
                "c.example.test": {"cert_replaced", "resolved_finding"},
            },
        )
        assert "expiry_threshold" not in alerted(fifth)["a.example.test"]
        b_alert = next(m for m in fifth.alerts if m.target.startswith("b."))
        protocols = next(i for i in b_alert.items if i["kind"] == "protocols_changed")
        assert protocols["detail"] == {"added": [], "removed": ["TLSv1.0", "TLSv1.1"]}
        threshold = next(i for i in b_alert.items if i["kind"] == "expiry_threshold")
        assert threshold["severity"] == "error" and threshold["detail"]["threshold"] == 7
        c_alert = next(m for m in fifth.alerts if m.target.startswith("c."))
        resolved = next(i for i in c_alert.items if i["kind"] == "resolved_finding")
        assert resolved["rule_id"] == "hostname_mismatch" and resolved["good"]

        # Day 35 (+25 h): b's expiry still stands: one daily reminder, nothing else.
        sixth = run(path, t0 + timedelta(days=35, hours=1))
        assert alerted(sixth) == {"b.example.test": ["reminder"]}
        assert "expires in 4 day(s)" in sixth.alerts[0].items[0]["summary"]
        seventh = run(path, t0 + timedelta(days=35, hours=2), textfile=textfile)
        assert not seventh.changed

        # Every alert reached the webhook exactly once, in run order.
        sent = [
            (body["run_id"], body["target"].split(":")[0], body["alert"]) for body in hook.bodies()
        ]
        assert sorted(sent) == sorted(
            [(first.run_id, "c.example.test", "change")]
            + [
                (third.run_id, h, "change")
                for h in ("a.example.test", "b.example.test", "c.example.test")
            ]
            + [
                (fifth.run_id, h, "change")
                for h in ("a.example.test", "b.example.test", "c.example.test")
            ]
            + [(sixth.run_id, "b.example.test", "reminder")]
        )
        assert all(r.path == f"/hook/{HOOK_KEY}" for r in hook.requests)

        # History has the changes, per target.
        config = load_config(path)
        store = Store.open(config.history_url)
        try:
            changes = store.list_changes(target="b.example.test")
            recorded = [(c.run_id, c.kind) for c in reversed(changes)]
            for wanted in [
                (third.run_id, "expiry_threshold"),
                (fifth.run_id, "expiry_threshold"),
                (fifth.run_id, "protocols_changed"),
                (fifth.run_id, "new_finding"),  # legacy_tls_missing: recorded, not alerted
            ]:
                assert wanted in recorded
            assert recorded == sorted(recorded, key=lambda item: item[0])
            runs = store.list_runs()
            assert [r.status for r in runs] == ["complete"] * 7
            assert store.pending_deliveries() == []
        finally:
            store.close()

        # The textfile parses with the Prometheus parser and says what the last run saw.
        families = {f.name: f for f in text_string_to_metric_families(textfile.read_text())}
        expiry = {
            s.labels["target"]: s.value
            for s in families["certcheck_cert_expiry_seconds"].samples
            if s.labels["position"] == "0"
        }
        assert set(expiry) == {
            "a.example.test:" + str(a.port),
            "b.example.test:" + str(b.port),
            "c.example.test:" + str(c_port),
        }
        assert 3 * 86400 < expiry[f"b.example.test:{b.port}"] < 5 * 86400
        success = {s.labels["target"]: s.value for s in families["certcheck_scan_success"].samples}
        assert set(success.values()) == {1.0}
        verdicts = {
            (s.labels["target"], s.labels["platform"])
            for s in families["certcheck_verdict"].samples
            if s.value == 1 and s.labels["verdict"] == "fail"
        }
        assert (f"b.example.test:{b.port}", "android_legacy") in verdicts
        errors = {
            s.labels["target"]: s.value
            for s in families["certcheck_findings"].samples
            if s.labels["severity"] == "error"
        }
        assert errors[f"b.example.test:{b.port}"] >= 1 and errors[f"a.example.test:{a.port}"] == 0
        assert families["certcheck_run_exit_code"].samples[0].value == seventh.exit_code
        assert families["certcheck_alerts_pending"].samples[0].labels == {"channel": "webhook"}
        assert families["certcheck_alerts_pending"].samples[0].value == 0
        assert families["certcheck_scan_duration_seconds"].samples[0].value > 0
        assert not list(tmp_path.glob("certcheck.prom.*"))  # no temporary file left behind

        # The webhook's secret never reached the history.
        assert HOOK_KEY not in dump_history(config.history_url)
    finally:
        for server in servers:
            server.stop()


def test_a_hanging_receiver_is_recorded_and_retried_on_the_next_run(
    ca,
    tmp_path,
    receiver,
):
    hook = receiver(script=["hang", "hang"], default=200)
    path = tmp_path / "certcheck.toml"
    path.write_text(
        config_text(
            [("down.example.test", closed_port())],
            'path = "history.db"',
            ca_file=tmp_path / "ca.pem",
            notify=f'[[notify]]\ntype = "slack"\nurl = "{hook.url()}"\n',
        )
    )
    now = datetime.now(UTC)
    first = run(path, now)
    assert first.delivery.failed == {"slack": "timed out after 1 s"}
    assert first.delivery.pending == {"slack": 1}
    assert len(hook.requests) == 2
    store = Store.open(f"sqlite:///{tmp_path / 'history.db'}")
    try:
        [row] = store.delivery_rows()
        assert (row.status, row.attempts, row.last_error) == ("pending", 2, "timed out after 1 s")
    finally:
        store.close()
    second = run(path, now + timedelta(hours=1))
    assert not second.changed  # no new alert ...
    assert [channel for channel, _title in second.delivery.sent] == ["slack"]  # ... the old one
    assert len(hook.requests) == 3
    assert hook.requests[2].json()["text"].startswith("*certcheck down.example.test:")
    third = run(path, now + timedelta(hours=2))
    assert third.delivery.sent == [] and len(hook.requests) == 3  # sent once, not again


def test_secrets_stay_out_of_history_metrics_and_reports(ca, tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("ROBOT_KEY", "robot-key-0a9b8c")
    monkeypatch.setenv("ROBOT_SECRET", "SECdeadbeef0042")
    hook = receiver(default=500)  # failures too: their errors are stored and printed
    server = serve(ca, "s.example.test", cert_host="wrong.example.test")
    try:
        path = tmp_path / "certcheck.toml"
        path.write_text(
            config_text(
                [("s.example.test", server.port)],
                'path = "history.db"',
                ca_file=tmp_path / "ca.pem",
                notify=(
                    '[[notify]]\ntype = "dingtalk"\n'
                    f'url = "{hook.url()}?access_token=${{ROBOT_KEY}}"\n'
                    'secret = "${ROBOT_SECRET}"\n'
                ),
            )
        )
        outcome = run(path, datetime.now(UTC), textfile=tmp_path / "m.prom")
        assert outcome.alerts and outcome.delivery.failed
        assert hook.requests[0].query["access_token"] == ["robot-key-0a9b8c"]
        from certcheck.monitor.history_document import history_document
        from certcheck.report.history_page import render_history

        store = Store.open(f"sqlite:///{tmp_path / 'history.db'}")
        try:
            page = render_history(history_document(store, since=None, target=None))
        finally:
            store.close()
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("history.db*"))
        texts = [
            page,
            (tmp_path / "m.prom").read_text(),
            repr(outcome.delivery),
            repr([m.to_dict() for m in outcome.alerts]),
            raw.decode("latin-1"),
        ]
        for secret in ("robot-key-0a9b8c", "SECdeadbeef0042"):
            assert not any(secret in text for text in texts)
        assert re.search(r"hostname_mismatch", page)
    finally:
        server.stop()
