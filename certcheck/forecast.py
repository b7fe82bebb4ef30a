"""What breaks next: evaluate the same facts at every instant where something changes.

Evaluation is a pure function of (facts, policy, now), so a forecast needs no
network: it collects the instants in the window where a rule can change its
answer (a certificate's notAfter and its warning thresholds, a CA's distrust
cut-off or effective date, a root's notAfter), evaluates at each, and reports
the findings and platform verdicts that appear, in date order.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from cryptography import x509

from certcheck import __version__
from certcheck.core.times import parse_instant
from certcheck.evaluate import Policy, evaluate
from certcheck.evaluate.certinfo import iso
from certcheck.model import SEVERITY_ORDER, ServerFacts, TargetResult
from certcheck.platforms import distrust_by_fingerprint, root_info
from certcheck.report.jsondoc import SCHEMA_VERSION

ONE_SECOND = timedelta(seconds=1)
#: event kinds that are improvements; the others are something that starts failing
IMPROVEMENTS = frozenset({"resolved", "verdict_recovers"})


@dataclass
class ForecastEvent:
    """Something that starts (or stops) failing at ``at`` for one target."""

    at: datetime
    target: str
    #: "new_finding" | "verdict" (a platform starts failing) | "resolved" (a finding goes
    #: away, e.g. a certificate that was not yet valid becomes valid) | "verdict_recovers"
    change: str
    rule_id: str | None
    severity: str | None
    platforms: list[str]
    title: str
    detail: dict[str, Any]

    @property
    def better(self) -> bool:
        """An improvement (a finding resolved, a platform that stops failing)."""
        return self.change in IMPROVEMENTS

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "target": self.target,
            "change": self.change,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "platforms": self.platforms,
            "title": self.title,
            "detail": self.detail,
        }


def _certificates(facts: ServerFacts) -> list[x509.Certificate]:
    certs = []
    for entry in facts.chain + facts.aia_certificates:
        try:
            certs.append(x509.load_der_x509_certificate(base64.b64decode(entry)))
        except ValueError:
            continue
    return certs


def change_instants(
    facts: ServerFacts, result: TargetResult, policy: Policy, start: datetime, end: datetime
) -> list[datetime]:
    """Every instant in (start, end] at which a rule may change its answer for this target."""
    moments: set[datetime] = set()
    certs = _certificates(facts)
    profile = policy.profile
    for index, cert in enumerate(certs):
        after = cert.not_valid_after_utc + ONE_SECOND
        moments.add(after)
        moments.add(cert.not_valid_before_utc)  # a certificate not yet valid becomes valid
        if index == 0:
            for days in (profile.warn_days, profile.crit_days):
                moments.add(cert.not_valid_after_utc - timedelta(days=days))
    path = (result.certificate or {}).get("path_sha256", [])
    served = [c["sha256"] for c in (result.certificate or {}).get("chain", [])]
    for sha in set(path) | set(served):
        info = root_info(sha)
        if info and info.not_after:
            try:
                moments.add(parse_instant(info.not_after))
            except ValueError:
                pass
        for event in distrust_by_fingerprint().get(sha, []):
            for rule in event.rules:
                if rule.cutoff:
                    moments.add(rule.cutoff + ONE_SECOND)
                if rule.effective_date:
                    moments.add(datetime.combine(rule.effective_date, time.min, tzinfo=UTC))
    return sorted(m for m in moments if start < m <= end)


def forecast(
    facts_list: list[ServerFacts], policy: Policy, start: datetime, days: int
) -> tuple[list[TargetResult], list[ForecastEvent]]:
    """The baseline results at ``start`` and the events of the next ``days`` days."""
    end = start + timedelta(days=days)
    baseline = [evaluate(f, policy, start) for f in facts_list]
    events: list[ForecastEvent] = []
    for facts, first in zip(facts_list, baseline, strict=True):
        if not facts.ok:
            continue
        previous = first
        for moment in change_instants(facts, first, policy, start, end):
            current = evaluate(facts, policy, moment)
            events.extend(_diff(facts.target.label, previous, current, moment))
            previous = current
    events.sort(key=lambda e: (e.at, e.target, e.rule_id or ""))
    return baseline, events


def _diff(
    label: str, before: TargetResult, after: TargetResult, moment: datetime
) -> list[ForecastEvent]:
    """New findings at ``moment``; platforms that start failing are named on them."""
    newly_failing = {
        p for p, v in after.verdicts.items() if v == "fail" and before.verdicts.get(p) != "fail"
    }
    explained: set[str] = set()
    events: list[ForecastEvent] = []
    old = {(f.rule_id, f.severity) for f in before.active_findings}
    for finding in after.active_findings:
        if (finding.rule_id, finding.severity) in old:
            continue
        breaks = set(finding.breaks)
        failing = sorted(newly_failing if "all" in breaks else newly_failing & breaks)
        explained.update(failing)
        events.append(
            ForecastEvent(
                at=moment,
                target=label,
                change="new_finding",
                rule_id=finding.rule_id,
                severity=finding.severity,
                platforms=failing or finding.breaks or finding.platforms,
                title=finding.title,
                detail={**finding.evidence, "platforms_start_failing": failing},
            )
        )
    for platform in sorted(newly_failing - explained):
        events.append(
            ForecastEvent(
                at=moment,
                target=label,
                change="verdict",
                rule_id=None,
                severity=None,
                platforms=[platform],
                title=f"{platform} starts refusing the connection",
                detail={"from": before.verdicts.get(platform), "to": "fail"},
            )
        )
    return events + _improvements(label, before, after, moment, events)


def _improvements(
    label: str,
    before: TargetResult,
    after: TargetResult,
    moment: datetime,
    worse: list[ForecastEvent],
) -> list[ForecastEvent]:
    """Findings that go away at ``moment``, and platforms that stop failing (a certificate
    that was not yet valid becomes valid).  A finding that gives way to one at least as
    severe at the same instant is replaced (cert_expiring_soon by cert_expired), not
    resolved."""
    newest = max(
        (SEVERITY_ORDER.get(e.severity or "error", 0) for e in worse), default=-1
    )
    still = {f.rule_id for f in after.active_findings}
    events = [
        ForecastEvent(
            at=moment,
            target=label,
            change="resolved",
            rule_id=finding.rule_id,
            severity=finding.severity,
            platforms=finding.breaks or finding.platforms,
            title=finding.title,
            detail={"resolved": True},
        )
        for finding in before.active_findings
        if finding.rule_id not in still and SEVERITY_ORDER[finding.severity] > newest
    ]
    for platform, verdict in sorted(after.verdicts.items()):
        if verdict != "fail" and before.verdicts.get(platform) == "fail":
            events.append(
                ForecastEvent(
                    at=moment,
                    target=label,
                    change="verdict_recovers",
                    rule_id=None,
                    severity=None,
                    platforms=[platform],
                    title=f"{platform} stops refusing the connection",
                    detail={"from": "fail", "to": verdict},
                )
            )
    return events


def forecast_document(
    baseline: list[TargetResult],
    events: list[ForecastEvent],
    start: datetime,
    days: int,
    profile: str,
    data_notes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``certcheck-forecast`` document (``certcheck forecast --json``, the HTML page)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "certcheck-forecast",
        "tool": {"name": "certcheck", "version": __version__},
        "from": iso(start),
        "days": days,
        "profile": profile,
        "baseline": [
            {
                "target": r.facts.target.label,
                "overall": r.overall,
                "verdicts": r.verdicts,
                # what is active at the start: the page follows each row's state from here
                "findings": [
                    {"rule_id": f.rule_id, "severity": f.severity} for f in r.active_findings
                ],
            }
            for r in baseline
        ],
        "events": [e.to_dict() for e in events],
        "data_notes": data_notes or [],
    }

