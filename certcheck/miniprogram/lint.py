"""Lint a mini program's domain configuration: what the host app rejects before any TLS.

Pure: a :class:`MiniProgramConfig` and the host app's :class:`Limits` in, findings
grouped by API list out.  The rules and their sources are in
``rules/catalog/miniprogram.toml``; each host app's facts in ``rules/miniprogram.toml``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from certcheck.catalog import make_finding
from certcheck.miniprogram.config import (
    API_LABELS,
    CALL_TIMEOUT_FIELD,
    PREFETCH_FIELD,
    TIMEOUT_FIELD,
    MiniProgramConfig,
)
from certcheck.miniprogram.entries import (
    ANY_PATH,
    DEFAULT_PORTS,
    Entry,
    is_localhost,
    is_subdomain,
    parse_entry,
)
from certcheck.miniprogram.limits import Limits, PortRule, load_limits
from certcheck.model import SEVERITY_ORDER, Finding
from certcheck.targets import is_ip

REQUESTS_GROUP = "requests"
GENERAL_GROUP = "general"
#: API lists whose entries are TLS endpoints certcheck can scan
TLS_APIS = ("requestdomain", "wsrequestdomain", "uploaddomain", "downloaddomain")
_HTTPS_APIS = ("requestdomain", "uploaddomain", "downloaddomain")

GROUP_LABELS: dict[str, str] = {
    **API_LABELS,
    PREFETCH_FIELD: "DNS pre-resolution",
    TIMEOUT_FIELD: "app.json / game.json",
    REQUESTS_GROUP: "request URLs",
    GENERAL_GROUP: "not checkable offline",
}


@dataclass
class EntryReport:
    """One configured entry: accepted by the platform or not, and which URLs work."""

    api: str
    entry: Entry
    accepted: bool
    works: list[str] = field(default_factory=list)
    fails: list[str] = field(default_factory=list)
    #: how request URLs' ports must match: "bound" (exactly the entry's) or "any"
    ports: PortRule = "bound"
    #: "any" entries: the ports the allowed request URLs use (filled in by :func:`lint`)
    ports_reached: list[int] = field(default_factory=list)

    @property
    def endpoint_ports(self) -> list[int]:
        """The ports the mini program reaches this entry on (its own when nothing else)."""
        return self.ports_reached or [self.entry.effective_port]

    @property
    def endpoints(self) -> list[str]:
        if not self.accepted or self.api not in TLS_APIS:
            return []
        return [endpoint_label(self.entry, port) for port in self.endpoint_ports]

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry.raw,
            "host": self.entry.host,
            "port": self.entry.port,
            "accepted": self.accepted,
            "ports": self.ports,
            "endpoint": (self.endpoints or [None])[0],
            "endpoints": self.endpoints,
            "requests_work": list(self.works),
            "requests_fail": list(self.fails),
        }


@dataclass
class RequestReport:
    """One request URL checked against the configuration."""

    url: str
    entry: Entry
    allowed_by: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "allowed": bool(self.allowed_by), "allowed_by": self.allowed_by}


@dataclass
class LintGroup:
    """The findings of one API list (or prefetch, networkTimeout, requests, general)."""

    name: str
    entries: list[EntryReport] = field(default_factory=list)
    requests: list[RequestReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def label(self) -> str:
        return GROUP_LABELS.get(self.name, self.name)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"group": self.name, "label": self.label}
        if self.name not in (REQUESTS_GROUP, GENERAL_GROUP, TIMEOUT_FIELD):
            data["entries"] = [e.to_dict() for e in self.entries]
        if self.name == REQUESTS_GROUP:
            data["requests"] = [r.to_dict() for r in self.requests]
        data["findings"] = [f.to_dict() for f in self.findings]
        return data


@dataclass
class LintReport:
    groups: list[LintGroup]

    def group(self, name: str) -> LintGroup:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(name)

    @property
    def findings(self) -> list[Finding]:
        return [f for g in self.groups for f in g.findings]

    def accepted(self, api: str) -> list[Entry]:
        """Entries of ``api`` that the platform would accept (the ones worth a TLS scan)."""
        return [e.entry for e in self.accepted_reports(api)]

    def accepted_reports(self, api: str) -> list[EntryReport]:
        return [e for e in self.group(api).entries if e.accepted]

    def allowed_requests(self) -> list[RequestReport]:
        return [r for r in self.group(REQUESTS_GROUP).requests if r.allowed_by]


def endpoint_label(entry: Entry, port: int | None = None) -> str:
    host = f"[{entry.host}]" if ":" in entry.host else entry.host
    return f"{host}:{entry.effective_port if port is None else port}"


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: -SEVERITY_ORDER[f.severity])


def _host_findings(entry: Entry, evidence: dict[str, Any], limits: Limits) -> list[Finding]:
    """Rules on the host itself: IP address, localhost, WeChat's own API hosts."""
    if is_ip(entry.host):
        return [make_finding("host_is_ip", {**evidence, "host": entry.host})]
    if is_localhost(entry.host):
        return [make_finding("mp_localhost", {**evidence, "host": entry.host})]
    if entry.host in limits.forbidden_hosts:
        return [make_finding("mp_platform_api_host", {**evidence, "host": entry.host})]
    return []


def _entry_findings(api: str, entry: Entry, limits: Limits) -> list[Finding]:
    evidence: dict[str, Any] = {"api": api, "entry": entry.raw}
    if entry.wildcard:
        return [
            make_finding(
                "mp_subdomain_not_covered",
                {**evidence, "reason": "wildcard entries are not accepted; list each subdomain"},
            )
        ]
    if entry.problem:
        return [make_finding("mp_entry_malformed", {**evidence, "reason": entry.problem})]
    expected = limits.schemes[api]
    bare_allowed = api not in TLS_APIS  # udp/tcp lists: the scheme may be left out
    if entry.scheme != expected and not (entry.scheme is None and bare_allowed):
        return [
            make_finding(
                "mp_scheme_not_allowed",
                {**evidence, "scheme": entry.scheme, "expected": f"{expected}://"},
            )
        ]
    findings = _host_findings(entry, evidence, limits)
    if entry.port is not None and api in TLS_APIS and not limits.entry_ports:
        findings.append(
            make_finding(
                "mp_port_not_configurable",
                {**evidence, "host_app": limits.host_app, "use": entry.url_with(None, "")},
            )
        )
    return findings


def _works_and_fails(entry: Entry, rule: PortRule) -> tuple[list[str], list[str]]:
    """The exact request URL forms that reach this entry, and the ones that fail."""
    if entry.scheme not in DEFAULT_PORTS:
        return [], []
    if rule == "any":
        return [entry.url_with(None), entry.url_with(None, ":<any port>" + ANY_PATH)], []
    default = DEFAULT_PORTS[entry.scheme]
    if entry.port is None:
        return [entry.url_with(None)], [
            entry.url_with(default),
            entry.url_with(None, ":<any port>" + ANY_PATH),
        ]
    fails = [entry.url_with(None)]
    if entry.port != default:
        fails.append(entry.url_with(default))
    fails.append(entry.url_with(None, ":<any other port>" + ANY_PATH))
    return [entry.url_with(entry.port)], fails


def _lint_list(api: str, raws: list[str], config: MiniProgramConfig, limits: Limits) -> LintGroup:
    group = LintGroup(api)
    for raw in raws:
        entry = parse_entry(raw)
        findings = _entry_findings(api, entry, limits)
        accepted = not any(f.severity == "error" for f in findings)
        rule = limits.port_rule(entry.scheme)
        works, fails = _works_and_fails(entry, rule) if accepted else ([], [])
        if accepted and entry.port is not None and api in TLS_APIS:
            if rule == "bound":
                evidence = {"api": api, "entry": raw, "works": works, "fails": fails[:-1]}
                findings.append(make_finding("mp_port_bound", evidence))
            else:
                evidence = {"api": api, "entry": raw, "use": entry.url_with(None, "")}
                findings.append(make_finding("mp_port_not_needed", evidence))
        group.entries.append(EntryReport(api, entry, accepted, works, fails, rule))
        group.findings.extend(findings)
    if limits.per_api is not None and len(raws) > limits.per_api:
        group.findings.append(
            make_finding(
                "mp_too_many_domains", {"api": api, "count": len(raws), "max": limits.per_api}
            )
        )
    if config.rejected.get(api):
        group.findings.append(
            make_finding("mp_platform_rejected", {"api": api, "entries": config.rejected[api]})
        )
    group.findings = _sorted(group.findings)
    return group


def _lint_prefetch(raws: list[str], limits: Limits) -> LintGroup:
    group = LintGroup(PREFETCH_FIELD)
    for raw in raws:
        entry = parse_entry(raw)
        evidence: dict[str, Any] = {"entry": raw}
        if entry.scheme is not None:
            findings = [make_finding("mp_prefetch_has_scheme", {**evidence, "use": entry.netloc})]
        elif entry.problem:
            findings = [make_finding("mp_entry_malformed", {**evidence, "reason": entry.problem})]
        else:
            findings = _host_findings(entry, evidence, limits)
        group.entries.append(EntryReport(PREFETCH_FIELD, entry, accepted=not findings))
        group.findings.extend(findings)
    if limits.prefetch is not None and len(raws) > limits.prefetch:
        group.findings.append(
            make_finding("mp_too_many_prefetch", {"count": len(raws), "max": limits.prefetch})
        )
    group.findings = _sorted(group.findings)
    return group


def _lint_timeouts(config: MiniProgramConfig, limits: Limits) -> LintGroup:
    """Timeouts above the host app's maximum (only where it documents one)."""
    group = LintGroup(TIMEOUT_FIELD)
    maximum = limits.timeout_max_ms
    if maximum is None:
        return group
    given = {f"{TIMEOUT_FIELD}.{key}": ms for key, ms in config.network_timeout.items()}
    if config.call_timeout is not None:
        given[CALL_TIMEOUT_FIELD] = config.call_timeout
    for key, ms in given.items():
        if ms > maximum:
            evidence = {"key": key, "value_ms": ms, "max_ms": maximum, "host_app": limits.host_app}
            group.findings.append(make_finding("mp_timeout_above_max", evidence))
    return group


#: local-network ranges (RFC 1918, link-local, IPv6 unique-local and link-local)
_LAN_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)


def _is_lan(host: str) -> bool:
    """A LAN address other than the device itself: allowed at run time (base library 2.4.0+)."""
    address = ipaddress.ip_address(host)
    return any(address in network for network in _LAN_NETWORKS)


def _check_request(
    url: str, groups: dict[str, LintGroup], limits: Limits
) -> tuple[RequestReport, list[Finding]]:
    entry = parse_entry(url, allow_path=True)
    report = RequestReport(url, entry)
    evidence: dict[str, Any] = {"url": url}
    if entry.problem or entry.wildcard:
        reason = entry.problem or "wildcards are not host names"
        return report, [make_finding("mp_entry_malformed", {**evidence, "reason": reason})]
    if entry.scheme == "wss":
        candidates: tuple[str, ...] = ("wsrequestdomain",)
    elif entry.scheme == "https":
        candidates = _HTTPS_APIS
    else:
        return report, [
            make_finding(
                "mp_scheme_not_allowed",
                {**evidence, "scheme": entry.scheme, "expected": "https:// or wss://"},
            )
        ]
    if is_ip(entry.host):
        if limits.lan_ips and _is_lan(entry.host):
            report.allowed_by = ["lan_ip"]
            return report, []
        return report, [make_finding("host_is_ip", {**evidence, "host": entry.host})]
    configured = [
        (api, accepted)
        for api in candidates
        for accepted in (e.entry for e in groups[api].entries if e.accepted)
        if accepted.scheme == entry.scheme
    ]
    same_host = [(api, e) for api, e in configured if e.host == entry.host]
    any_port = limits.port_rule(entry.scheme) == "any"
    report.allowed_by = [api for api, e in same_host if any_port or e.port == entry.port]
    if report.allowed_by:
        return report, []
    if same_host:
        fixed = sorted({e.url_with(e.port, entry.path) for _api, e in same_host})
        return report, [
            make_finding(
                "mp_request_port_mismatch",
                {**evidence, "configured": sorted({e.raw for _a, e in same_host}), "use": fixed},
            )
        ]
    parents = sorted({e.raw for _api, e in configured if is_subdomain(entry.host, e.host)})
    if parents:
        return report, [
            make_finding(
                "mp_subdomain_not_covered",
                {**evidence, "parent_entry": parents, "add": entry.origin},
            )
        ]
    return report, [
        make_finding(
            "mp_request_not_configured", {**evidence, "add": entry.origin, "to": list(candidates)}
        )
    ]


def _note_ports_reached(groups: dict[str, LintGroup]) -> None:
    """For entries that let URLs use any port: the ports the allowed request URLs use."""
    for request in groups[REQUESTS_GROUP].requests:
        url = request.entry
        for api in request.allowed_by:
            for report in groups[api].entries if api in groups else []:
                entry = report.entry
                if not report.accepted or report.ports != "any" or entry.host != url.host:
                    continue
                if entry.scheme == url.scheme and url.effective_port not in report.ports_reached:
                    report.ports_reached.append(url.effective_port)


def _lint_requests(urls: list[str], groups: dict[str, LintGroup], limits: Limits) -> LintGroup:
    group = LintGroup(REQUESTS_GROUP)
    for url in urls:
        report, findings = _check_request(url, groups, limits)
        group.requests.append(report)
        group.findings.extend(findings)
    group.findings = _sorted(group.findings)
    return group


def _lint_general(
    config: MiniProgramConfig, groups: dict[str, LintGroup], limits: Limits
) -> LintGroup:
    group = LintGroup(GENERAL_GROUP)
    if not limits.icp_required:
        return group
    hosts = sorted(
        {
            e.entry.host
            for name, g in groups.items()
            if name != PREFETCH_FIELD
            for e in g.entries
            if e.accepted and e.entry.host
        }
    )
    if config.no_icp:
        group.findings.append(make_finding("mp_icp_missing", {"domains": list(config.no_icp)}))
    if hosts:
        group.findings.append(
            make_finding(
                "mp_icp_unverified",
                {
                    "domains": hosts,
                    "verify": "an ICP filing (备案) for each domain, in the MIIT filing system",
                },
            )
        )
    return group


def lint(config: MiniProgramConfig, limits: Limits | None = None) -> LintReport:
    """Every configuration finding, grouped: API lists in WeChat's order, then the rest."""
    limits = limits or load_limits(config.host_app)
    groups: dict[str, LintGroup] = {
        api: _lint_list(api, config.domains.get(api, []), config, limits) for api in limits.apis
    }
    groups[PREFETCH_FIELD] = _lint_prefetch(config.prefetch, limits)
    groups[TIMEOUT_FIELD] = _lint_timeouts(config, limits)
    groups[REQUESTS_GROUP] = _lint_requests(config.request_urls, groups, limits)
    _note_ports_reached(groups)
    groups[GENERAL_GROUP] = _lint_general(config, groups, limits)
    return LintReport(list(groups.values()))
