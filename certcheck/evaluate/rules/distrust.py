"""Distrusted CAs (rules/distrusted_cas.toml): full removals, cut-offs and scheduled ones.

A certificate of the built path *or* of what the server sent that carries a
listed fingerprint makes the chain subject to that event's rules, so a
cross-signed chain is caught either way.  "Issued" is the earliest SCT
timestamp (embedded or from the TLS extension) where the platform uses it,
else notBefore (RULES.md §2.5, §7 implementation notes).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509

from certcheck.catalog import Profile, make_finding
from certcheck.evaluate.certinfo import iso
from certcheck.evaluate.rules.registry import rule
from certcheck.model import Finding
from certcheck.platforms import DistrustEvent, DistrustRule, distrust_index

if TYPE_CHECKING:
    from certcheck.evaluate.context import Context

#: distrust platform -> verdict platform key
PLATFORM_KEYS = {"apple": "ios", "android": "android", "chrome": "chrome", "mozilla": "firefox"}
AFTER_RULES = {
    "apple": "ca_distrust_after_apple",
    "chrome": "ca_distrust_after_chrome",
    "mozilla": "ca_distrust_after_mozilla",
}
#: platforms that date issuance by the earliest SCT (Apple trustd, Chrome); Mozilla uses notBefore
SCT_DATED = {"apple", "chrome"}


@dataclass(frozen=True)
class Issuance:
    not_before: datetime
    earliest_sct: datetime | None

    def time_for(self, platform: str) -> datetime:
        if platform in SCT_DATED and self.earliest_sct is not None:
            return self.earliest_sct
        return self.not_before


def _tls_sct_time(raw: bytes) -> datetime | None:
    """RFC 6962 §3.2 SignedCertificateTimestamp: version(1) log_id(32) timestamp(8, ms)."""
    if len(raw) < 41:
        return None
    (millis,) = struct.unpack("!Q", raw[33:41])
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def issuance(leaf: x509.Certificate, tls_scts: list[str]) -> Issuance:
    times: list[datetime] = []
    try:
        ext = leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        )
        times += [sct.timestamp.replace(tzinfo=UTC) for sct in ext.value]
    except (x509.ExtensionNotFound, ValueError):
        pass
    for entry in tls_scts:
        try:
            moment = _tls_sct_time(base64.b64decode(entry))
        except ValueError:
            moment = None
        if moment:
            times.append(moment)
    return Issuance(leaf.not_valid_before_utc, min(times) if times else None)


def _compared(rule: DistrustRule, when: Issuance) -> tuple[datetime, str]:
    """The issuance moment a dated rule compares with its cut-off, and what it is."""
    if rule.kind == "issued_before":
        return when.not_before, "notBefore"
    if rule.kind == "sct_after" or rule.platform in SCT_DATED:
        if when.earliest_sct is not None:
            return when.earliest_sct, "earliest SCT"
    return when.not_before, "notBefore"


def _fires(rule: DistrustRule, when: Issuance) -> bool:
    if rule.kind == "full":
        return True
    if rule.cutoff is None:
        return False
    moment, _ = _compared(rule, when)
    if rule.kind in ("issued_after", "sct_after"):
        return moment > rule.cutoff
    if rule.kind == "issued_before":
        return moment < rule.cutoff
    return False


def _in_effect(rule: DistrustRule, now: datetime) -> bool:
    return rule.effective_date is None or rule.effective_date <= now.date()


def _entry(event: DistrustEvent, rule: DistrustRule, cert_name: str, sha: str) -> dict[str, Any]:
    return {
        "event": event.name,
        "platform": rule.platform,
        "kind": rule.kind,
        "cutoff": iso(rule.cutoff) if rule.cutoff else None,
        "effective": rule.effective,
        "certificate": cert_name,
        "sha256": sha,
        "source": rule.source,
    }


def distrust_findings(
    certificates: list[tuple[str, str]],
    leaf: x509.Certificate,
    tls_scts: list[str],
    profile: Profile,
    now: datetime,
    *,
    table: Mapping[str, Sequence[DistrustEvent]] | None = None,
) -> list[Finding]:
    """Findings for every distrust event that covers one of ``certificates`` (sha256, name).

    ``table`` (sha256 -> events) replaces the shipped rules/distrusted_cas.toml index; tests use
    it to attach real events to generated CA certificates.
    """
    index = distrust_index() if table is None else table  # shared: no copy per target
    when = issuance(leaf, tls_scts)
    full: list[dict[str, Any]] = []
    after: dict[str, list[dict[str, Any]]] = {}
    scheduled: list[dict[str, Any]] = []
    # One entry per (event, rule) even when several listed certificates lead to it; two rules
    # of the same kind but different dates (a store removal and a notice) are both kept.
    seen: set[tuple[str, DistrustRule]] = set()
    for sha, name in certificates:
        for event in index.get(sha, []):
            for event_rule in event.rules:
                key = (event.name, event_rule)
                if key in seen:
                    continue
                seen.add(key)
                entry = _entry(event, event_rule, name, sha)
                cutoff = event_rule.cutoff
                if event_rule.kind in ("issued_after", "sct_after") and cutoff and cutoff > now:
                    # The current certificate is fine; its renewals will not be.
                    days = (event_rule.cutoff - now).days
                    scheduled.append(
                        {
                            **entry,
                            "date": iso(event_rule.cutoff),
                            "days_left": days,
                            "affects": "certificates issued after the cut-off",
                        }
                    )
                    continue
                if not _in_effect(event_rule, now):
                    if _fires(event_rule, when):
                        assert event_rule.effective_date is not None
                        days = (event_rule.effective_date - now.date()).days
                        scheduled.append(
                            {
                                **entry,
                                "date": event_rule.effective_date.isoformat(),
                                "days_left": days,
                            }
                        )
                    continue
                if not _fires(event_rule, when):
                    continue
                if event_rule.kind == "full":
                    full.append(entry)
                elif event_rule.platform in AFTER_RULES:
                    moment, basis = _compared(event_rule, when)
                    entry["issued"] = iso(moment)
                    entry["issued_basis"] = basis
                    after.setdefault(AFTER_RULES[event_rule.platform], []).append(entry)
    findings: list[Finding] = []
    if full:
        platforms = sorted({PLATFORM_KEYS[e["platform"]] for e in full})
        # the platforms whose stores removed the CA: from the distrust data
        findings.append(
            make_finding(
                "ca_fully_distrusted", {"events": full}, profile, breaks=platforms,
                platforms=platforms,
            )
        )
    for rule_id, entries in sorted(after.items()):
        findings.append(make_finding(rule_id, {"events": entries}, profile))
    if scheduled:
        scheduled.sort(key=lambda e: e["days_left"])
        findings.append(
            make_finding(
                "ca_distrust_scheduled",
                {"events": scheduled, "days_left": scheduled[0]["days_left"]},
                profile,
            )
        )
    return findings


@rule(
    "ca_fully_distrusted",
    "ca_distrust_after_apple",
    "ca_distrust_after_chrome",
    "ca_distrust_after_mozilla",
    "ca_distrust_scheduled",
)
def distrust_rules(ctx: Context) -> list[Finding]:
    """``--distrust`` first, then the distrust data, for every certificate served or on the
    built path (one ``ca_fully_distrusted`` per target: the two are merged)."""
    found: list[Finding] = []
    state = ctx.chain
    if state is not None and state.user_distrusted:
        evidence = {"certificates": state.user_distrusted, "source": "--distrust"}
        found.append(ctx.finding("ca_fully_distrusted", evidence))
    summary = ctx.certificate
    if not summary.get("chain") or ctx.leaf is None:
        return found
    certs = [(c["sha256"], c["subject"]) for c in summary["chain"]]
    certs += list(zip(summary.get("path_sha256", []), summary.get("path", []), strict=True))
    return found + distrust_findings(certs, ctx.leaf, ctx.readable.tls_scts, ctx.profile, ctx.now)
