"""Plain records for the endpoint checks and the whole mini-program report.

Everything turns into JSON-ready dicts; the report is read by the console and
JSON outputs and never re-evaluated there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from certcheck.miniprogram.config import MiniProgramConfig
from certcheck.miniprogram.lint import LintReport
from certcheck.model import SEVERITY_ORDER, VERDICT_PLATFORMS, Finding, Target, TargetResult

ExchangeKind = Literal["http", "websocket"]

#: how bad each per-platform state is, for combining verdicts
VERDICT_RANK: dict[str, int] = {"pass": 0, "warn": 1, "unknown": 2, "fail": 3}
OVERALL_RANK: dict[str, int] = {"pass": 0, "warn": 1, "error": 2, "fail": 3}


@dataclass
class PlannedExchange:
    """One HTTPS request or WebSocket upgrade to make against an endpoint."""

    kind: ExchangeKind
    path: str
    #: True when the path came from a request URL, False when "/" was guessed
    path_given: bool
    #: API lists this exchange stands for
    apis: list[str]
    #: the networkTimeout WeChat applies (the smallest among ``apis``), ms
    limit_ms: int


@dataclass
class Endpoint:
    """One distinct host:port named by the configuration."""

    host: str
    port: int
    connect_addr: str | None
    apis: list[str] = field(default_factory=list)
    exchanges: list[PlannedExchange] = field(default_factory=list)

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def target(self) -> Target:
        scheme = "https" if any(a != "wsrequestdomain" for a in self.apis) else "wss"
        return Target(
            host=self.host,
            port=self.port,
            scheme=scheme,
            connect_addr=self.connect_addr,
            original=f"{scheme}://{self.label}",
        )


@dataclass
class ExchangeError:
    kind: str  # dns | refused | timeout | tls | http | network | reset
    message: str
    phase: str  # dns | connect | tls | first_byte | body
    #: True when the wait ended at WeChat's networkTimeout (not at --timeout)
    at_limit: bool = False


@dataclass
class ExchangeResult:
    """What one HTTPS GET or WebSocket upgrade saw, with timings in milliseconds."""

    kind: ExchangeKind
    url: str
    path_given: bool
    apis: list[str]
    limit_ms: int
    address: str | None = None
    #: dns, connect, tls, first_byte, total (= the four added up)
    timings_ms: dict[str, float] = field(default_factory=dict)
    status: int | None = None
    reason: str = ""
    headers: list[list[str]] = field(default_factory=list)
    content_type: str | None = None
    charset: str | None = None
    #: leading UTF-8 byte order marks in the body
    bom_count: int = 0
    #: the body (up to the read limit) decodes as UTF-8; None = not text or not read
    body_utf8: bool | None = None
    #: WebSocket: what did not match RFC 6455 §4.2.2 (empty = upgraded)
    problems: list[str] = field(default_factory=list)
    error: ExchangeError | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["error"] = asdict(self.error) if self.error else None
        return data


def combine_verdicts(*verdict_maps: dict[str, str]) -> dict[str, str]:
    """Per platform, the worst state found in any of the maps."""
    combined = {p: "pass" for p in VERDICT_PLATFORMS}
    for verdicts in verdict_maps:
        for platform in VERDICT_PLATFORMS:
            state = verdicts.get(platform, "unknown")
            if VERDICT_RANK[state] > VERDICT_RANK[combined[platform]]:
                combined[platform] = state
    return combined


def overall_of(findings: list[Finding], unscanned: bool) -> str:
    """fail on any error, else error when something could not be checked, else warn/pass."""
    worst = max((SEVERITY_ORDER[f.severity] for f in findings), default=-1)
    if worst == SEVERITY_ORDER["error"]:
        return "fail"
    if unscanned:
        return "error"
    return "warn" if worst == SEVERITY_ORDER["warning"] else "pass"


@dataclass
class EndpointResult:
    """The TLS results entry plus the HTTP/WebSocket checks of one endpoint."""

    endpoint: Endpoint
    tls: TargetResult
    exchanges: list[ExchangeResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)
    overall: str = "pass"

    @property
    def scanned(self) -> bool:
        return self.tls.facts.ok

    @property
    def all_findings(self) -> list[Finding]:
        """The endpoint's own findings and the TLS findings that count (not suppressed)."""
        return self.findings + self.tls.active_findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint.label,
            "host": self.endpoint.host,
            "port": self.endpoint.port,
            "connect_addr": self.endpoint.connect_addr,
            "apis": list(self.endpoint.apis),
            "overall": self.overall,
            "verdicts": dict(self.verdicts),
            "findings": [f.to_dict() for f in self.findings],
            "exchanges": [x.to_dict() for x in self.exchanges],
            "tls": self.tls.to_dict(),
        }


@dataclass
class MiniProgramReport:
    """Everything one ``certcheck miniprogram`` run found."""

    config: MiniProgramConfig
    lint: LintReport
    endpoints: list[EndpointResult]
    endpoints_checked: bool
    verdicts: dict[str, str]
    overall: str

    @property
    def findings(self) -> list[Finding]:
        """Lint, endpoint and TLS findings together."""
        return self.lint.findings + [f for e in self.endpoints for f in e.all_findings]

    @property
    def unscanned(self) -> list[EndpointResult]:
        return [e for e in self.endpoints if not e.scanned]
