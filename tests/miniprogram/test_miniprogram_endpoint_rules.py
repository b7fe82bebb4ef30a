"""Endpoint rules on recorded answers (no sockets), verdict combination and exit codes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from certcheck.catalog import make_finding
from certcheck.miniprogram.check import exit_code
from certcheck.miniprogram.config import parse_config
from certcheck.miniprogram.document import miniprogram_document
from certcheck.miniprogram.endpoint_rules import exchange_findings
from certcheck.miniprogram.lint import lint
from certcheck.miniprogram.results import (
    Endpoint,
    EndpointResult,
    ExchangeError,
    ExchangeResult,
    MiniProgramReport,
    combine_verdicts,
    overall_of,
)
from certcheck.model import ScanError, ServerFacts, Target, TargetResult

URL = "https://api.example.com/"


def _http(total: float = 50.0, limit: int = 60000, **fields) -> ExchangeResult:
    fields.setdefault("apis", ["requestdomain"])
    result = ExchangeResult(kind="http", url=URL, path_given=True, limit_ms=limit, **fields)
    result.timings_ms = {"dns": 1, "connect": 1, "tls": 3, "first_byte": total - 5, "total": total}
    result.status = result.status or 200
    return result


def _ids(result: ExchangeResult) -> list[str]:
    return sorted(f.rule_id for f in exchange_findings(result))


# -- timing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "limit", "expected"),
    [
        (50, 60000, []),
        (790, 1000, []),  # under 80 % of the limit
        (800, 1000, ["mp_request_near_timeout"]),
        (999, 1000, ["mp_request_near_timeout"]),
        (1000, 1000, ["mp_request_timeout"]),
        (3999, 60000, []),
        (4000, 60000, ["mp_background_limit_risk"]),  # 80 % of the 5 s background limit
        (4500, 5000, ["mp_background_limit_risk", "mp_request_near_timeout"]),
        (7000, 5000, ["mp_request_timeout"]),
    ],
)
def test_timing_against_network_timeout_and_background_limit(total, limit, expected):
    assert _ids(_http(total, limit)) == expected


def test_timeout_findings_carry_the_numbers():
    (finding,) = exchange_findings(_http(1200, 1000))
    assert finding.rule_id == "mp_request_timeout"
    assert finding.severity == "error"
    assert finding.breaks == ["all"]
    assert finding.evidence["total_ms"] == 1200
    assert finding.evidence["limit_ms"] == 1000


def test_no_answer_within_the_network_timeout_is_a_timeout():
    result = ExchangeResult(
        kind="http", url=URL, path_given=False, apis=["requestdomain"], limit_ms=500
    )
    result.timings_ms = {"dns": 1, "connect": 1, "tls": 2, "total": 501}
    result.error = ExchangeError("timeout", "no answer", "first_byte", at_limit=True)
    assert _ids(result) == ["mp_request_timeout"]


def test_no_answer_within_our_own_timeout_is_a_failed_request():
    result = ExchangeResult(
        kind="http", url=URL, path_given=False, apis=["requestdomain"], limit_ms=60000
    )
    result.timings_ms = {"total": 10000}
    result.error = ExchangeError("timeout", "no answer", "first_byte", at_limit=False)
    assert _ids(result) == ["mp_background_limit_risk", "mp_http_request_failed"]


def test_connection_errors_fail_the_request():
    result = ExchangeResult(
        kind="http", url=URL, path_given=False, apis=["uploaddomain"], limit_ms=60000
    )
    result.error = ExchangeError("http", "not a valid HTTP answer", "first_byte")
    (finding,) = exchange_findings(result)
    assert finding.rule_id == "mp_http_request_failed"
    assert finding.evidence["error"] == "http"


# -- WebSocket ----------------------------------------------------------------------------------


def _ws(problems: list[str], path_given: bool, status: int = 101) -> ExchangeResult:
    result = ExchangeResult(
        kind="websocket",
        url="wss://ws.example.com/s",
        path_given=path_given,
        apis=["wsrequestdomain"],
        limit_ms=60000,
        status=status,
        reason="OK",
        problems=problems,
        headers=[["Content-Type", "text/html"]],
    )
    result.timings_ms = {"total": 20}
    return result


def test_upgraded_websocket_has_no_findings():
    assert exchange_findings(_ws([], True)) == []


def test_failed_upgrade_on_a_given_url_is_an_error_with_status_and_headers():
    (finding,) = exchange_findings(_ws(["status 200 OK, expected 101"], True, 200))
    assert finding.rule_id == "mp_websocket_upgrade_failed"
    assert finding.severity == "error"
    assert finding.breaks == ["all"]
    assert finding.evidence["status"] == 200
    assert finding.evidence["headers"] == ["Content-Type: text/html"]


def test_failed_upgrade_on_a_guessed_path_is_a_warning():
    (finding,) = exchange_findings(_ws(["status 404 Not Found, expected 101"], False, 404))
    assert finding.severity == "warning"
    assert finding.breaks == []
    assert "wss://host" in finding.evidence["note"]


# -- encoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "body_utf8", "boms", "apis", "expected"),
    [
        ("utf-8", True, 0, ["requestdomain"], []),
        (None, True, 0, ["requestdomain"], []),
        ("us-ascii", True, 0, ["requestdomain"], []),
        ("gbk", False, 0, ["requestdomain"], ["mp_response_not_utf8"]),
        ("GB2312", None, 0, ["requestdomain"], ["mp_response_not_utf8"]),
        (None, False, 0, ["requestdomain"], ["mp_response_not_utf8"]),
        ("utf-8", True, 1, ["requestdomain"], ["mp_response_bom"]),
        ("gbk", False, 1, ["requestdomain"], ["mp_response_bom", "mp_response_not_utf8"]),
        ("gbk", False, 1, ["downloaddomain"], []),  # files are not decoded as text
    ],
)
def test_response_encoding(charset, body_utf8, boms, apis, expected):
    result = _http(apis=apis, charset=charset, body_utf8=body_utf8, bom_count=boms)
    assert _ids(result) == expected


def test_one_bom_is_info_two_are_a_warning():
    (one,) = exchange_findings(_http(charset="utf-8", bom_count=1))
    (two,) = exchange_findings(_http(charset="utf-8", bom_count=2))
    assert (one.severity, two.severity) == ("info", "warning")
    assert two.evidence["boms"] == 2


# -- verdicts and exit codes --------------------------------------------------------------------


def test_verdicts_combine_to_the_worst_state():
    assert combine_verdicts(
        {"ios": "pass", "android": "warn", "android_legacy": "pass"},
        {"ios": "unknown", "android": "pass", "android_legacy": "fail"},
    ) == {"ios": "unknown", "android": "warn", "android_legacy": "fail"}
    assert combine_verdicts() == {"ios": "pass", "android": "pass", "android_legacy": "pass"}


def test_overall_prefers_fail_over_unscanned_over_warn():
    error = make_finding("mp_request_timeout", {})
    warning = make_finding("mp_request_near_timeout", {})
    assert overall_of([error], unscanned=True) == "fail"
    assert overall_of([warning], unscanned=True) == "error"
    assert overall_of([warning], unscanned=False) == "warn"
    assert overall_of([], unscanned=False) == "pass"


def _report(lint_findings: bool, unscanned: bool) -> MiniProgramReport:
    fields = {"requestdomain": ["https://a.example.com"]}
    if lint_findings:
        fields["uploaddomain"] = ["http://b.example.com"]
    config = parse_config(fields, "t")
    facts = ServerFacts(target=Target("a.example.com"), scanned_at="2026-01-01T00:00:00Z")
    if unscanned:
        facts.error = ScanError("refused", "connection refused")
    endpoint = EndpointResult(
        Endpoint("a.example.com", 443, None, ["requestdomain"]), TargetResult(facts=facts)
    )
    return MiniProgramReport(config, lint(config), [endpoint], True, {}, "pass")


@pytest.mark.parametrize(
    ("lint_findings", "unscanned", "fail_on", "code"),
    [
        (False, False, "error", 0),
        (False, False, "info", 1),  # the ICP reminder is an info finding
        (True, False, "error", 1),
        (False, True, "error", 3),
        (True, True, "error", 1),
    ],
)
def test_exit_codes_follow_scan(lint_findings, unscanned, fail_on, code):
    assert exit_code(_report(lint_findings, unscanned), fail_on) == code


def test_document_shape():
    report = _report(True, True)
    doc = miniprogram_document(
        report, now=datetime(2026, 1, 2, tzinfo=UTC), fail_on="error", exit_code=1
    )
    assert doc["kind"] == "certcheck-miniprogram"
    assert doc["schema_version"] == "1.1"
    assert doc["host_app"]["id"] == "wechat"
    assert doc["host_app"]["ports"] == {"https": "bound", "wss": "any"}
    assert doc["evaluated_at"] == "2026-01-02T00:00:00Z"
    assert doc["summary"]["endpoints_unscanned"] == 1
    assert doc["summary"]["findings"]["error"] == 1
    assert doc["limits"]["max_requests"] == 10
    assert doc["config"]["effective_timeout_ms"]["requestdomain"] == 60000
    assert [g["group"] for g in doc["lint"]][:2] == ["requestdomain", "wsrequestdomain"]
    assert doc["endpoints"][0]["tls"]["status"] == "error"
