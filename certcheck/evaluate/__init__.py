"""Evaluation: pure functions of ``(facts, policy, now)`` to findings and verdicts.

Nothing in this package opens a socket or reads the clock: ``now`` is passed in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from certcheck.catalog import Profile, load_profiles
from certcheck.evaluate.certinfo import b64_der, try_load
from certcheck.evaluate.context import Context
from certcheck.evaluate.rules.chain import chain_summary, prepare_chain
from certcheck.evaluate.rules.clients import reconcile_with_simulation
from certcheck.evaluate.rules.registry import run as run_rules
from certcheck.evaluate.simulation import SimulationCache
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
    #: simulations already made under this policy (a fleet behind one chain and one TLS
    #: configuration is simulated once); not part of what the policy *is*
    simulations: SimulationCache = field(
        default_factory=SimulationCache, compare=False, repr=False
    )

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


def _decodable(entries: list[str]) -> list[str]:
    return [e for e in entries if try_load(b64_der(e)) is not None]


def readable_facts(facts: ServerFacts) -> ServerFacts:
    """The facts with every certificate that cannot be decoded left out.

    The certificate rules see the chain exactly as served and report what cannot
    be decoded (``cert_unparseable``); the simulation, CT, stapling and distrust
    rules then work on certificates that are known to be whole.
    """
    chain = facts.chain
    if chain and try_load(b64_der(chain[0])) is None:
        chain = []  # no leaf: nothing after it may stand in for it
    no_sni = facts.no_sni_leaf
    if no_sni is not None and try_load(b64_der(no_sni)) is None:
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
    """:func:`evaluate` without the safety net: exceptions propagate (tests, fuzzing).

    Every rule of :mod:`certcheck.evaluate.rules` runs over one :class:`Context`; what
    follows is the same for all of them: one finding per rule, the profile's "off", the
    simulation's say on which platforms break, the user's suppressions, the verdicts.
    """
    if not facts.ok:
        return TargetResult(
            facts=facts,
            verdicts={p: "unknown" for p in VERDICT_PLATFORMS},
            overall="error",
        )
    readable = readable_facts(facts)
    state = prepare_chain(
        [b64_der(c) for c in facts.chain],
        facts.target.host,
        policy.trust,
        now,
        policy.distrust,
        [b64_der(c) for c in facts.aia_certificates],
    )
    ctx = Context(
        facts=facts,
        readable=readable,
        profile=policy.profile,
        trust=policy.trust,
        now=now,
        distrust=policy.distrust,
        chain=state,
        certificate=chain_summary(state, now),
        simulation=policy.simulations.simulate(readable, policy.trust, now),
    )
    findings = _merge_same_rule(run_rules(ctx))
    findings = [f for f in findings if f.severity != OFF]  # disabled by the profile
    findings = reconcile_with_simulation(findings, ctx.simulation, policy.profile)
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
        certificate=ctx.certificate,
        simulation=[r.to_dict() for r in ctx.simulation] or None,
    )
