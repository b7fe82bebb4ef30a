"""The evaluation context: everything a rule may read about one target at one instant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cryptography import x509

from certcheck.catalog import Profile, make_finding
from certcheck.evaluate.certinfo import b64_der, try_load
from certcheck.evaluate.trust import TrustStore
from certcheck.model import Finding, ServerFacts

if TYPE_CHECKING:
    from certcheck.evaluate.rules.chain import ChainState
    from certcheck.evaluate.simulation import ClientResult


@dataclass
class Context:
    """One target's facts, the policy inputs and the instant; what rules found so far.

    ``facts`` is the chain exactly as served (the certificate rules report what cannot be
    decoded); ``readable`` leaves undecodable certificates out (for the simulation, CT,
    stapling and distrust rules).  ``chain`` is the built path (None when no leaf could be
    read); ``simulation`` the per-client handshakes.
    """

    facts: ServerFacts
    readable: ServerFacts
    profile: Profile
    trust: TrustStore
    now: datetime
    distrust: frozenset[str] = frozenset()
    chain: ChainState | None = None
    #: the result's ``certificate`` block (served chain, built path)
    certificate: dict[str, Any] = field(default_factory=dict)
    simulation: list[ClientResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def finding(
        self,
        rule_id: str,
        evidence: dict[str, Any],
        variant: str | tuple[str, ...] | None = None,
        *,
        breaks: list[str] | None = None,
        platforms: list[str] | None = None,
    ) -> Finding:
        """The catalog's finding for ``rule_id`` under this context's profile."""
        return make_finding(rule_id, evidence, self.profile, variant, breaks, platforms)

    def fired(self) -> set[str]:
        """Rule ids found so far (by the rules that ran before this one)."""
        return {f.rule_id for f in self.findings}

    @cached_property
    def leaf(self) -> x509.Certificate | None:
        """The served leaf, when it can be decoded."""
        chain = self.readable.chain
        return try_load(b64_der(chain[0])) if chain else None
