"""The history store on a real SQLite file and on a real PostgreSQL database."""

from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from monitorkit import MiniCA, closed_port, history_url_fixture, pg_url_fixture  # noqa: F401
from sqlalchemy import inspect, select, text

from certcheck.evaluate import Policy, evaluate
from certcheck.model import ScanError, ServerFacts, Target
from certcheck.monitor import migrations, schema
from certcheck.monitor.alerts import Message
from certcheck.monitor.changes import Change
from certcheck.monitor.lock import LockBusy
from certcheck.monitor.redact import Redactor
from certcheck.monitor.store import Store, StoreError

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def ca():
    return MiniCA()


def result_for(ca, host="a.test", days=40, error=None, now=NOW):
    facts = ServerFacts(target=Target(host), scanned_at="2026-11-22T06:00:00Z")
    if error:
        facts.error = ScanError("refused", error)
    else:
        chain_pem, _key = ca.issue(host, days)
        cert = x509.load_pem_x509_certificate(chain_pem)
        facts.chain = [base64.b64encode(cert.public_bytes(Encoding.DER)).decode()]
    return evaluate(facts, Policy.build(ca_pem=ca.pem), now)


def message(target="a.test:443"):
    return Message(
        kind="change",
        target=target,
        title=f"certcheck {target}: x",
        severity="error",
        items=[{"kind": "unreachable", "severity": "error", "summary": "x", "good": False}],
        created_at="2026-11-22T06:00:00Z",
    )


def test_runs_results_changes_and_outbox_round_trip(history_url, ca):
    store = Store.open(history_url)
    try:
        assert store.schema_version() is None
        assert store.migrate() == migrations.LATEST
        assert store.schema_version() == migrations.LATEST
        first = store.begin_run(NOW, 1, "wechat")
        store.record_target(
            first,
            "a.test:443",
            result_for(ca, days=40),
            NOW,
            [Change("first_seen", "info", "first result: pass", notify=False)],
            None,
        )
        store.finish_run(first, NOW + timedelta(seconds=3), 0)
        later = NOW + timedelta(days=1)
        second = store.begin_run(later, 1, "wechat")
        previous, scanned = store.previous("a.test:443", second)
        assert previous is not None and previous.run_id == first
        assert scanned is not None and scanned.id == previous.id
        assert previous.snapshot.ok and previous.snapshot.leaf["sha256"]
        assert previous.snapshot.evaluated_at == NOW
        assert previous.snapshot.days_left == pytest.approx(40, abs=0.01)
        change = Change("unreachable", "error", "cannot be scanned", ["all"])
        store.record_target(
            second,
            "a.test:443",
            result_for(ca, error="refused"),
            later,
            [change],
            (message(), ["hook", "mail"]),
        )
        previous, scanned = store.previous("a.test:443", second + 1)
        assert previous.run_id == second and not previous.snapshot.ok
        assert scanned.run_id == first  # the last *scanned* result
        assert store.last_alert_at("a.test:443") == later
        assert store.last_alert_at("b.test:443") is None
        pending = store.pending_deliveries()
        assert [(p.channel, p.message.title) for p in pending] == [
            ("hook", "certcheck a.test:443: x"),
            ("mail", "certcheck a.test:443: x"),
        ]
        store.record_delivery(pending[0].id, 3, "HTTP 500 Internal Server Error", later)
        store.record_delivery(pending[1].id, 1, None, later)
        assert [p.channel for p in store.pending_deliveries()] == ["hook"]
        summary = store.outbox_summary()
        assert summary["hook"]["pending"] == 1
        assert summary["hook"]["last_error"] == "HTTP 500 Internal Server Error"
        assert "mail" not in summary
        runs = store.list_runs()
        assert [(r.id, r.status, r.targets_done, r.changes) for r in runs] == [
            (second, "running", 1, 1),
            (first, "complete", 1, 0),
        ]
        changes = store.list_changes(target="a.test")
        assert [(c.kind, c.severity) for c in changes] == [("unreachable", "error")]
        assert store.list_changes(target="b.test") == []
        assert store.list_changes(since=later + timedelta(seconds=1)) == []
        assert [r.status for r in store.timeline(target="a.test:443")] == ["scanned", "error"]
        assert store.close_stale_runs(later) == 1
        assert store.list_runs()[0].status == "interrupted"
    finally:
        store.close()


def test_an_old_schema_is_upgraded_and_keeps_its_history(history_url, ca, monkeypatch):
    store = Store.open(history_url)
    try:
        assert migrations.migrate(store.engine, latest=1) == 1
        run = store.begin_run(NOW, 1, "wechat")
        store.record_target(run, "a.test:443", result_for(ca), NOW, [], None)

        def add_note_column(connection):
            connection.execute(text("ALTER TABLE certcheck_runs ADD COLUMN note VARCHAR(50)"))
            connection.execute(text("UPDATE certcheck_runs SET note = 'upgraded'"))

        monkeypatch.setattr(migrations, "LATEST", 2)
        monkeypatch.setitem(migrations.UPGRADES, 2, add_note_column)
        assert store.migrate() == 2
        assert store.schema_version() == 2
        with store.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("certcheck_runs")}
            notes = connection.execute(text("SELECT note FROM certcheck_runs")).scalars().all()
            kept = connection.execute(select(schema.results.c.target)).scalars().all()
        assert "note" in columns and notes == ["upgraded"]
        assert kept == ["a.test:443"]
        assert store.previous("a.test:443", run + 1)[0].run_id == run
    finally:
        store.close()


def test_a_newer_schema_is_refused_with_advice(history_url):
    store = Store.open(history_url)
    try:
        store.migrate()
        with store.engine.begin() as connection:
            connection.execute(schema.schema_version.update().values(version=99))
        with pytest.raises(migrations.SchemaError, match="version 99, newer .* upgrade certcheck"):
            store.migrate()
    finally:
        store.close()


def test_one_run_at_a_time(history_url):
    first, second = Store.open(history_url), Store.open(history_url)
    try:
        first.migrate()
        with first.lock():
            with pytest.raises(LockBusy, match="another certcheck monitor run"):
                with second.lock(wait=0):
                    pass
        # With a wait, the second run blocks until the first lets go, then proceeds.
        acquired, letting_go = threading.Event(), threading.Event()

        def hold_then_release():
            with first.lock():
                acquired.set()
                time.sleep(0.5)
                letting_go.set()

        holder = threading.Thread(target=hold_then_release)
        holder.start()
        assert acquired.wait(10)
        with second.lock(wait=20):
            assert letting_go.is_set()
        holder.join()
    finally:
        first.close()
        second.close()


def test_sqlite_in_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="the folder .*missing does not exist"):
        Store.open(f"sqlite:///{tmp_path / 'missing' / 'history.db'}")


def test_unreachable_postgresql_is_a_clear_error_without_the_password():
    url = f"postgresql+psycopg://certcheck:hunter2-pw@127.0.0.1:{closed_port()}/history"
    redactor = Redactor()
    with pytest.raises(StoreError) as caught:
        Store.open(url, redactor)
    message = str(caught.value)
    assert message.startswith("cannot open history database postgresql+psycopg://certcheck:***@")
    assert "hunter2-pw" not in message
    assert "refused" in message.lower() or "connect" in message.lower()
