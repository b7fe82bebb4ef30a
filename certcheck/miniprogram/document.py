"""The JSON document of a mini-program check: kind ``certcheck-miniprogram``.

Schema ``1.1``, versioned like the scan results document (additive changes bump
the minor version; 1.1 added ``host_app`` and the host app's rules in ``limits``).
Shape::

    {schema_version, kind, tool, evaluated_at, profile, fail_on, exit_code,
     source, host_app {id, name, profile, ports, entry_ports, icp_required,
     referer, sources}, verdicts {ios, android, android_legacy}, overall,
     summary {findings {error, warning, info}, endpoints, endpoints_failed,
              endpoints_unscanned},
     limits {...},                       # the host app's numbers that were applied
     config {...},                       # the input as read (+ effective timeouts)
     lint: [{group, label, entries?, requests?, findings}],   # API lists first
     endpoints_checked,
     endpoints: [{endpoint, host, port, connect_addr, apis, overall, verdicts,
                  findings, exchanges: [{kind, url, timings_ms, status, ...}],
                  tls: <one entry of the results document's "results">}]}
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from certcheck import __version__
from certcheck.core.times import iso
from certcheck.freshness import stale_tables
from certcheck.miniprogram.limits import Limits, load_limits
from certcheck.miniprogram.results import MiniProgramReport

SCHEMA_VERSION = "1.1"
KIND = "certcheck-miniprogram"


def _limits(limits: Limits, max_requests: int, max_sockets: int) -> dict[str, Any]:
    return {
        "domains_per_api": limits.per_api,
        "prefetch_domains": limits.prefetch,
        "ports": dict(limits.ports),
        "timeout_default_ms": limits.timeout_default_ms,
        "timeout_max_ms": limits.timeout_max_ms,
        "background_ms": limits.background_ms,
        "near_fraction": limits.near_fraction,
        "max_requests": max_requests,
        "max_sockets": max_sockets,
    }


def miniprogram_document(
    report: MiniProgramReport,
    *,
    now: datetime,
    fail_on: str,
    exit_code: int,
    max_requests: int | None = None,
    max_sockets: int | None = None,
    limits: Limits | None = None,
) -> dict[str, Any]:
    limits = limits or load_limits(report.config.host_app)
    counts = Counter(f.severity for f in report.findings)
    config = report.config.to_dict()
    config["effective_timeout_ms"] = {
        api: report.config.timeout_ms(api, limits) for api in limits.timeout_keys.values()
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "tool": {"name": "certcheck", "version": __version__},
        "evaluated_at": iso(now),
        "profile": limits.profile,
        "fail_on": fail_on,
        "exit_code": exit_code,
        "source": report.config.source,
        "host_app": limits.to_dict(),
        "verdicts": dict(report.verdicts),
        "overall": report.overall,
        "summary": {
            "findings": {k: counts.get(k, 0) for k in ("error", "warning", "info")},
            "endpoints": len(report.endpoints),
            "endpoints_failed": sum(1 for e in report.endpoints if e.overall == "fail"),
            "endpoints_unscanned": len(report.unscanned),
        },
        "data_notes": stale_tables(now.date()),
        "limits": _limits(
            limits,
            max_requests if max_requests is not None else limits.max_requests,
            max_sockets if max_sockets is not None else limits.max_sockets,
        ),
        "config": config,
        "lint": [g.to_dict() for g in report.lint.groups],
        "endpoints_checked": report.endpoints_checked,
        "endpoints": [e.to_dict() for e in report.endpoints],
    }
