"""Findings from what an endpoint answered: pure, no sockets, no clock.

Timing is judged against WeChat's limits: the configured ``networkTimeout``
(default and maximum 60 s) and the 5 s a request may still run after the mini
program goes to the background.  "Approaching" a limit means reaching
``near_fraction`` of it (``rules/miniprogram.toml``).
"""

from __future__ import annotations

from typing import Any

from certcheck.catalog import make_finding
from certcheck.miniprogram.limits import Limits, load_limits
from certcheck.miniprogram.results import ExchangeResult
from certcheck.model import SEVERITY_ORDER, Finding

#: charsets whose bytes WeChat's UTF-8 decoding reads correctly
UTF8_COMPATIBLE = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
GUESSED_PATH_NOTE = (
    "no socket URL was given, so '/' was tried: pass the real one "
    "(wss://host[:port]/path) on the command line"
)


def _timing_findings(x: ExchangeResult, limits: Limits) -> list[Finding]:
    total = x.timings_ms.get("total")
    if total is None:
        return []
    evidence: dict[str, Any] = {"url": x.url, "total_ms": total, "apis": x.apis}
    if total >= x.limit_ms:
        return [make_finding("mp_request_timeout", {**evidence, "limit_ms": x.limit_ms})]
    findings: list[Finding] = []
    if total >= limits.near_fraction * x.limit_ms:
        findings.append(
            make_finding("mp_request_near_timeout", {**evidence, "limit_ms": x.limit_ms})
        )
    if total >= limits.near_fraction * limits.background_ms:
        findings.append(
            make_finding("mp_background_limit_risk", {**evidence, "limit_ms": limits.background_ms})
        )
    return findings


def _error_findings(x: ExchangeResult, limits: Limits) -> list[Finding]:
    assert x.error is not None
    error = x.error
    evidence: dict[str, Any] = {
        "url": x.url,
        "error": error.kind,
        "phase": error.phase,
        "message": error.message,
    }
    waited = x.timings_ms.get("total")
    if error.kind == "timeout" and error.at_limit:
        return [
            make_finding(
                "mp_request_timeout",
                {"url": x.url, "waited_ms": waited, "limit_ms": x.limit_ms, "phase": error.phase},
            )
        ]
    findings: list[Finding] = []
    if x.kind == "websocket":
        findings.append(_websocket_failure(x, evidence))
    else:
        findings.append(make_finding("mp_http_request_failed", evidence))
    if error.kind == "timeout" and waited is not None:
        if waited >= limits.near_fraction * limits.background_ms:
            findings.append(
                make_finding(
                    "mp_background_limit_risk",
                    {"url": x.url, "waited_ms": waited, "limit_ms": limits.background_ms},
                )
            )
    return findings


def _websocket_failure(x: ExchangeResult, evidence: dict[str, Any]) -> Finding:
    """An error when the socket URL was given; a warning when only '/' was guessed."""
    if x.path_given:
        return make_finding("mp_websocket_upgrade_failed", evidence)
    return make_finding(
        "mp_websocket_upgrade_failed", {**evidence, "note": GUESSED_PATH_NOTE}, None, "guessed_path"
    )


def _encoding_findings(x: ExchangeResult) -> list[Finding]:
    """Only for wx.request answers: uploads and downloads are not decoded as text."""
    if "requestdomain" not in x.apis:
        return []
    findings: list[Finding] = []
    charset = (x.charset or "").lower() or None
    if charset is not None and charset not in UTF8_COMPATIBLE:
        findings.append(
            make_finding(
                "mp_response_not_utf8",
                {"url": x.url, "content_type": x.content_type, "charset": charset},
            )
        )
    elif x.body_utf8 is False:
        findings.append(
            make_finding(
                "mp_response_not_utf8",
                {
                    "url": x.url,
                    "content_type": x.content_type,
                    "charset": charset,
                    "body": "not valid UTF-8",
                },
            )
        )
    if x.bom_count:
        evidence = {"url": x.url, "boms": x.bom_count}
        if x.bom_count > 1:
            # WeChat strips one BOM; the next one stays in the text and breaks JSON.parse.
            findings.append(make_finding("mp_response_bom", evidence, None, "several"))
        else:
            findings.append(make_finding("mp_response_bom", evidence))
    return findings


def exchange_findings(x: ExchangeResult, limits: Limits | None = None) -> list[Finding]:
    """Every endpoint finding for one HTTPS request or WebSocket upgrade."""
    limits = limits or load_limits()
    if x.error is not None:
        return _error_findings(x, limits)
    findings = _timing_findings(x, limits)
    if x.kind == "websocket" and x.problems:
        evidence: dict[str, Any] = {
            "url": x.url,
            "status": x.status,
            "reason": x.reason,
            "problems": x.problems,
            "headers": [f"{k}: {v}" for k, v in x.headers],
        }
        findings.append(_websocket_failure(x, evidence))
    if x.kind == "http":
        findings.extend(_encoding_findings(x))
    return sorted(findings, key=lambda f: -SEVERITY_ORDER[f.severity])
