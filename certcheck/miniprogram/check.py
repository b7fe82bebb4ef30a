"""Run the whole mini-program check: lint, then every endpoint's TLS, HTTP and WebSocket.

Connections mirror the host app's own limits (``rules/miniprogram.toml``): at
most ``max_requests`` HTTPS requests and ``max_sockets`` WebSocket upgrades are
open at once across the whole run (10 and 5 for WeChat and TCSAS alike).  The TLS scans come
first, ``concurrency`` endpoints at a time; the probe opens a bounded number of
connections per target (5 today), so the default of 2 keeps even two virtual
hosts on one server within WeChat's 10.  Callers raise the limits explicitly.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from certcheck.evaluate import Policy, verdicts_for
from certcheck.exitcodes import EXIT_INTERNAL
from certcheck.miniprogram.config import MiniProgramConfig
from certcheck.miniprogram.endpoint_rules import exchange_findings
from certcheck.miniprogram.endpoints import http_get, websocket_upgrade
from certcheck.miniprogram.limits import Limits, load_limits
from certcheck.miniprogram.lint import TLS_APIS, LintReport, lint
from certcheck.miniprogram.results import (
    Endpoint,
    EndpointResult,
    ExchangeResult,
    MiniProgramReport,
    PlannedExchange,
    combine_verdicts,
    overall_of,
)
from certcheck.model import SEVERITY_ORDER, VERDICT_PLATFORMS
from certcheck.pipeline import evaluate_all, scan_targets

_HTTPS_APIS = ("requestdomain", "uploaddomain", "downloaddomain")


def _request_paths(lint_report: LintReport, scheme: str, host: str, port: int) -> list[str]:
    """Paths of the allowed request URLs that go to this endpoint, in order, once each."""
    paths: list[str] = []
    for request in lint_report.allowed_requests():
        entry = request.entry
        if entry.scheme == scheme and entry.host == host and entry.effective_port == port:
            if entry.path not in paths:
                paths.append(entry.path)
    return paths


def plan_endpoints(
    config: MiniProgramConfig,
    lint_report: LintReport,
    resolve: dict[tuple[str, int], str] | None = None,
    limits: Limits | None = None,
) -> list[Endpoint]:
    """One endpoint per distinct host:port the accepted https/wss entries reach, in order."""
    limits = limits or load_limits(config.host_app)
    resolve = resolve or {}
    endpoints: dict[tuple[str, int], Endpoint] = {}
    for api in TLS_APIS:
        for report in lint_report.accepted_reports(api):
            entry = report.entry
            for port in report.endpoint_ports:
                key = (entry.host, port)
                endpoint = endpoints.setdefault(
                    key, Endpoint(host=entry.host, port=port, connect_addr=resolve.get(key))
                )
                if api not in endpoint.apis:
                    endpoint.apis.append(api)
    for endpoint in endpoints.values():
        https_apis = [a for a in endpoint.apis if a in _HTTPS_APIS]
        if https_apis:
            limit = min(config.timeout_ms(a, limits) for a in https_apis)
            paths = _request_paths(lint_report, "https", endpoint.host, endpoint.port)
            for path in paths or ["/"]:
                endpoint.exchanges.append(
                    PlannedExchange("http", path, bool(paths), https_apis, limit)
                )
        if "wsrequestdomain" in endpoint.apis:
            limit = config.timeout_ms("wsrequestdomain", limits)
            paths = _request_paths(lint_report, "wss", endpoint.host, endpoint.port)
            for path in paths or ["/"]:
                endpoint.exchanges.append(
                    PlannedExchange("websocket", path, bool(paths), ["wsrequestdomain"], limit)
                )
    return list(endpoints.values())


def _run_exchanges(
    work: list[tuple[Endpoint, PlannedExchange]],
    timeout: float,
    max_requests: int,
    max_sockets: int,
) -> dict[int, ExchangeResult]:
    """Every planned exchange, HTTPS and WebSocket each in its own bounded pool."""
    results: dict[int, ExchangeResult] = {}
    http_work = [(i, e, p) for i, (e, p) in enumerate(work) if p.kind == "http"]
    ws_work = [(i, e, p) for i, (e, p) in enumerate(work) if p.kind == "websocket"]
    with (
        ThreadPoolExecutor(max_workers=max(1, max_requests)) as http_pool,
        ThreadPoolExecutor(max_workers=max(1, max_sockets)) as ws_pool,
    ):
        futures = {i: http_pool.submit(http_get, e, p, timeout) for i, e, p in http_work}
        futures |= {i: ws_pool.submit(websocket_upgrade, e, p, timeout) for i, e, p in ws_work}
        for index, future in futures.items():
            results[index] = future.result()
    return results


def _mp_verdicts(lint_report: LintReport, endpoints: list[EndpointResult]) -> dict[str, str]:
    lint_verdicts, _ = verdicts_for(lint_report.findings)
    return combine_verdicts(lint_verdicts, *(e.verdicts for e in endpoints))


def check_miniprogram(
    config: MiniProgramConfig,
    policy: Policy,
    now: datetime,
    *,
    resolve: dict[tuple[str, int], str] | None = None,
    timeout: float = 10.0,
    endpoints: bool = True,
    concurrency: int = 2,
    max_requests: int | None = None,
    max_sockets: int | None = None,
    limits: Limits | None = None,
) -> MiniProgramReport:
    """Lint ``config`` and, unless ``endpoints`` is False, check every endpoint it names.

    Everything is judged by the rules of ``config.host_app`` unless ``limits`` says otherwise.
    """
    limits = limits or load_limits(config.host_app)
    lint_report = lint(config, limits)
    results: list[EndpointResult] = []
    if endpoints:
        planned = plan_endpoints(config, lint_report, resolve, limits)
        facts = scan_targets([e.target() for e in planned], timeout, max(1, concurrency))
        tls_results = evaluate_all(facts, policy, now)
        scanned = [(e, r) for e, r in zip(planned, tls_results, strict=True)]
        work = [(e, p) for e, r in scanned if r.facts.ok for p in e.exchanges]
        done = _run_exchanges(
            work,
            timeout,
            max_requests if max_requests is not None else limits.max_requests,
            max_sockets if max_sockets is not None else limits.max_sockets,
        )
        by_endpoint: dict[str, list[ExchangeResult]] = {}
        for index, (endpoint, _planned) in enumerate(work):
            by_endpoint.setdefault(endpoint.label, []).append(done[index])
        for endpoint, tls in scanned:
            exchanges = by_endpoint.get(endpoint.label, [])
            findings = [f for x in exchanges for f in exchange_findings(x, limits)]
            findings.sort(key=lambda f: -SEVERITY_ORDER[f.severity])
            own, _ = verdicts_for(findings)
            if tls.facts.ok:
                verdicts = combine_verdicts(own, tls.verdicts)
            else:
                verdicts = {p: "unknown" for p in VERDICT_PLATFORMS}
            results.append(
                EndpointResult(
                    endpoint=endpoint,
                    tls=tls,
                    exchanges=exchanges,
                    findings=findings,
                    verdicts=verdicts,
                    overall=overall_of(findings + tls.active_findings, not tls.facts.ok),
                )
            )
    all_findings = lint_report.findings + [f for r in results for f in r.all_findings]
    return MiniProgramReport(
        config=config,
        lint=lint_report,
        endpoints=results,
        endpoints_checked=endpoints,
        verdicts=_mp_verdicts(lint_report, results),
        overall=overall_of(all_findings, any(not r.scanned for r in results)),
    )


def exit_code(report: MiniProgramReport, fail_on: str) -> int:
    """As ``scan``: 4 an endpoint's evaluation failed inside certcheck, 1 a finding at or above
    ``fail_on``, 3 an endpoint not scanned, else 0."""
    if any(
        e.tls.facts.error is not None and e.tls.facts.error.kind == "internal"
        for e in report.endpoints
    ):
        return EXIT_INTERNAL
    threshold = SEVERITY_ORDER[fail_on]
    if any(SEVERITY_ORDER[f.severity] >= threshold for f in report.findings):
        return 1
    if report.unscanned:
        return 3
    return 0
