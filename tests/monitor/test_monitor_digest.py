"""Digests, pacing, size limits and history growth, against services that enforce limits.

Each :class:`Service` is a real HTTP server on 127.0.0.1 that plays one chat
service: it counts every request in the windows ``rules/channels.toml`` gives for
that channel type, measures each message as that service does, and refuses
what goes over the way the service answers (DingTalk errcode 130101 and a
10-minute block, WeCom errcode 45009, Feishu code 11232, Slack HTTP 429; the
size refusal codes are illustrative: certcheck treats any non-zero code as a
refusal).  A test passes only when certcheck's deliveries stay inside them.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from monitorkit import (  # noqa: F401
    MiniCA,
    closed_port,
    config_text,
    history_setting,
    history_url_fixture,
    inproc_fixture,
    pg_url_fixture,
    serve,
)
from sqlalchemy import func, select

from certcheck.model import ScanError, ServerFacts, Target, TargetResult
from certcheck.monitor import schema
from certcheck.monitor.alerts import Message
from certcheck.monitor.channels import http_request, request_size
from certcheck.monitor.config import load_config, parse_config
from certcheck.monitor.delivery import deliver_outbox, send
from certcheck.monitor.pacing import Pacer, digest_group, limits_for, pacing_hook
from certcheck.monitor.run import _pacer, run_monitor
from certcheck.monitor.store import Store

KINDS = ("dingtalk", "wecom", "feishu", "slack")
TEXT_PLACES = {
    "wecom": ("markdown", "content"),
    "dingtalk": ("markdown", "text"),
    "feishu": ("content", "text"),
    "slack": (None, "text"),
}
REFUSALS = {  # (HTTP status, answer) when over the rate / over the size
    "dingtalk": (
        (200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}),
        (200, {"errcode": 460101, "errmsg": "message too long"}),
    ),
    "wecom": (
        (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
        (200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}),
    ),
    "feishu": (
        (200, {"code": 11232, "msg": "frequency limited"}),
        (200, {"code": 9499, "msg": "request body too large"}),
    ),
    "slack": ((429, "rate_limited"), (400, "msg_too_long")),
}
OK = {
    "dingtalk": {"errcode": 0, "errmsg": "ok"},
    "wecom": {"errcode": 0, "errmsg": "ok"},
    "feishu": {"code": 0, "msg": "success"},
    "slack": "ok",
}


class Service:
    """A loopback chat service that enforces one channel type's rate and size limits."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.limits = limits_for(kind)
        assert self.limits is not None
        self.arrivals: list[float] = []
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.blocked_until = 0.0
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = service.judge(raw)
                data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?key=k"

    def size(self, raw: bytes, body: dict[str, Any]) -> int:
        if self.limits.size_of == "body":
            return len(raw) if self.limits.size_unit == "bytes" else len(raw.decode())
        outer, key = TEXT_PLACES[self.kind]
        text = (body if outer is None else body[outer])[key]
        return len(text.encode()) if self.limits.size_unit == "bytes" else len(text)

    def judge(self, raw: bytes) -> tuple[int, Any]:
        now = time.monotonic()
        body = json.loads(raw)
        with self._lock:
            self.arrivals.append(now)
            over_rate, over_size = REFUSALS[self.kind]
            if now < self.blocked_until:
                self.refused.append("blocked")
                return over_rate
            for count, seconds in self.limits.rates:
                if sum(1 for t in self.arrivals if t > now - seconds) > count:
                    self.refused.append("rate")
                    self.blocked_until = now + self.limits.penalty_seconds
                    return over_rate
            if self.size(raw, body) > self.limits.size_limit:
                self.refused.append("size")
                return over_size
            self.accepted.append(body)
            return 200, OK[self.kind]

    def text(self, body: dict[str, Any]) -> str:
        outer, key = TEXT_PLACES[self.kind]
        return (body if outer is None else body[outer])[key]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="services")
def services_fixture():
    made = {kind: Service(kind) for kind in KINDS}
    yield made
    for service in made.values():
        service.close()


def notify_blocks(services: dict[str, Service]) -> str:
    return "".join(
        f'[[notify]]\ntype = "{kind}"\nurl = "{service.url}"\n'
        for kind, service in services.items()
    )


def outbox_config(services: dict[str, Service], extra: str = "") -> Any:
    return parse_config(
        '[monitor]\nreport_url = "https://status.example.test/history.html"\n'
        "[alerts]\nretries = 1\nbackoff_seconds = 0\ntimeout_seconds = 2\n"
        + extra
        + '[[targets]]\nhost = "a.test"\n'
        + notify_blocks(services),
        "certcheck.toml",
        Path("/nonexistent"),
    )


def message(target: str, items: int = 1, text: str = "cannot be scanned") -> Message:
    return Message(
        kind="change",
        target=target,
        title=f"certcheck {target}: {text}",
        severity="error",
        items=[
            {
                "kind": "unreachable",
                "severity": "error",
                "summary": f"{text} #{n}",
                "platforms": ["all"],
                "fix": "Start the server.",
                "good": False,
            }
            for n in range(items)
        ],
        created_at="2026-12-02T06:00:00Z",
        owner="web team <web@example.test>",
        tags=["prod"],
        report_url="https://status.example.test/history.html",
    )


def queue(store: Store, counts: dict[str, int]) -> None:
    """Pending alerts in the outbox: ``counts[channel]`` of them per channel."""
    now = datetime.now(UTC)
    run = store.begin_run(now, 1, "wechat")
    for n in range(max(counts.values())):
        target = f"t{n}.test:443"
        wanted = [c for c, k in counts.items() if n < k]
        facts = ServerFacts(Target(f"t{n}.test"), "x", error=ScanError("refused", "refused"))
        alert = (message(target), wanted)
        store.record_target(run, target, TargetResult(facts, overall="error"), now, [], alert)


def pending(store: Store) -> dict[str, int]:
    found: dict[str, int] = {}
    for row in store.delivery_rows():
        if row.status == "pending":
            found[row.channel] = found.get(row.channel, 0) + 1
    return found


# -- pacing ---------------------------------------------------------------------------------


def test_services_refuse_what_goes_over_their_limits(services):
    """The receivers enforce: unpaced sends get refused (else the tests below prove nothing)."""
    config = outbox_config(services)
    for _ in range(6):
        try:
            send(config.channels["feishu"], message("a.test:443"), timeout=2)
        except Exception:  # noqa: BLE001 - the sixth in a second is refused
            pass
    assert services["feishu"].refused == ["rate"]
    huge = message("a.test:443", text='"quoted\\" ' * 3000)
    assert len(json.dumps(huge.to_dict())) > 30000
    service = services["dingtalk"]
    over = {"msgtype": "markdown", "markdown": {"title": "t", "text": "x" * 20000}}
    assert service.judge(json.dumps(over).encode()) == REFUSALS["dingtalk"][1]


def test_pacing_keeps_every_service_within_its_rate_across_runs(services, tmp_path):
    config = outbox_config(services, "digest_after = 0\ndelivery_budget_seconds = 20\n")
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        store.migrate()
        queue(store, {"slack": 4, "feishu": 12, "dingtalk": 25, "wecom": 3})
        started = time.monotonic()
        deliver_outbox(
            store,
            config.channels,
            config.alerts,
            config.redactor,
            group=digest_group(0, datetime.now(UTC)),
            before_attempt=pacing_hook(_pacer(config, store, time.sleep), config.channels),
        )
        took = time.monotonic() - started
        for kind, service in services.items():
            assert service.refused == [], (kind, service.refused)
        assert [len(services[k].accepted) for k in KINDS] == [20, 3, 12, 4]
        assert took >= 3.0  # Slack: one a second; Feishu: five a second
        # DingTalk's other 5 wait: a minute's window would outlast the run's budget.
        assert pending(store) == {"dingtalk": 5}
        # The next run, straight after, knows the last minute's sends from the history.
        deliver_outbox(
            store,
            config.channels,
            config.alerts,
            config.redactor,
            group=digest_group(0, datetime.now(UTC)),
            before_attempt=pacing_hook(_pacer(config, store, time.sleep), config.channels),
        )
        assert services["dingtalk"].refused == [] and len(services["dingtalk"].accepted) == 20
        assert pending(store) == {"dingtalk": 5}
        # A run 70 s later (both clocks moved back instead of waiting): the rest goes out.
        later = timedelta(seconds=70)
        with store.engine.begin() as connection:
            rows = schema.deliveries
            tried = select(rows.c.id, rows.c.last_attempt_at).where(
                rows.c.last_attempt_at.is_not(None)
            )
            for row in list(connection.execute(tried)):
                connection.execute(
                    rows.update()
                    .where(rows.c.id == row.id)
                    .values(last_attempt_at=row.last_attempt_at - later)
                )
        services["dingtalk"].arrivals = [t - 70 for t in services["dingtalk"].arrivals]
        deliver_outbox(
            store,
            config.channels,
            config.alerts,
            config.redactor,
            group=digest_group(0, datetime.now(UTC)),
            before_attempt=pacing_hook(_pacer(config, store, time.sleep), config.channels),
        )
        assert services["dingtalk"].refused == [] and len(services["dingtalk"].accepted) == 25
        assert pending(store) == {}
    finally:
        store.close()


def test_a_run_budget_of_zero_sends_what_needs_no_wait():
    clock = [0.0]
    pacer = Pacer(0, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    pacer.configure("robot", "dingtalk")
    assert all(pacer.acquire("robot") for _ in range(20))
    assert not pacer.acquire("robot")  # the 21st would wait 66 s, past the budget
    pacer = Pacer(120, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    pacer.configure("robot", "dingtalk", earlier=[clock[0] - 30] * 20)
    before = clock[0]
    assert pacer.acquire("robot")
    assert clock[0] - before == pytest.approx(30 + 6, abs=0.01)  # 60 s window + 10 % margin


# -- digests --------------------------------------------------------------------------------


def test_a_run_with_200_changed_targets_becomes_one_digest_per_channel(services, tmp_path):
    (tmp_path / "ca.pem").write_bytes(MiniCA().pem)
    port = closed_port()
    text = config_text(
        [(f"t{n:03}.test", port) for n in range(200)],
        history_setting(f"sqlite:///{tmp_path / 'h.db'}"),
        ca_file=tmp_path / "ca.pem",
        notify=notify_blocks(services),
        extra="digest_after = 20",
    )
    text = text.replace(
        "[monitor]\n", '[monitor]\nreport_url = "https://status.example.test/history.html"\n', 1
    ).replace("concurrency = 4", "concurrency = 16", 1)
    path = tmp_path / "certcheck.toml"
    path.write_text(text)
    config = load_config(path)
    store = Store.open(config.history_url, config.redactor)
    try:
        outcome = run_monitor(config, store)
    finally:
        store.close()
    assert len(outcome.alerts) == 200
    for kind, service in services.items():
        assert service.refused == [], kind
        [digest] = service.accepted
        shown = service.text(digest)
        assert "200 targets (200 error)" in shown, (kind, shown[:200])
        assert "t000.test" in shown
        assert "history.html" in shown  # the report link
        assert service.size(json.dumps(digest, ensure_ascii=False).encode(), digest) <= (
            service.limits.size_limit
        )
    assert outcome.delivery.pending == {}
    assert sum(1 for _c, _t in outcome.delivery.sent) == 4  # one POST per channel


# -- size limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_huge_alert_is_cut_to_the_limit_and_keeps_its_footer(services, kind):
    config = outbox_config(services)
    # quotes and backslashes double under JSON escaping: the encoded body is what counts
    huge = message("api.example.test:443", items=600, text='問題 "quoted" \\ ' + "x" * 60)
    request = http_request(config.channels[kind], huge, datetime.now(UTC))
    limits = limits_for(kind)
    assert request_size(request, limits) <= limits.size_limit
    send(config.channels[kind], huge, timeout=2)
    [body] = services[kind].accepted
    shown = services[kind].text(body)
    assert "more not shown (message shortened" in shown
    assert "web team" in shown  # the owner
    assert "status.example.test/history.html" in shown.rsplit("more not shown", 1)[1]
    assert shown.count("#") >= 10  # as many items as fit, not just a stub


def test_one_enormous_item_is_hard_cut_before_the_footer(services):
    config = outbox_config(services)
    huge = message("api.example.test:443", items=1, text="\u0001" * 30000)  # escapes 6x
    for kind in KINDS:
        request = http_request(config.channels[kind], huge, datetime.now(UTC))
        assert request_size(request, limits_for(kind)) <= limits_for(kind).size_limit, kind
        send(config.channels[kind], huge, timeout=2)
        shown = services[kind].text(services[kind].accepted[-1])
        assert "history.html" in shown and "web team" in shown, kind


# -- history growth -------------------------------------------------------------------------


def test_unchanged_runs_store_one_document_and_prune_keeps_what_is_needed(
    tmp_path, inproc, history_url
):
    ca = MiniCA()
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    servers = [serve(ca, "a.test", days=300), serve(ca, "b.test", days=300)]
    try:
        url = history_url
        path = tmp_path / "certcheck.toml"
        path.write_text(
            config_text(
                [("a.test", servers[0].port), ("b.test", servers[1].port)],
                history_setting(url),
                ca_file=tmp_path / "ca.pem",
            )
        )
        config = load_config(path)
        base = datetime.now(UTC) - timedelta(days=40)
        for day in range(30):
            store = Store.open(url)
            try:
                outcome = run_monitor(config, store, now=base + timedelta(days=day))
            finally:
                store.close()
            assert day == 0 or not [c for o in outcome.outcomes for c in o.changes], day
        store = Store.open(url)
        with store.engine.connect() as connection:
            docs = connection.execute(select(func.count()).select_from(schema.documents)).scalar()
            rows = connection.execute(select(schema.results.c.document_id)).scalars().all()
        store.close()
        assert docs == 2 and len(rows) == 60 and len(set(rows)) == 2
        code, listing, _ = inproc("history", "--config", path, "--limit", "100")
        assert code == 0 and listing.count(" complete ") == 30
        code, said, _ = inproc("history", "prune", "--config", path, "--keep-days", "20")
        assert code == 0 and "pruned history older than 20 day(s)" in said
        code, after, _ = inproc("history", "--config", path, "--limit", "100")
        assert after.count(" complete ") == 9  # days 21 .. 29: 19 .. 11 days ago
        runs_after = after.split("\nChanges")[0].splitlines()
        assert set(runs_after) <= set(listing.split("\nChanges")[0].splitlines())  # rows as before
        store = Store.open(url)
        with store.engine.connect() as connection:
            docs = connection.execute(select(func.count()).select_from(schema.documents)).scalar()
        store.close()
        assert docs == 2  # the kept results still point at them
        # The next run compares with the kept results: nothing changed, nothing first seen.
        store = Store.open(url)
        try:
            outcome = run_monitor(config, store, now=base + timedelta(days=30))
        finally:
            store.close()
        assert [c.kind for o in outcome.outcomes for c in o.changes] == []
    finally:
        for server in servers:
            server.stop()


def test_a_version_1_history_upgrades_and_its_inline_documents_still_count(history_url):
    """A database as certcheck wrote it before documents were shared (schema version 1)."""
    from sqlalchemy import MetaData, Table
    from test_monitor_store import result_for

    ca = MiniCA()
    store = Store.open(history_url)
    try:
        v1 = MetaData()  # the tables as version 1 had them
        later = {"document_id", "lock_key", "shard", "uid"}
        for table in schema.metadata.sorted_tables:
            if table.name != schema.documents.name:
                Table(table.name, v1, *[c._copy() for c in table.columns if c.name not in later])
        with store.engine.begin() as connection:
            v1.create_all(connection)
            connection.execute(schema.schema_version.insert().values(version=1))
            old = Table("certcheck_results", MetaData(), autoload_with=connection)
            then = datetime.now(UTC) - timedelta(days=1)
            result = result_for(ca, now=then)
            document = {"schema_version": "1.0", **result.to_dict()}
            run = connection.execute(
                schema.runs.insert().values(
                    started_at=then,
                    status="complete",
                    tool_version="old",
                    profile="wechat",
                    targets_total=1,
                    targets_done=1,
                    changes=0,
                )
            ).inserted_primary_key[0]
            connection.execute(
                old.insert().values(
                    run_id=run,
                    target="a.test:443",
                    evaluated_at=then.replace(tzinfo=None),
                    status="scanned",
                    overall=result.overall,
                    verdicts=dict(result.verdicts),
                    document=document,
                )
            )
        assert store.migrate() == 3
        previous, _ = store.previous("a.test:443", run + 1)
        assert previous is not None and previous.snapshot.leaf == document["certificate"]["leaf"]
        now = datetime.now(UTC)
        second = store.begin_run(now, 1, "wechat")
        store.record_target(second, "a.test:443", result_for(ca, now=now), now, [], None)
        latest, _ = store.previous("a.test:443", second + 1)
        assert latest is not None and latest.run_id == second
        with store.engine.connect() as connection:
            assert (
                connection.execute(select(func.count()).select_from(schema.documents)).scalar() == 1
            )
    finally:
        store.close()
