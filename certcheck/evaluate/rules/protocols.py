"""Rules on the protocol versions a server accepts (RULES.md §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from certcheck.catalog import Profile, make_finding
from certcheck.evaluate.rules.registry import rule
from certcheck.model import Finding, ServerFacts

if TYPE_CHECKING:
    from certcheck.evaluate.context import Context


def protocol_findings(facts: ServerFacts, profile: Profile) -> list[Finding]:
    """Only versions the probe answered for definitely count; unknown is no evidence."""
    versions = facts.protocols
    if not versions or versions.get("TLSv1.2") is None:
        return []
    accepted = [name for name, ok in versions.items() if ok]
    evidence = {"accepted": accepted}
    findings: list[Finding] = []
    if versions.get("TLSv1.2") is False:
        # Without TLS 1.2 a TLS 1.3 server still reaches current phones; one
        # stuck at 1.0/1.1 reaches neither iOS (ATS) nor current Android.
        variant = "tls13_available" if versions.get("TLSv1.3") else None
        findings.append(make_finding("tls12_missing", evidence, profile, variant))
    if versions.get("TLSv1.3") and accepted == ["TLSv1.3"]:
        findings.append(make_finding("tls13_only", evidence, profile))
    old = [v for v in ("TLSv1.0", "TLSv1.1") if versions.get(v)]
    if versions.get("TLSv1.0") is False:
        findings.append(
            make_finding(
                "legacy_tls_missing",
                {**evidence, "refused": "TLSv1.0"},
                profile,
            )
        )
    if old:
        findings.append(make_finding("legacy_tls_enabled", {**evidence, "legacy": old}, profile))
    return findings


@rule("tls12_missing", "tls13_only", "legacy_tls_missing", "legacy_tls_enabled")
def protocol_rules(ctx: Context) -> list[Finding]:
    """The protocol versions the server accepts (one probe result feeds all four)."""
    return protocol_findings(ctx.facts, ctx.profile)
