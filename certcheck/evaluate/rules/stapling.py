"""OCSP stapling: what the stapled response says, and the stapling rules.

The probe asks for a staple (status_request) in its real handshake and keeps
the raw response (``ServerFacts.ocsp_staple``).  Facts read from a file
(``check-cert``) never carry one, so the stapling rules only judge scans.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from certcheck.catalog import Profile, make_finding
from certcheck.evaluate.certinfo import extension
from certcheck.evaluate.rules.registry import rule
from certcheck.model import Finding, ServerFacts

if TYPE_CHECKING:
    from certcheck.evaluate.context import Context


@dataclass(frozen=True)
class Sct:
    """One signed certificate timestamp: which log signed it, and how it was delivered."""

    log_id: bytes
    timestamp_ms: int
    via: str  # embedded | tls | ocsp


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    aia = extension(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    if aia is None:
        return []
    return [
        str(d.access_location.value)
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    ]


def must_staple(cert: x509.Certificate) -> bool:
    """RFC 7633 TLS Feature extension asking for status_request."""
    feature = extension(cert, ExtensionOID.TLS_FEATURE)
    return feature is not None and x509.TLSFeatureType.status_request in feature


def load_staple(staple_b64: str | None) -> ocsp.OCSPResponse | None:
    """The stapled response, or None when absent or unreadable."""
    if not staple_b64:
        return None
    try:
        return ocsp.load_der_ocsp_response(base64.b64decode(staple_b64))
    except ValueError:
        return None


def ocsp_scts(staple_b64: str | None) -> list[Sct]:
    """SCTs in the stapled response's singleExtensions (RFC 6962 §3.3)."""
    response = load_staple(staple_b64)
    if response is None or response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return []
    # cryptography exposes singleExtensions for single-response staples (what servers send).
    try:
        ext = response.single_extensions.get_extension_for_class(x509.SignedCertificateTimestamps)
    except (x509.ExtensionNotFound, ValueError):  # absent, malformed, or several responses
        return []
    return [
        Sct(sct.log_id, int(sct.timestamp.replace(tzinfo=UTC).timestamp() * 1000), "ocsp")
        for sct in ext.value
    ]


def stapling_findings(
    facts: ServerFacts, profile: Profile, leaf: x509.Certificate | None
) -> list[Finding]:
    """ocsp_stapling_absent and must_staple_without_staple (scans only)."""
    if leaf is None or facts.source == "file" or facts.ocsp_staple:
        return []
    findings: list[Finding] = []
    urls = ocsp_urls(leaf)
    if must_staple(leaf):
        findings.append(
            make_finding(
                "must_staple_without_staple",
                {"tls_feature": "status_request", "ocsp_urls": urls, "stapled": False},
                profile,
            )
        )
    elif urls:
        # Without an OCSP URL there is nothing to staple (many CAs dropped OCSP, S54).
        findings.append(
            make_finding("ocsp_stapling_absent", {"ocsp_urls": urls, "stapled": False}, profile)
        )
    return findings


@rule("ocsp_stapling_absent", "must_staple_without_staple")
def stapling_rules(ctx: Context) -> list[Finding]:
    return stapling_findings(ctx.readable, ctx.profile, ctx.leaf)
