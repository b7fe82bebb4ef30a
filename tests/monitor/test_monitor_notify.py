"""Notification channels against real local receivers: payloads, signatures, retries, timeouts."""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from monitorkit import closed_port, inproc_fixture, receiver_fixture  # noqa: F401

from certcheck.monitor.alerts import Message
from certcheck.monitor.config import parse_config
from certcheck.monitor.delivery import DeliveryError, deliver_outbox, send, send_with_retries
from certcheck.monitor.store import Store

FIX = "Issue a certificate whose subjectAltName lists this exact host name."


def message(target: str = "api.example.test:443") -> Message:
    return Message(
        kind="change",
        target=target,
        title=f"certcheck {target}: hostname_mismatch: The certificate does not cover the host",
        severity="error",
        items=[
            {
                "kind": "new_finding",
                "severity": "error",
                "summary": "hostname_mismatch: The certificate does not cover the host name",
                "platforms": ["ios", "android"],
                "fix": FIX,
                "rule_id": "hostname_mismatch",
                "good": False,
                "detail": {},
            },
            {
                "kind": "resolved_finding",
                "severity": "warning",
                "summary": "resolved legacy_tls_missing: Old Android <4.x> & co",
                "platforms": ["android_legacy"],
                "rule_id": "legacy_tls_missing",
                "good": True,
                "detail": {},
            },
        ],
        created_at="2026-11-22T06:00:00Z",
        owner="api team",
        tags=["prod"],
        report_url="https://status.example.test/history.html",
        overall="fail",
        verdicts={"ios": "fail", "android": "fail", "android_legacy": "pass"},
        run_id=12,
    )


def channels(text: str, **env: str):
    """Channels (and settings) from [[notify]] TOML; ${VARS} taken from ``env``."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        config = parse_config(
            "[alerts]\nretries = 2\nbackoff_seconds = 0.25\ntimeout_seconds = 0.5\n"
            '[[targets]]\nhost = "api.example.test"\n' + text,
            "certcheck.toml",
            Path("/nonexistent"),
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return config


def test_wecom_robot_markdown(receiver):
    hook = receiver()
    config = channels(f'[[notify]]\ntype = "wecom"\nurl = "{hook.url()}?key=abc"\n')
    send(config.channels["wecom"], message(), timeout=5)
    [request] = hook.requests
    assert request.query == {"key": ["abc"]}
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    body = request.json()
    assert body["msgtype"] == "markdown" and set(body) == {"msgtype", "markdown"}
    content = body["markdown"]["content"]
    assert content.startswith("### certcheck api.example.test:443: hostname_mismatch")
    assert "- **error** hostname_mismatch" in content and "(iOS, Android)" in content
    assert f"> fix: {FIX}" in content
    assert "- **ok** resolved legacy_tls_missing" in content
    assert "[HTML report](https://status.example.test/history.html)" in content
    assert "Owner: api team" in content


def test_dingtalk_signed_mode_signature_verifies(receiver):
    hook = receiver()
    secret = "SEC0123456789abcdef"
    config = channels(
        f'[[notify]]\ntype = "dingtalk"\nurl = "{hook.url()}?access_token=tok"\n'
        'secret = "${DT_SECRET}"\n',
        DT_SECRET=secret,
    )
    before = int(time.time() * 1000)
    send(config.channels["dingtalk"], message(), timeout=5)
    [request] = hook.requests
    stamp = request.query["timestamp"][0]
    assert before - 1000 <= int(stamp) <= int(time.time() * 1000) + 1000
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert request.query["sign"] == [expected]  # parse_qs undid the URL encoding
    assert request.query["access_token"] == ["tok"]
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"].startswith("certcheck api.example.test:443")
    assert f"> fix: {FIX}" in body["markdown"]["text"]


def test_dingtalk_without_secret_is_not_signed(receiver):
    hook = receiver()
    config = channels(f'[[notify]]\ntype = "dingtalk"\nurl = "{hook.url()}?access_token=t"\n')
    send(config.channels["dingtalk"], message(), timeout=5)
    assert set(hook.requests[0].query) == {"access_token"}


def test_feishu_signed_text_message(receiver):
    hook = receiver()
    secret = "feishu-secret-42"
    config = channels(f'[[notify]]\ntype = "feishu"\nurl = "{hook.url()}"\nsecret = "{secret}"\n')
    send(config.channels["feishu"], message(), timeout=5)
    body = hook.requests[0].json()
    assert body["msg_type"] == "text"
    stamp = body["timestamp"]
    assert abs(int(stamp) - time.time()) < 60
    expected = base64.b64encode(
        hmac.new(f"{stamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    ).decode()
    assert body["sign"] == expected
    text = body["content"]["text"]
    assert "[error] hostname_mismatch" in text and f"fix: {FIX}" in text
    assert "Report: https://status.example.test/history.html" in text


def test_slack_text_is_escaped(receiver):
    hook = receiver(answer=b"ok")
    config = channels(f'[[notify]]\ntype = "slack"\nurl = "{hook.url()}"\n')
    send(config.channels["slack"], message(), timeout=5)
    body = hook.requests[0].json()
    assert set(body) == {"text"}
    assert "Old Android &lt;4.x&gt; &amp; co" in body["text"]
    assert "<https://status.example.test/history.html|HTML report>" in body["text"]


def test_generic_webhook_body_and_headers(receiver):
    hook = receiver()
    config = channels(
        f'[[notify]]\ntype = "webhook"\nurl = "{hook.url()}"\n'
        'headers = { Authorization = "Bearer ${HOOK_TOKEN}" }\n',
        HOOK_TOKEN="tok-777",
    )
    send(config.channels["webhook"], message(), timeout=5)
    [request] = hook.requests
    assert request.headers["Authorization"] == "Bearer tok-777"
    body = request.json()
    assert body["schema_version"] == "1.0" and body["kind"] == "certcheck-alert"
    assert body["alert"] == "change" and body["run_id"] == 12
    assert body["target"] == "api.example.test:443" and body["severity"] == "error"
    assert body["verdicts"]["ios"] == "fail" and body["owner"] == "api team"
    assert [c["kind"] for c in body["changes"]] == ["new_finding", "resolved_finding"]
    assert body["changes"][0]["fix"] == FIX
    assert body["text"].startswith(body["title"])


def test_robot_api_errors_in_a_200_answer_are_failures(receiver):
    hook = receiver(answer=b'{"errcode": 310000, "errmsg": "sign not match"}')
    config = channels(f'[[notify]]\ntype = "dingtalk"\nurl = "{hook.url()}"\n')
    with pytest.raises(DeliveryError, match="refused by the dingtalk API: errcode 310000: sign"):
        send(config.channels["dingtalk"], message(), timeout=5)


def test_http_500_then_200_is_retried_with_backoff(receiver):
    hook = receiver(script=[500], default=200)
    config = channels(f'[[notify]]\ntype = "wecom"\nurl = "{hook.url()}"\n')
    pauses: list[float] = []
    attempts, error = send_with_retries(
        config.channels["wecom"], message(), config.alerts, config.redactor, pauses.append
    )
    assert (attempts, error) == (2, None)
    assert len(hook.requests) == 2
    assert pauses == [0.25]


def test_a_hanging_receiver_times_out_on_every_attempt(receiver):
    hook = receiver(default="hang")
    config = channels(f'[[notify]]\ntype = "slack"\nurl = "{hook.url()}"\n')
    started = time.monotonic()
    attempts, error = send_with_retries(
        config.channels["slack"], message(), config.alerts, config.redactor, lambda _s: None
    )
    assert (attempts, error) == (2, "timed out after 0.5 s")
    assert len(hook.requests) == 2
    assert time.monotonic() - started < 20  # the timeout was honoured


def test_refused_connection_is_reported_without_the_secret_url():
    port = closed_port()
    config = channels(
        f'[[notify]]\ntype = "wecom"\nurl = "http://127.0.0.1:{port}/send?key=${{KEY}}"\n',
        KEY="wecom-key-31337",
    )
    attempts, error = send_with_retries(
        config.channels["wecom"], message(), config.alerts, config.redactor, lambda _s: None
    )
    assert attempts == 2 and error == "connection refused"


def test_outbox_keeps_failed_alerts_and_sends_them_next_time(receiver, tmp_path):
    hook = receiver(default=503)
    config = channels(f'[[notify]]\ntype = "webhook"\nurl = "{hook.url()}"\n')
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        store.migrate()
        now = datetime.now(UTC)
        run = store.begin_run(now, 2, "wechat")
        from certcheck.model import ScanError, ServerFacts, Target, TargetResult

        for host in ("a.test", "b.test"):
            facts = ServerFacts(Target(host), "x", error=ScanError("refused", "refused"))
            store.record_target(
                run,
                f"{host}:443",
                TargetResult(facts, overall="error"),
                now,
                [],
                (message(f"{host}:443"), ["webhook"]),
            )
        report = deliver_outbox(
            store, config.channels, config.alerts, config.redactor, lambda _s: None
        )
        assert report.failed == {"webhook": "HTTP 503 Service Unavailable"}
        assert report.pending == {"webhook": 2}
        assert len(hook.requests) == 2  # both retries on the first alert; the second waits
        rows = store.delivery_rows()
        assert [(r.status, r.attempts) for r in rows] == [("pending", 2), ("pending", 0)]
        assert rows[0].last_error == "HTTP 503 Service Unavailable"
        # Next run: the receiver works again; both alerts go out once, the one that never
        # failed first (a row that keeps failing must not stay first in line forever).
        hook.default = 200
        report = deliver_outbox(
            store, config.channels, config.alerts, config.redactor, lambda _s: None
        )
        assert [title.split(":")[0] for _c, title in report.sent] == [
            "certcheck b.test",
            "certcheck a.test",
        ]
        assert [b["target"] for b in hook.bodies()[2:]] == ["b.test:443", "a.test:443"]
        assert store.pending_deliveries() == []
        # A channel removed from the configuration: its alerts are abandoned, loudly.
        store.record_target(
            run,
            "c.test:443",
            TargetResult(
                ServerFacts(Target("c.test"), "x", error=ScanError("refused", "refused")),
                overall="error",
            ),
            now,
            [],
            (message("c.test:443"), ["gone"]),
        )
        report = deliver_outbox(store, config.channels, config.alerts, config.redactor)
        assert (
            report.abandoned and "'gone' is no longer in the configuration" in report.abandoned[0]
        )
    finally:
        store.close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def test_email_through_a_local_smtp_server():
    mailbox = _Mailbox()
    port = closed_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = channels(
            f'[[notify]]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\n'
            'security = "none"\nfrom = "certcheck@example.test"\n'
            'to = ["ops@example.test", "web@example.test"]\n'
        )
        send(config.channels["email"], message(), timeout=5)
    finally:
        controller.stop()
    [(sender, recipients, content)] = mailbox.messages
    assert sender == "certcheck@example.test"
    assert recipients == ["ops@example.test", "web@example.test"]
    mail = email.message_from_bytes(content)
    assert mail["Subject"].startswith("certcheck api.example.test:443: hostname_mismatch")
    assert mail["X-Certcheck-Alert"] == "change"
    body = mail.get_payload(decode=True).decode()
    assert "[error] hostname_mismatch" in body and f"fix: {FIX}" in body


def test_smtp_refused_is_a_delivery_error():
    config = channels(
        f'[[notify]]\ntype = "email"\nhost = "127.0.0.1"\nport = {closed_port()}\n'
        'security = "none"\nfrom = "a@example.test"\nto = ["b@example.test"]\n'
    )
    with pytest.raises(DeliveryError, match="SMTP connection refused"):
        send(config.channels["email"], message(), timeout=5)


def test_notify_test_command_reports_each_channel(
    receiver,
    tmp_path,
    inproc,
    monkeypatch,
):
    good, bad = receiver(), receiver(default=500)
    path = tmp_path / "certcheck.toml"
    path.write_text(
        '[alerts]\nretries = 1\ntimeout_seconds = 2.0\n[[targets]]\nhost = "a.test"\n'
        f'[[notify]]\ntype = "wecom"\nname = "team-robot"\nurl = "{good.url()}?key=${{WK}}"\n'
        f'[[notify]]\ntype = "webhook"\nurl = "{bad.url()}/${{WK}}"\n'
    )
    monkeypatch.setenv("WK", "wk-secret-5150")
    code, out, problems = inproc("notify-test", "--config", path)
    assert code == 1
    assert out == "team-robot: ok\n"
    assert problems == "webhook: failed after 1 attempt(s): HTTP 500 Internal Server Error\n"
    assert good.requests[0].query == {"key": ["wk-secret-5150"]}
    content = good.requests[0].json()["markdown"]["content"]
    assert content.startswith("### certcheck test message")
    assert inproc("notify-test", "--config", path, "--channel", "team-robot")[0] == 0
    assert len(good.requests) == 2 and len(bad.requests) == 1
    code, _, problems = inproc("notify-test", "--config", path, "--channel", "nope")
    assert code == 2
    assert "--channel 'nope': not configured (channels: team-robot, webhook)" in problems


def test_long_messages_are_cut_to_each_robot_limit():
    from certcheck.monitor.channels import http_request
    from certcheck.monitor.pacing import limits_for

    long = message()
    long.items = [dict(long.items[0], summary=f"问题 {n}: " + "x" * 80) for n in range(200)]
    config = channels('[[notify]]\ntype = "wecom"\nurl = "https://wecom.example.test/send"\n')
    content = http_request(config.channels["wecom"], long, datetime.now(UTC)).body["markdown"][
        "content"
    ]
    assert len(content.encode("utf-8")) <= limits_for("wecom").size_limit == 4096
    assert "more not shown (message shortened" in content
    assert content.endswith("[HTML report](https://status.example.test/history.html)")
    assert content.startswith("### certcheck api.example.test:443")
