"""Metrics for node_exporter's textfile collector (``--prometheus-textfile PATH``).

Written with ``prometheus_client``: its text exposition format and its
``write_to_textfile``, which writes a temporary file beside PATH and renames it
over PATH, so the collector never reads half a file.  Metric and label names
are an API (dashboards and alert rules key on them): add, don't rename.  The
README lists them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from certcheck.core.times import parse_instant
from certcheck.model import SEVERITY_ORDER, VERDICT_PLATFORMS, TargetResult
from certcheck.monitor.config import MonitoredTarget

PLATFORM_STATES = ("pass", "warn", "fail", "unknown")
OVERALL_STATES = ("pass", "warn", "fail", "error")


@dataclass
class RunMetrics:
    """Everything one run reports."""

    finished_at: datetime
    run_duration: float
    scan_duration: float
    exit_code: int
    changes: int
    results: list[tuple[MonitoredTarget, TargetResult]] = field(default_factory=list)
    pending_alerts: dict[str, int] = field(default_factory=dict)


def _when(text: str) -> datetime:
    return parse_instant(text)


def chain_expiries(result: TargetResult) -> Iterator[tuple[int, str, dict[str, Any], float]]:
    """``(position, role, certificate, notAfter timestamp)`` per served certificate with a
    notAfter; position 0 is the leaf (shared with ``certcheck serve``'s /probe)."""
    for position, cert in enumerate((result.certificate or {}).get("chain") or []):
        if not cert.get("not_after"):
            continue
        role = "leaf" if position == 0 else ("root" if cert.get("self_signed") else "intermediate")
        yield position, role, cert, _when(cert["not_after"]).timestamp()


class _RunCollector(Collector):
    def __init__(self, run: RunMetrics) -> None:
        self.run = run

    def collect(self) -> Iterator[GaugeMetricFamily]:
        run = self.run
        now = run.finished_at.timestamp()
        cert_labels = ["target", "position", "role", "subject", "sha256"]
        expiry = GaugeMetricFamily(
            "certcheck_cert_expiry_seconds",
            "Seconds from the run until the certificate's notAfter (negative once expired); "
            "one series per certificate the server sent (position 0 is the leaf).",
            labels=cert_labels,
        )
        not_after = GaugeMetricFamily(
            "certcheck_cert_not_after_timestamp_seconds",
            "The certificate's notAfter as a Unix timestamp.",
            labels=cert_labels,
        )
        verdict = GaugeMetricFamily(
            "certcheck_verdict",
            "1 for the target's current verdict on a platform, 0 for the other states.",
            labels=["target", "platform", "verdict"],
        )
        overall = GaugeMetricFamily(
            "certcheck_overall_verdict",
            "1 for the target's overall verdict, 0 for the other states.",
            labels=["target", "verdict"],
        )
        findings = GaugeMetricFamily(
            "certcheck_findings",
            "Findings on the target by severity.",
            labels=["target", "severity"],
        )
        success = GaugeMetricFamily(
            "certcheck_scan_success",
            "1 when the target was scanned, 0 when it could not be (DNS, refused, timeout).",
            labels=["target"],
        )
        info = GaugeMetricFamily(
            "certcheck_target_info",
            "Always 1; labels describe the target (tags comma-separated).",
            labels=["target", "host", "port", "owner", "tags"],
        )
        for monitored, result in run.results:
            key = monitored.key
            target = monitored.target
            info.add_metric(
                [
                    key,
                    target.host,
                    str(target.port),
                    monitored.owner or "",
                    ",".join(monitored.tags),
                ],
                1,
            )
            success.add_metric([key], 1 if result.facts.ok else 0)
            for platform in VERDICT_PLATFORMS:
                state = result.verdicts.get(platform, "unknown")
                for option in PLATFORM_STATES:
                    verdict.add_metric([key, platform, option], 1 if option == state else 0)
            for option in OVERALL_STATES:
                overall.add_metric([key, option], 1 if option == result.overall else 0)
            for severity in SEVERITY_ORDER:
                count = sum(1 for f in result.findings if f.severity == severity)
                findings.add_metric([key, severity], count)
            for position, role, cert, stamp in chain_expiries(result):
                labels = [key, str(position), role, cert.get("subject", ""), cert.get("sha256", "")]
                expiry.add_metric(labels, stamp - now)
                not_after.add_metric(labels, stamp)
        yield from (expiry, not_after, verdict, overall, findings, success, info)

        yield GaugeMetricFamily(
            "certcheck_run_timestamp_seconds", "When the last complete run finished.", value=now
        )
        yield GaugeMetricFamily(
            "certcheck_run_duration_seconds",
            "Wall time of the last run: scan, history and alert delivery.",
            value=run.run_duration,
        )
        yield GaugeMetricFamily(
            "certcheck_scan_duration_seconds",
            "Wall time the last run spent scanning its targets.",
            value=run.scan_duration,
        )
        yield GaugeMetricFamily(
            "certcheck_run_exit_code", "Exit code of the last run.", value=run.exit_code
        )
        yield GaugeMetricFamily(
            "certcheck_run_changes", "Changes the last run found.", value=run.changes
        )
        pending = GaugeMetricFamily(
            "certcheck_alerts_pending",
            "Alerts waiting for delivery to the channel (retried on the next run).",
            labels=["channel"],
        )
        for channel, count in sorted(run.pending_alerts.items()):
            pending.add_metric([channel], count)
        yield pending


def write_textfile(path: Path, run: RunMetrics) -> None:
    """Write the metrics of ``run`` to ``path`` atomically (temporary file + rename)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RunCollector(run))
    write_to_textfile(str(path), registry)
