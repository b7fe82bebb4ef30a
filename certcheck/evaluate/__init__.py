"""Evaluation: pure functions of ``(facts, policy, now)`` to findings and verdicts.

Nothing in this package opens a socket or reads the clock: ``now`` is passed in.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from certcheck.catalog import Profile, load_profiles
from certcheck.evaluate.cert_rules import evaluate_chain
from certcheck.evaluate.certinfo import try_load
from certcheck.evaluate.cipher_rules import cipher_findings
from certcheck.evaluate.client_rules import client_findings, reconcile_with_simulation
from certcheck.evaluate.ct import ct_findings
from certcheck.evaluate.dh_rules import kex_findings
from certcheck.evaluate.distrust import distrust_findings
from certcheck.evaluate.protocol_rules import protocol_findings
from certcheck.evaluate.simulation import ClientResult, simulate
from certcheck.evaluate.stapling import stapling_findings
from certcheck.evaluate.trust import TrustStore
from certcheck.model import (
    SEVERITY_ORDER,
    VERDICT_PLATFORMS,
    Finding,
    ScanError,
    ServerFacts,
    TargetResult,
)
from certcheck.policyfile import OFF, Ignore, apply_suppressions


@dataclass
class Policy:
    """Everything evaluation needs besides the facts and the time."""

    trust: TrustStore
    profile: Profile = field(default_factory=lambda: load_profiles()["wechat"])
    distrust: frozenset[str] = frozenset()
    ignores: tuple[Ignore, ...] = ()

    @classmethod
    def build(
        cls,
        profile: str = "wechat",
        warn_days: int | None = None,
        crit_days: int | None = None,
        ca_pem: bytes | None = None,
        distrust: list[str] | None = None,
        trust: TrustStore | None = None,
        profile_obj: Profile | None = None,
        ignores: list[Ignore] | None = None,
    ) -> Policy:
        chosen = profile_obj or load_profiles()[profile]
        if warn_days is not None or crit_days is not None:
            chosen = Profile(
                name=chosen.name,
                description=chosen.description,
                warn_days=chosen.warn_days if warn_days is None else warn_days,
                crit_days=chosen.crit_days if crit_days is None else crit_days,
                severity=chosen.severity,
            )
        return cls(
            trust=trust or TrustStore.load(ca_pem),
            profile=chosen,
            distrust=frozenset(d.lower().replace(":", "") for d in distrust or []),
            ignores=tuple(ignores or ()),
        )


def verdicts_for(findings: list[Finding]) -> tuple[dict[str, str], str]:
    """Per-platform verdict and the overall one.

    A platform *fails* when a finding breaks it (its clients refuse the
    connection) and *warns* when a warning or error concerns it.  The overall
    verdict follows severity: the profile decides what matters.
    """
    findings = [f for f in findings if not f.suppressed]
    verdicts: dict[str, str] = {}
    for platform in VERDICT_PLATFORMS:
        state = "pass"
        for finding in findings:
            if platform in finding.breaks or "all" in finding.breaks:
                state = "fail"
                break
            concerns = platform in finding.platforms or "all" in finding.platforms
            if concerns and finding.severity != "info":
                state = "warn"
        verdicts[platform] = state
    worst = max((SEVERITY_ORDER[f.severity] for f in findings), default=-1)
    if worst == SEVERITY_ORDER["error"]:
        overall = "fail"
    elif worst == SEVERITY_ORDER["warning"]:
        overall = "warn"
    else:
        overall = "pass"
    return verdicts, overall


def _merge_same_rule(findings: list[Finding]) -> list[Finding]:
    """One finding per rule id: --distrust and the distrust data both feed ca_fully_distrusted."""
    merged: dict[str, Finding] = {}
    for finding in findings:
        first = merged.get(finding.rule_id)
        if first is None:
            merged[finding.rule_id] = finding
            continue
        for key, value in finding.evidence.items():
            if isinstance(value, list) and isinstance(first.evidence.get(key), list):
                first.evidence[key] = first.evidence[key] + value
            else:
                first.evidence.setdefault(key, value)
        first.platforms = sorted(set(first.platforms) | set(finding.platforms))
        first.breaks = sorted(set(first.breaks) | set(finding.breaks))
    return list(merged.values())


def _distrust(
    facts: ServerFacts, summary: dict, policy: Policy, now: datetime
) -> list[Finding]:
    """Distrust events for every certificate served or on the built path."""
    if not summary.get("chain"):
        return []
    certs = [(c["sha256"], c["subject"]) for c in summary["chain"]]
    certs += list(zip(summary.get("path_sha256", []), summary.get("path", []), strict=True))
    leaf = _leaf(facts)
    if leaf is None:
        return []
    return distrust_findings(certs, leaf, facts.tls_scts, policy.profile, now)


def _client_side(
    facts: ServerFacts, policy: Policy, now: datetime, fired: set[str]
) -> tuple[list[Finding], list[ClientResult]]:
    """Cipher/ATS rules, handshake simulation per client, CT and OCSP stapling."""
    leaf = _leaf(facts)
    simulation = simulate(facts, policy.trust, now)
    # Apple requires CT only for chains to its own store's roots (not user/--ca-file roots).
    public_on_apple = any(
        r.profile.platform == "ios" and r.trust.trust == "ok" and r.trust.root_source == "store"
        for r in simulation
    )
    findings = cipher_findings(facts, policy.profile, leaf)
    findings += kex_findings(facts, policy.profile)
    findings += client_findings(simulation, policy.profile, fired)
    findings += ct_findings(facts, leaf, public_on_apple, policy.profile, now)
    findings += stapling_findings(facts, policy.profile, leaf)
    return findings, simulation


def _leaf(facts: ServerFacts) -> x509.Certificate | None:
    return try_load(_b64(facts.chain[0])) if facts.chain else None


def _b64(entry: str) -> bytes:
    try:
        return base64.b64decode(entry)
    except (binascii.Error, ValueError):
        return b""


def _decodable(entries: list[str]) -> list[str]:
    return [e for e in entries if try_load(_b64(e)) is not None]


def readable_facts(facts: ServerFacts) -> ServerFacts:
    """The facts with every certificate that cannot be decoded left out.

    The certificate rules see the chain exactly as served and report what cannot
    be decoded (``cert_unparseable``); the simulation, CT, stapling and distrust
    rules then work on certificates that are known to be whole.
    """
    chain = facts.chain
    if chain and try_load(_b64(chain[0])) is None:
        chain = []  # no leaf: nothing after it may stand in for it
    no_sni = facts.no_sni_leaf
    if no_sni is not None and try_load(_b64(no_sni)) is None:
        no_sni = None
    return dataclasses.replace(
        facts,
        chain=_decodable(chain),
        no_sni_leaf=no_sni,
        aia_certificates=_decodable(facts.aia_certificates),
    )


def evaluate(facts: ServerFacts, policy: Policy, now: datetime) -> TargetResult:
    """Findings and verdicts for one target's facts at the instant ``now``.

    Total: whatever the facts hold, this returns a result.  An exception inside
    evaluation (a certcheck bug) becomes this target's error status, kind
    ``internal``, with the reason; the other targets of a run are unaffected.
    """
    try:
        return evaluate_strict(facts, policy, now)
    except Exception as exc:  # noqa: BLE001 - one target's bug must not cost the run
        return internal_error_result(facts, exc)


def internal_error_result(facts: ServerFacts, exc: BaseException) -> TargetResult:
    """The result of a target whose evaluation raised: status error, kind internal."""
    message = f"evaluation failed ({type(exc).__name__}: {str(exc)[:300]}); please report this"
    failed = dataclasses.replace(facts, error=ScanError("internal", message))
    return TargetResult(
        facts=failed,
        verdicts={p: "unknown" for p in VERDICT_PLATFORMS},
        overall="error",
    )


def evaluate_strict(facts: ServerFacts, policy: Policy, now: datetime) -> TargetResult:
    """:func:`evaluate` without the safety net: exceptions propagate (tests, fuzzing)."""
    if not facts.ok:
        return TargetResult(
            facts=facts,
            verdicts={p: "unknown" for p in VERDICT_PLATFORMS},
            overall="error",
        )
    report = evaluate_chain(
        [_b64(c) for c in facts.chain],
        facts.target.host,
        policy.trust,
        policy.profile,
        now,
        policy.distrust,
        [_b64(c) for c in facts.aia_certificates],
    )
    readable = readable_facts(facts)
    protocol = protocol_findings(facts, policy.profile)
    fired = {f.rule_id for f in report.findings + protocol}
    client_side, simulation = _client_side(readable, policy, now, fired)
    findings = report.findings + protocol + client_side
    findings = _merge_same_rule(findings + _distrust(readable, report.summary, policy, now))
    findings = [f for f in findings if f.severity != OFF]  # disabled by the profile
    findings = reconcile_with_simulation(findings, simulation, policy.profile)
    apply_suppressions(findings, facts.target.host, policy.ignores, now)
    findings.sort(key=lambda f: (-SEVERITY_ORDER[f.severity], f.rule_id))
    verdicts, overall = verdicts_for(findings)
    if facts.incomplete:
        # part of the probe ran out of time: a platform nothing failed is not known to pass
        verdicts = {p: "unknown" if v == "pass" else v for p, v in verdicts.items()}
    return TargetResult(
        facts=facts,
        findings=findings,
        verdicts=verdicts,
        overall=overall,
        certificate=report.summary,
        simulation=[r.to_dict() for r in simulation] or None,
    )
