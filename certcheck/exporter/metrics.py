"""The ``/probe`` answer for one scanned target, and the exporter's own ``/metrics``.

Names follow blackbox_exporter where the meaning matches (``probe_success``,
``probe_duration_seconds``, ``probe_ssl_earliest_cert_expiry``,
``probe_tls_version_info``) so existing blackbox dashboards and alerts keep working;
the rest is ``certcheck_*``.  ``certcheck_verdict`` is 1 for pass, 0 for fail or warn,
and NaN when the verdict is unknown (the label ``verdict`` carries the state
either way, so ``certcheck_verdict{verdict="unknown"}`` selects those).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from certcheck.core.times import parse_instant
from certcheck.model import SEVERITY_ORDER, VERDICT_PLATFORMS, TargetResult
from certcheck.monitor.metrics import chain_expiries

#: Metric names a /probe answer can carry (the dashboard test checks against these).
PROBE_METRICS = (
    "probe_success",
    "probe_duration_seconds",
    "probe_ssl_earliest_cert_expiry",
    "probe_tls_version_info",
    "certcheck_verdict",
    "certcheck_overall_verdict",
    "certcheck_findings",
    "certcheck_cert_days_left",
    "certcheck_cert_not_after_timestamp_seconds",
    "certcheck_distrust_cutoff_timestamp_seconds",
)


def _when(text: str) -> datetime:
    return parse_instant(text)


def _cutoffs(value: Any) -> Iterator[dict[str, Any]]:
    """Every evidence entry that names a distrust ``cutoff``."""
    if isinstance(value, dict):
        if isinstance(value.get("cutoff"), str):
            yield value
        for item in value.values():
            yield from _cutoffs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _cutoffs(item)


class ProbeCollector(Collector):
    def __init__(self, result: TargetResult, duration: float, now: datetime) -> None:
        self.result = result
        self.duration = duration
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        result = self.result
        yield GaugeMetricFamily(
            "probe_success", "1 when the target was scanned.", value=1 if result.facts.ok else 0
        )
        yield GaugeMetricFamily(
            "probe_duration_seconds", "Seconds the scan and evaluation took.", value=self.duration
        )
        version = GaugeMetricFamily(
            "probe_tls_version_info", "The negotiated TLS version.", labels=["version"]
        )
        if result.facts.negotiated_protocol:
            version.add_metric([result.facts.negotiated_protocol.replace("v", " ")], 1)
        yield version
        verdict = GaugeMetricFamily(
            "certcheck_verdict",
            "Verdict per platform: 1 pass, 0 warn or fail, NaN unknown (state in label verdict).",
            labels=["platform", "verdict"],
        )
        for platform in VERDICT_PLATFORMS:
            state = result.verdicts.get(platform, "unknown")
            value = 1.0 if state == "pass" else (math.nan if state == "unknown" else 0.0)
            verdict.add_metric([platform, state], value)
        yield verdict
        overall = GaugeMetricFamily(
            "certcheck_overall_verdict", "1 for the overall verdict.", labels=["verdict"]
        )
        overall.add_metric([result.overall], 1)
        yield overall
        findings = GaugeMetricFamily(
            "certcheck_findings",
            "Active findings by severity and rule.",
            labels=["severity", "rule"],
        )
        counts: dict[tuple[str, str], int] = {}
        for finding in result.active_findings:
            key = (finding.severity, finding.rule_id)
            counts[key] = counts.get(key, 0) + 1
        for (severity, rule), count in sorted(
            counts.items(), key=lambda kv: (-SEVERITY_ORDER[kv[0][0]], kv[0][1])
        ):
            findings.add_metric([severity, rule], count)
        yield findings
        cert_labels = ["position", "role", "subject", "sha256"]
        days = GaugeMetricFamily(
            "certcheck_cert_days_left",
            "Days until the certificate's notAfter (negative once expired); position 0 = leaf.",
            labels=cert_labels,
        )
        not_after = GaugeMetricFamily(
            "certcheck_cert_not_after_timestamp_seconds",
            "notAfter as a Unix timestamp.",
            labels=cert_labels,
        )
        earliest: float | None = None
        now = self.now.timestamp()
        for position, role, cert, stamp in chain_expiries(result):
            labels = [str(position), role, cert.get("subject", ""), cert.get("sha256", "")]
            days.add_metric(labels, (stamp - now) / 86400)
            not_after.add_metric(labels, stamp)
            earliest = stamp if earliest is None else min(earliest, stamp)
        yield days
        yield not_after
        if earliest is not None:
            yield GaugeMetricFamily(
                "probe_ssl_earliest_cert_expiry",
                "Earliest notAfter in the served chain, Unix timestamp.",
                value=earliest,
            )
        cutoff = GaugeMetricFamily(
            "certcheck_distrust_cutoff_timestamp_seconds",
            "A distrust cut-off affecting the chain (Unix timestamp), by platform and CA event.",
            labels=["platform", "event", "rule"],
        )
        seen: set[tuple[str, str, str]] = set()
        for finding in result.active_findings:
            for entry in _cutoffs(finding.evidence):
                key = (str(entry.get("platform", "")), str(entry.get("event", "")), finding.rule_id)
                if key in seen:
                    continue
                seen.add(key)
                cutoff.add_metric(list(key), _when(entry["cutoff"]).timestamp())
        if seen:
            yield cutoff


def probe_text(result: TargetResult, duration: float, now: datetime) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProbeCollector(result, duration, now))
    return generate_latest(registry)


class ExporterMetrics:
    """The exporter's own counters, served on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.scans = Counter(
            "certcheck_exporter_scans", "Scans run for /probe.", registry=self.registry
        )
        self.scan_errors = Counter(
            "certcheck_exporter_scan_errors",
            "Scans whose target could not be scanned, or that crashed or timed out.",
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "certcheck_exporter_cache_hits",
            "/probe answers from the cache or from a scan another request started.",
            registry=self.registry,
        )
        self.forbidden = Counter(
            "certcheck_exporter_forbidden_requests",
            "/probe requests answered 403 (target not configured or allowed).",
            registry=self.registry,
        )
        self.duration = Histogram(
            "certcheck_exporter_scan_duration_seconds",
            "Wall time of one scan.",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )

    def text(self) -> bytes:
        return generate_latest(self.registry)
