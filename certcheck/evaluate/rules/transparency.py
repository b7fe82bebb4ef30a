"""Apple's Certificate Transparency policy (RULES.md §2.4, S12, S5).

SCTs are counted from all three deliveries: embedded in the certificate, in
the TLS extension, and in the stapled OCSP response.  Apple requires them only
for certificates that chain to a root in Apple's store (a root the user or an
MDM installs is exempt, like a ``--ca-file`` root here), issued on or after
2018-10-16 and not expired.

certcheck has no copy of Apple's log list, so log states (approved, retired),
log operators and log types cannot be checked: SCTs from *distinct logs* are
counted against Apple's thresholds, which can pass a certificate that a device
would refuse (retired logs, one operator) but never flags one that has enough.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509

from certcheck.catalog import Profile, make_finding
from certcheck.evaluate.certinfo import DAY, iso, lifetime_seconds
from certcheck.evaluate.rules.registry import rule
from certcheck.evaluate.rules.stapling import Sct, ocsp_scts
from certcheck.model import Finding, ServerFacts

if TYPE_CHECKING:
    from certcheck.evaluate.context import Context

#: SecPolicyCheckSystemTrustedCTRequired: leaves issued from this instant on (S5).
CT_REQUIRED_FROM = datetime(2018, 10, 16, tzinfo=UTC)
#: Apple's current lifetime table applies to certificates issued from this date (S12).
CURRENT_TABLE_FROM = datetime(2021, 4, 21, tzinfo=UTC)
#: Apple's legacy table (notBefore before 2021-04-21): (lifetime below N months, SCTs).
LEGACY_TABLE: tuple[tuple[int, int], ...] = ((15, 2), (27, 3), (39, 4))
MONTH_DAYS = 365.25 / 12
LIMITATION = (
    "SCTs are counted per distinct log; log states (approved/retired), operators and "
    "RFC 6962 vs static-ct-api logs are not checked (no Apple log list in certcheck)"
)


def tls_scts(facts: ServerFacts) -> list[Sct]:
    """RFC 6962 §3.2 SignedCertificateTimestamp: version(1) log_id(32) timestamp(8 ms)."""
    out: list[Sct] = []
    for entry in facts.tls_scts:
        try:
            raw = base64.b64decode(entry)
        except ValueError:
            continue
        if len(raw) >= 41 and raw[0] == 0:
            (millis,) = struct.unpack("!Q", raw[33:41])
            out.append(Sct(raw[1:33], millis, "tls"))
    return out


def embedded_scts(leaf: x509.Certificate) -> list[Sct]:
    try:
        ext = leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        )
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [
        Sct(sct.log_id, int(sct.timestamp.replace(tzinfo=UTC).timestamp() * 1000), "embedded")
        for sct in ext.value
    ]


def required_embedded(leaf: x509.Certificate) -> int:
    """How many embedded SCTs Apple wants for this certificate's lifetime (S12)."""
    days = lifetime_seconds(leaf) / DAY
    if leaf.not_valid_before_utc >= CURRENT_TABLE_FROM:
        return 2 if days <= 180 else 3
    months = days / MONTH_DAYS
    for below, count in LEGACY_TABLE:
        if months < below:
            return count
    return 5


@dataclass(frozen=True)
class CtCheck:
    compliant: bool
    evidence: dict[str, Any]


def check_apple_ct(leaf: x509.Certificate, scts: list[Sct]) -> CtCheck:
    """Apple's two ways to comply, with SCTs counted once per log."""
    embedded = {s.log_id for s in scts if s.via == "embedded"}
    delivered = {s.log_id for s in scts if s.via != "embedded"}
    every = embedded | delivered
    needed = required_embedded(leaf)
    # (a) >= 2 SCTs, at least one delivered in the TLS extension or a stapled OCSP response
    by_delivery = len(every) >= 2 and bool(delivered)
    # (b) enough embedded SCTs for the lifetime
    by_embedding = len(embedded) >= needed
    evidence = {
        "embedded": sum(1 for s in scts if s.via == "embedded"),
        "tls_extension": sum(1 for s in scts if s.via == "tls"),
        "ocsp_staple": sum(1 for s in scts if s.via == "ocsp"),
        "distinct_logs": len(every),
        "required_embedded": needed,
        "required_with_tls_or_ocsp": 2,
        "lifetime_days": round(lifetime_seconds(leaf) / DAY, 1),
        "not_before": iso(leaf.not_valid_before_utc),
        "limitation": LIMITATION,
    }
    return CtCheck(by_delivery or by_embedding, evidence)


def ct_findings(
    facts: ServerFacts,
    leaf: x509.Certificate | None,
    publicly_trusted: bool,
    profile: Profile,
    now: datetime,
) -> list[Finding]:
    """ct_noncompliant_apple, for a leaf that Apple requires CT for."""
    if leaf is None or not publicly_trusted:
        return []
    if leaf.not_valid_before_utc < CT_REQUIRED_FROM or now > leaf.not_valid_after_utc:
        return []
    scts = embedded_scts(leaf) + tls_scts(facts) + ocsp_scts(facts.ocsp_staple)
    check = check_apple_ct(leaf, scts)
    if check.compliant:
        return []
    evidence = dict(check.evidence)
    if facts.source == "file":
        evidence["note"] = "certificate only: SCTs from the TLS extension or OCSP were not seen"
    return [make_finding("ct_noncompliant_apple", evidence, profile)]


@rule("ct_noncompliant_apple")
def ct_rules(ctx: Context) -> list[Finding]:
    """Apple requires CT only for chains to its own store's roots (not user/--ca-file roots)."""
    public_on_apple = any(
        r.profile.platform == "ios" and r.trust.trust == "ok" and r.trust.root_source == "store"
        for r in ctx.simulation
    )
    return ct_findings(ctx.readable, ctx.leaf, public_on_apple, ctx.profile, ctx.now)
