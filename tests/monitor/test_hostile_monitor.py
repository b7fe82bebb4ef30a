"""Hostile receivers and history paths: webhook redirects, and one lock per history file.

Every server is a real HTTP server on 127.0.0.1 (another port is another origin; so is
``localhost`` for the same port) that records whatever reaches it, whatever the method.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from monitorkit import MiniCA, config_text, inproc_fixture, serve  # noqa: F401
from test_monitor_notify import channels, message

from certcheck.model import ScanError, ServerFacts, Target, TargetResult
from certcheck.monitor.delivery import (
    MAX_REDIRECTS,
    RedirectRefused,
    deliver_outbox,
    send,
    send_with_retries,
)
from certcheck.monitor.lock import LockBusy, sqlite_lock_path
from certcheck.monitor.store import Store

TOKEN = "Bearer tok-hostile-31337"
CUSTOM = "x-custom-7f3a"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int
    location: str | None = None


@dataclass
class Recorder:
    """An HTTP server on 127.0.0.1; ``answer(path)`` says what to reply to each request."""

    answer: Callable[[str], Answer] = lambda _path: Answer(200)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                reply = recorder.answer(self.path)
                self.send_response(reply.status)
                if reply.location is not None:
                    self.send_header("Location", reply.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PUT = do_HEAD = _any  # noqa: N815 - http.server's naming

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    made: list[Recorder] = []

    def make(answer: Callable[[str], Answer] = lambda _path: Answer(200)) -> Recorder:
        made.append(Recorder(answer))
        return made[-1]

    yield make
    for item in made:
        item.close()


def webhook(url: str):
    """A generic webhook channel carrying a bearer token and a custom header."""
    config = channels(
        f'[[notify]]\ntype = "webhook"\nurl = "{url}"\n'
        'headers = { Authorization = "${HOOK_TOKEN}", X-Custom = "' + CUSTOM + '" }\n',
        HOOK_TOKEN=TOKEN,
    )
    return config, config.channels["webhook"]


def _record_alert(store: Store, channel: str) -> None:
    now = datetime.now(UTC)
    run = store.begin_run(now, 1, "wechat")
    facts = ServerFacts(Target("a.test"), "x", error=ScanError("refused", "refused"))
    store.record_target(
        run, "a.test:443", TargetResult(facts, overall="error"), now, [], (message(), [channel])
    )


# -- webhook redirects ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_refused_and_nothing_reaches_it(recorder, status):
    elsewhere = recorder()
    hook = recorder(lambda _p: Answer(status, elsewhere.url("/collect?token=abc")))
    config, channel = webhook(hook.url())
    with pytest.raises(RedirectRefused) as refused:
        send(channel, message(), timeout=5)
    assert elsewhere.seen == []  # no request at all: neither the token nor the body
    [first] = hook.seen
    assert first.method == "POST" and first.headers["Authorization"] == TOKEN
    reason = str(refused.value)
    assert reason.startswith(f"redirected to http://127.0.0.1:{elsewhere.port}/… (HTTP {status})")
    assert "token=abc" not in reason and "/collect" not in reason


def test_localhost_is_another_origin_than_127_0_0_1(recorder):
    hook = recorder(lambda p: Answer(308, hook.url("/again", host="localhost")) if p == "/hook"
                    else Answer(200))
    _config, channel = webhook(hook.url())
    with pytest.raises(RedirectRefused, match="redirected to http://localhost:"):
        send(channel, message(), timeout=5)
    assert [s.path for s in hook.seen] == ["/hook"]


def test_a_cross_origin_redirect_stays_in_the_outbox_with_the_reason(recorder, tmp_path):
    elsewhere = recorder()
    hook = recorder(lambda _p: Answer(302, elsewhere.url("/")))
    config, _channel = webhook(hook.url())
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}", config.redactor)
    try:
        store.migrate()
        _record_alert(store, "webhook")
        report = deliver_outbox(
            store, config.channels, config.alerts, config.redactor, lambda _s: None
        )
        assert report.sent == []
        reason = f"redirected to http://127.0.0.1:{elsewhere.port} (HTTP 302)"
        assert report.failed["webhook"].startswith(reason)
        [row] = store.delivery_rows()
        assert row.status == "pending" and row.attempts == 1  # redirects are not retried now
        assert row.last_error.startswith(reason) and len(row.last_error) <= 300
        assert [p.id for p in store.pending_deliveries()] == [row.id]
        assert elsewhere.seen == []
        # The next run tries again: fixed receiver, delivered once.
        hook.answer = lambda _p: Answer(200)
        report = deliver_outbox(
            store, config.channels, config.alerts, config.redactor, lambda _s: None
        )
        assert [c for c, _t in report.sent] == ["webhook"]
        assert store.pending_deliveries() == []
    finally:
        store.close()


@pytest.mark.parametrize("status", [307, 308])
def test_a_same_origin_307_or_308_is_resent_with_its_body_and_headers(recorder, status):
    hook = recorder(lambda p: Answer(status, "/moved") if p == "/hook" else Answer(200))
    config, channel = webhook(hook.url())
    send(channel, message(), timeout=5)
    assert [(s.method, s.path) for s in hook.seen] == [("POST", "/hook"), ("POST", "/moved")]
    first, moved = hook.seen
    assert moved.body == first.body and json.loads(moved.body)["kind"] == "certcheck-alert"
    assert moved.headers["Authorization"] == TOKEN and moved.headers["X-Custom"] == CUSTOM
    assert moved.headers["Content-Type"] == "application/json; charset=utf-8"
    attempts, error = send_with_retries(
        channel, message(), config.alerts, config.redactor, lambda _s: None
    )
    assert (attempts, error) == (1, None)


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_same_origin_redirect_that_would_turn_into_a_get_is_refused(recorder, status):
    hook = recorder(lambda p: Answer(status, "/moved") if p == "/hook" else Answer(200))
    _config, channel = webhook(hook.url())
    with pytest.raises(RedirectRefused, match=rf"\(HTTP {status}\)"):
        send(channel, message(), timeout=5)
    assert [s.path for s in hook.seen] == ["/hook"]


def test_a_redirect_loop_is_cut_after_a_few_hops(recorder):
    hook = recorder(lambda p: Answer(308, f"/hop{int(p[4:] or 0) + 1}"))
    _config, channel = webhook(hook.url("/hop"))
    with pytest.raises(RedirectRefused, match=f"more than {MAX_REDIRECTS} redirects"):
        send(channel, message(), timeout=5)
    assert len(hook.seen) == MAX_REDIRECTS + 1


def test_a_hostile_location_cannot_reach_the_terminal_or_leak_the_path(recorder):
    # ESC c resets a terminal, BEL ends a title sequence; U+202E (as UTF-8 bytes on the
    # wire: http.client reads them as Latin-1, so a C1 control arrives) flips text.
    hostile = "http://ev\x1bc\x07il\u202e.test:99/" + "a" * 5000
    hook = recorder(lambda _p: Answer(302, hostile.encode("utf-8").decode("latin-1")))
    _config, channel = webhook(hook.url())
    with pytest.raises(RedirectRefused) as refused:
        send(channel, message(), timeout=5)
    reason = str(refused.value)
    assert reason.isprintable(), ascii(reason)
    assert "\\x1b" in reason and "\\x07" in reason and "\\x80" in reason
    assert "aaaa" not in reason and len(reason) < 400


@pytest.mark.parametrize("location", ["http://[bad/", "http://127.0.0.1:99999/", "mailto:x@y"])
def test_an_unusable_location_is_a_clear_failure(recorder, location):
    hook = recorder(lambda _p: Answer(307, location))
    _config, channel = webhook(hook.url())
    with pytest.raises(RedirectRefused, match=r"redirected to an unusable URL \(HTTP 307\)"):
        send(channel, message(), timeout=5)
    assert len(hook.seen) == 1


def test_a_redirect_without_location_is_a_failure(recorder):
    hook = recorder(lambda _p: Answer(302))
    _config, channel = webhook(hook.url())
    with pytest.raises(RedirectRefused, match="HTTP 302 redirect without a Location"):
        send(channel, message(), timeout=5)


def test_the_secret_url_of_a_redirected_channel_is_not_shown(recorder):
    """A plain-http URL redirected to https (the usual upgrade) echoes the secret path."""
    secret = "T000/B000/s3cr3t-path-token"
    hook = recorder(lambda p: Answer(301, f"https://127.0.0.1:{hook.port}{p}"))
    config = channels(
        f'[[notify]]\ntype = "slack"\nurl = "http://127.0.0.1:{hook.port}/services/${{SLACK}}"\n',
        SLACK=secret,
    )
    attempts, error = send_with_retries(
        config.channels["slack"], message(), config.alerts, config.redactor, lambda _s: None
    )
    assert attempts == 1 and error is not None
    assert error.startswith(f"redirected to https://127.0.0.1:{hook.port}/… (HTTP 301)")
    assert "s3cr3t" not in error


# -- the history lock -------------------------------------------------------------------------


def test_the_lock_file_is_beside_the_real_database(tmp_path):
    real = tmp_path / "data" / "history.db"
    real.parent.mkdir()
    real.touch()
    (tmp_path / "link.db").symlink_to(real)
    (tmp_path / "other").symlink_to(real.parent, target_is_directory=True)
    expected = Path(f"{os.path.realpath(real)}.lock")
    for spelling in (
        real,
        tmp_path / "link.db",
        tmp_path / "other" / "history.db",
        tmp_path / "data" / ".." / "data" / "history.db",
    ):
        assert sqlite_lock_path(str(spelling)) == expected, spelling


def test_two_spellings_of_one_sqlite_file_share_one_lock(tmp_path, monkeypatch):
    real = tmp_path / "data" / "history.db"
    real.parent.mkdir()
    (tmp_path / "link.db").symlink_to(real)
    (tmp_path / "x").mkdir()
    first = Store.open(f"sqlite:///{real}")
    monkeypatch.chdir(tmp_path)
    others = [
        Store.open("sqlite:///link.db"),
        Store.open("sqlite:///./x/../data/history.db"),
    ]
    try:
        first.migrate()
        with first.lock():
            for other in others:
                with pytest.raises(LockBusy, match="another certcheck monitor run"):
                    with other.lock(wait=0):
                        pass
        for other in others:  # released: each may run now
            with other.lock(wait=0):
                pass
    finally:
        first.close()
        for other in others:
            other.close()


def test_monitor_through_a_symlinked_history_is_refused_while_a_run_holds_it(
    inproc, tmp_path
):
    ca = MiniCA()
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    server = serve(ca, "good.example.test")
    try:
        real = tmp_path / "history.db"
        (tmp_path / "alias.db").symlink_to(real)
        for name, path in (("a.toml", real), ("b.toml", tmp_path / "alias.db")):
            (tmp_path / name).write_text(
                config_text(
                    [("good.example.test", server.port)],
                    f'path = "{path}"',
                    ca_file=tmp_path / "ca.pem",
                )
            )
        code, _out, err = inproc("monitor", "--config", tmp_path / "a.toml")
        assert code == 0, err
        holder = Store.open(f"sqlite:///{real}")
        try:
            with holder.lock():
                code, out, err = inproc("monitor", "--config", tmp_path / "b.toml")
                assert (code, out) == (5, "")  # 5: the history is busy
                assert err.startswith("certcheck: another certcheck monitor run is using")
                assert str(real) + ".lock" in err and "Traceback" not in err
        finally:
            holder.close()
        code, _out, err = inproc("monitor", "--config", tmp_path / "b.toml")
        assert code == 0, err
    finally:
        server.stop()


def test_a_hostile_json_answer_is_a_failed_delivery_not_a_crash():
    """A robot whose HTTP 200 answer is 100k-deep JSON or a 5000-digit number."""
    from certcheck.monitor.channels import _json_code

    check = _json_code("errcode")
    assert check(b"[" * 100_000 + b"]" * 100_000) == "answer is not JSON"
    assert check(b'{"errcode": ' + b"9" * 5000 + b"}") == "answer is not JSON"
    assert check(b'{"errcode": 0}') is None
    assert check(b'{"errcode": 40001, "errmsg": "bad"}') == "errcode 40001: bad"
