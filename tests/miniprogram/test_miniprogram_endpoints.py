"""Endpoint checks against real TLS servers on 127.0.0.1: HTTPS GET, WebSocket upgrade, timing."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

import pytest

from certcheck.evaluate import Policy
from certcheck.localserver import LoopbackServer, ServerSpec
from certcheck.miniprogram.check import check_miniprogram
from certcheck.miniprogram.config import parse_config
from certcheck.miniprogram.endpoint_rules import exchange_findings
from certcheck.miniprogram.endpoints import http_get, websocket_accept, websocket_upgrade
from certcheck.miniprogram.localservers import RequestServer, http_answer, websocket_answer
from certcheck.miniprogram.results import Endpoint, PlannedExchange

WILD = "wild.example.test"
GBK_BODY = b"\xef\xbb\xbf" + '{"msg": "你好"}'.encode("gbk")


def _spec(sample, response: bytes | None = None) -> ServerSpec:
    spec = ServerSpec(sample.name, sample.chain_pem, sample.key_pem)
    if response is not None:
        spec.response = response
    return spec


@pytest.fixture
def start(sample_set):
    """Start servers serving the wildcard sample; all are stopped after the test."""
    started: list[LoopbackServer] = []

    def run(answer=None, delay: float = 0.0, response: bytes | None = None) -> LoopbackServer:
        spec = _spec(sample_set.get("wildcard"), response)
        server = (
            LoopbackServer(spec) if answer is None else RequestServer(spec, answer, delay)
        ).start()
        started.append(server)
        return server

    yield run
    for server in started:
        server.stop()


def _endpoint(server: LoopbackServer, name: str = "api") -> Endpoint:
    return Endpoint(host=f"{name}.{WILD}", port=server.port, connect_addr="127.0.0.1")


def _planned(
    kind: str = "http",
    path: str = "/",
    limit_ms: int = 60000,
    given: bool = True,
    apis: tuple[str, ...] = ("requestdomain",),
) -> PlannedExchange:
    return PlannedExchange(kind, path, given, list(apis), limit_ms)


# -- WebSocket ----------------------------------------------------------------------------------


def test_websocket_upgrade_succeeds_and_is_timed(start):
    server = start(websocket_answer)
    result = websocket_upgrade(
        _endpoint(server, "ws"), _planned("websocket", "/socket", apis=("wsrequestdomain",)), 5
    )
    assert result.error is None
    assert result.status == 101
    assert result.problems == []
    assert set(result.timings_ms) == {"dns", "connect", "tls", "first_byte", "total"}
    parts = sum(result.timings_ms[k] for k in ("dns", "connect", "tls", "first_byte"))
    assert result.timings_ms["total"] == pytest.approx(parts, abs=0.2)
    assert result.address == "127.0.0.1"
    head = server.requests[0].decode()
    assert head.startswith("GET /socket HTTP/1.1\r\n")
    assert f"Host: ws.{WILD}:{server.port}\r\n" in head
    assert "Upgrade: websocket\r\n" in head
    assert "Sec-WebSocket-Version: 13\r\n" in head
    assert exchange_findings(result) == []


def test_websocket_key_is_random_and_accept_is_per_rfc6455():
    # RFC 6455 §1.3 example
    assert websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_websocket_answered_with_200_reports_status_and_headers(start):
    server = start()  # localserver's canned answer: 200 OK
    result = websocket_upgrade(
        _endpoint(server, "ws200"), _planned("websocket", "/s", apis=("wsrequestdomain",)), 5
    )
    assert result.status == 200
    assert result.problems == ["status 200 OK, expected 101"]
    assert ["Content-Length", "2"] in result.headers
    (finding,) = exchange_findings(result)
    assert finding.rule_id == "mp_websocket_upgrade_failed"
    assert finding.severity == "error"
    assert "Connection: close" in finding.evidence["headers"]


def test_websocket_with_a_wrong_accept_value(start):
    def bad_accept(_head: bytes) -> bytes:
        return (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: bm90IHJpZ2h0\r\n\r\n"
        )

    server = start(bad_accept)
    result = websocket_upgrade(
        _endpoint(server, "ws"), _planned("websocket", apis=("wsrequestdomain",)), 5
    )
    assert result.status == 101
    assert len(result.problems) == 1
    assert result.problems[0].startswith("Sec-WebSocket-Accept is 'bm90IHJpZ2h0'")


# -- HTTPS --------------------------------------------------------------------------------------


def test_https_get_sends_host_and_path_and_reads_the_answer(start):
    server = start(lambda _h: http_answer())
    result = http_get(_endpoint(server), _planned(path="/v1/ping?x=1"), 5)
    assert result.error is None
    assert (result.status, result.reason) == (200, "OK")
    assert result.charset == "utf-8"
    assert result.body_utf8 is True
    assert result.bom_count == 0
    assert result.url == f"https://api.{WILD}:{server.port}/v1/ping?x=1"
    head = server.requests[0].decode()
    assert head.startswith("GET /v1/ping?x=1 HTTP/1.1\r\n")
    assert f"Host: api.{WILD}:{server.port}\r\n" in head
    assert exchange_findings(result) == []


def test_gbk_with_a_bom_is_flagged(start):
    server = start(response=http_answer(GBK_BODY, "application/json; charset=GBK"))
    result = http_get(_endpoint(server, "gbk"), _planned(), 5)
    assert result.charset == "gbk"
    assert result.bom_count == 1
    assert result.body_utf8 is False
    assert sorted(f.rule_id for f in exchange_findings(result)) == [
        "mp_response_bom",
        "mp_response_not_utf8",
    ]


def test_two_boms_in_a_chunked_utf8_answer(start):
    body = b"\xef\xbb\xbf\xef\xbb\xbf" + '{"msg": "你好"}'.encode()

    def chunked(_head: bytes) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + f"{len(body):x}\r\n".encode()
            + body
            + b"\r\n0\r\n\r\n"
        )

    server = start(chunked)
    result = http_get(_endpoint(server), _planned(), 5)
    assert result.bom_count == 2
    assert result.body_utf8 is True
    (finding,) = exchange_findings(result)
    assert (finding.rule_id, finding.severity) == ("mp_response_bom", "warning")


def test_slow_server_fails_at_the_network_timeout(start):
    server = start(lambda _h: http_answer(), delay=5.0)
    began = time.monotonic()
    result = http_get(_endpoint(server, "slow"), _planned(limit_ms=300), 10)
    elapsed = time.monotonic() - began
    assert elapsed < 4.0  # gave up at the 300 ms networkTimeout, not at the server's 5 s
    assert result.error is not None
    assert (result.error.kind, result.error.phase, result.error.at_limit) == (
        "timeout",
        "first_byte",
        True,
    )
    assert result.timings_ms["total"] >= 300
    assert [f.rule_id for f in exchange_findings(result)] == ["mp_request_timeout"]


def test_our_own_timeout_is_not_mistaken_for_the_platform_limit(start):
    server = start(lambda _h: http_answer(), delay=5.0)
    result = http_get(_endpoint(server, "slow"), _planned(limit_ms=60000), 0.3)
    assert result.error is not None
    assert result.error.kind == "timeout"
    assert result.error.at_limit is False
    assert "--timeout" in result.error.message
    assert [f.rule_id for f in exchange_findings(result)] == ["mp_http_request_failed"]


def test_a_slow_answer_is_timed_from_request_to_first_byte(start):
    server = start(lambda _h: http_answer(), delay=0.3)
    result = http_get(_endpoint(server, "slow"), _planned(), 5)
    assert result.error is None
    assert result.timings_ms["first_byte"] >= 300
    assert result.timings_ms["total"] >= 300


def test_garbage_instead_of_http(start):
    server = start(lambda _h: b"\x00\x01\x02 not http at all\r\n\r\n")
    result = http_get(_endpoint(server), _planned(), 5)
    assert result.error is not None
    assert result.error.kind == "http"
    assert [f.rule_id for f in exchange_findings(result)] == ["mp_http_request_failed"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_connection_is_data_not_an_exception():
    endpoint = Endpoint(host=f"api.{WILD}", port=_closed_port(), connect_addr="127.0.0.1")
    result = http_get(endpoint, _planned(), 5)
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == ("refused", "connect")


# -- the whole check: concurrency mirrors the platform ------------------------------------------


class _Gauge:
    """Counts answers being prepared at the same moment."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.calls = 0

    def answer(self, make):
        def run(head: bytes) -> bytes:
            with self.lock:
                self.active += 1
                self.calls += 1
                self.peak = max(self.peak, self.active)
            time.sleep(0.15)
            with self.lock:
                self.active -= 1
            return make(head)

        return run


@pytest.fixture(scope="module")
def policy(sample_set) -> Policy:
    return Policy.build("wechat", ca_pem=sample_set.root_pem)


def test_check_never_opens_more_than_the_platform_limits(start, policy):
    ws_gauge, http_gauge = _Gauge(), _Gauge()
    ws = start(ws_gauge.answer(websocket_answer))
    api = start(http_gauge.answer(lambda _h: http_answer()))
    ws_host, api_host = f"ws.{WILD}", f"api.{WILD}"
    config = parse_config(
        {
            "requestdomain": [f"https://{api_host}:{api.port}"],
            "wsrequestdomain": [f"wss://{ws_host}:{ws.port}"],
        },
        "test",
    )
    config.request_urls = [f"wss://{ws_host}:{ws.port}/s{i}" for i in range(8)] + [
        f"https://{api_host}:{api.port}/r{i}" for i in range(6)
    ]
    report = check_miniprogram(
        config,
        policy,
        datetime.now(UTC),
        resolve={(ws_host, ws.port): "127.0.0.1", (api_host, api.port): "127.0.0.1"},
        timeout=5,
        max_requests=2,
    )
    assert ws_gauge.calls == 8 and http_gauge.calls == 6
    assert 1 <= ws_gauge.peak <= 5  # WeChat's 5 sockets
    assert 1 <= http_gauge.peak <= 2  # --max-requests 2
    by_label = {e.endpoint.label: e for e in report.endpoints}
    assert [x.url.rsplit("/", 1)[1] for x in by_label[f"{ws_host}:{ws.port}"].exchanges] == [
        f"s{i}" for i in range(8)
    ]
    assert all(x.status == 101 for x in by_label[f"{ws_host}:{ws.port}"].exchanges)


def test_unscanned_endpoint_is_unknown_not_failed(policy):
    port = _closed_port()
    host = f"down.{WILD}"
    config = parse_config({"requestdomain": [f"https://{host}:{port}"]}, "test")
    report = check_miniprogram(
        config, policy, datetime.now(UTC), resolve={(host, port): "127.0.0.1"}, timeout=3
    )
    (endpoint,) = report.endpoints
    assert endpoint.scanned is False
    assert endpoint.exchanges == []
    assert endpoint.overall == "error"
    assert endpoint.verdicts == {
        "ios": "unknown",
        "android": "unknown",
        "android_legacy": "unknown",
    }
    assert report.overall == "error"
    assert set(report.verdicts.values()) == {"unknown"}


def test_server_closing_without_an_answer(start):
    server = start(lambda _h: b"")
    result = http_get(_endpoint(server), _planned(), 5)
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == ("http", "first_byte")
    assert "without answering" in result.error.message


def test_an_internal_evaluation_error_is_exit_code_4(start, policy, monkeypatch):
    """A certcheck bug while judging an endpoint is exit 4 (as scan), not 1 or 3."""
    import certcheck.evaluate as evaluation
    from certcheck.miniprogram.check import exit_code

    def boom(*args, **kwargs):
        raise RuntimeError("planted bug")

    monkeypatch.setattr(evaluation, "evaluate_strict", boom)
    api = start()
    host = f"api.{WILD}"
    config = parse_config({"requestdomain": [f"https://{host}:{api.port}"]}, "test")
    report = check_miniprogram(
        config, policy, datetime.now(UTC), resolve={(host, api.port): "127.0.0.1"}, timeout=5
    )
    (endpoint,) = report.endpoints
    assert endpoint.tls.facts.error is not None
    assert endpoint.tls.facts.error.kind == "internal"
    assert exit_code(report, "error") == 4
