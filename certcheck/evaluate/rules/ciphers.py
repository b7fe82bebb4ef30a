"""Rules on accepted protocols, cipher suites and groups: Apple ATS and old Android.

Facts come from the probe's enumeration (``ServerFacts.cipher_suites``,
``groups``, ``sslv2``, ``no_sni_leaf``).  A version whose suites were not
enumerated is no evidence: the rules that need it stay silent.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from cryptography import x509

from certcheck.catalog import Profile, make_finding
from certcheck.core.tls import SUITES_BY_NAME, SuiteInfo
from certcheck.evaluate.certinfo import (
    key_description,
    san_dns_names,
    san_ip_addresses,
    subject_str,
)
from certcheck.evaluate.names import check_host
from certcheck.evaluate.rules.registry import rule
from certcheck.model import PROTOCOLS, Finding, ServerFacts

if TYPE_CHECKING:
    from certcheck.evaluate.context import Context

#: Apple ``tls_ciphersuite_group_ats`` = CiphersuitesTLS13 + CiphersuitesPFS, as in
#: Security-60158.100.133 (2022-05) .. 61901 (2025-10), protocol/SecProtocolInternal.h
#: (RULES.md §2.1, S5).
ATS_TLS13: frozenset[str] = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)
ATS_TLS12: frozenset[str] = frozenset(
    {
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    }
)
#: The ECDHE CBC-SHA256/384 suites of Security-59306 .. 60157, dropped in 2022 (S5);
#: Android supports them on API 20-28 only and never enables them by default (S15).
ECDHE_CBC_SHA2: frozenset[str] = frozenset(
    {
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    }
)
#: What Android 4.0-4.4 can use with TLS 1.0 (S15 platform defaults, S30 captures).
OLD_ANDROID_TLS10: frozenset[str] = frozenset(
    {
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
        "TLS_RSA_WITH_AES_256_CBC_SHA",
    }
)
P256 = "secp256r1"


def suite_info(name: str) -> SuiteInfo | None:
    return SUITES_BY_NAME.get(name)


def is_ecdhe(name: str) -> bool:
    """An authenticated ECDHE suite (anonymous ECDH is ephemeral but not what ATS means)."""
    info = suite_info(name)
    return info is not None and info.kex == "ECDHE" and info.auth != "anon"


class _Rules:
    def __init__(self, facts: ServerFacts, profile: Profile) -> None:
        self.facts = facts
        self.profile = profile
        self.findings: list[Finding] = []
        self.tls13 = facts.protocols.get("TLSv1.3") is True

    def add(
        self, rule_id: str, evidence: dict[str, Any], variant: tuple[str, ...] = ()
    ) -> None:
        self.findings.append(make_finding(rule_id, evidence, self.profile, variant))

    def suites(self, version: str) -> list[str] | None:
        """Accepted suites of an accepted version; None when not known."""
        if self.facts.protocols.get(version) is not True:
            return None
        return self.facts.cipher_suites.get(version)


def _legacy_protocols(out: _Rules) -> None:
    if out.facts.protocols.get("SSLv3") is True:
        out.add(
            "sslv3_enabled",
            {"suites": out.facts.cipher_suites.get("SSLv3", [])},
        )
    if out.facts.sslv2 is True:
        out.add("sslv2_enabled", {"sslv2": True})


def _ats(out: _Rules) -> None:
    """ats_cipher_missing, ats_only_cbc_sha2, no_forward_secrecy (TLS 1.2 suites)."""
    tls12 = out.suites("TLSv1.2")
    if not tls12:
        return  # TLS 1.2 refused (tls12_missing says so) or not enumerated
    tls13_suites = out.suites("TLSv1.3")
    # Every TLS 1.3 server implements TLS_AES_128_GCM_SHA256 (RFC 8446 §9.1).
    ats_by_tls13 = out.tls13 and (tls13_suites is None or bool(ATS_TLS13 & set(tls13_suites)))
    ecdhe = [s for s in tls12 if is_ecdhe(s)]
    ats12 = [s for s in tls12 if s in ATS_TLS12]
    if not ats12 and not ats_by_tls13:
        out.add(
            "ats_cipher_missing",
            {
                "tls12_suites": tls12,
                "ats_suites_accepted": [],
                "tls13": out.tls13,
                "ats_group": "Security-60158..61901 tls_ciphersuite_group_ats",
            },
        )
    if ecdhe and set(ecdhe) <= ECDHE_CBC_SHA2:
        out.add("ats_only_cbc_sha2", {"ecdhe_suites": ecdhe, "tls13": out.tls13})
    if not ecdhe:
        dhe = [s for s in tls12 if (i := suite_info(s)) and i.kex == "DHE" and i.auth != "anon"]
        evidence: dict[str, Any] = {
            "tls12_suites": tls12,
            "dhe_only": bool(dhe) and len(dhe) == len(tls12),
            "tls13": out.tls13,
        }
        if evidence["dhe_only"]:
            evidence["note_android"] = "DHE-only also fails Android 8.0+ (API 26, S15)"
        variants: list[str] = []
        if out.tls13:
            # Clients with TLS 1.3 (iOS 12.2+, Android 10+) are unaffected.
            evidence["note"] = "clients with TLS 1.3 use it and are unaffected"
            variants.append("tls13_available")
        if evidence["dhe_only"]:
            variants.append("dhe_only")
        out.add("no_forward_secrecy", evidence, tuple(variants))


def _old_android(out: _Rules) -> None:
    tls10 = out.suites("TLSv1.0")
    if tls10 is None:
        return
    if not OLD_ANDROID_TLS10 & set(tls10):
        out.add(
            "old_android_cipher_gap",
            {"tls10_suites": tls10, "android_4_needs_one_of": sorted(OLD_ANDROID_TLS10)},
        )


def _groups(out: _Rules) -> None:
    tls12 = out.suites("TLSv1.2")
    groups = out.facts.groups.get("TLSv1.2")
    if not tls12 or not groups or not any(is_ecdhe(s) for s in tls12):
        return
    if P256 not in groups:
        out.add("ecdhe_p256_missing", {"tls12_groups": groups})


def _ecdsa_only(out: _Rules, leaf: x509.Certificate | None) -> None:
    if leaf is None or key_description(leaf)[0] != "EC":
        return
    legacy = [
        s
        for version in ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2")
        for s in out.suites(version) or []
    ]
    if not legacy:
        return  # only TLS 1.3 (or not enumerated): which certificates exist is not visible
    if not any((i := suite_info(s)) and i.auth == "RSA" for s in legacy):
        algorithm, bits, curve = key_description(leaf)
        out.add("ecdsa_only_cert", {"key": f"{algorithm}-{curve or bits}", "rsa_suites": []})


def _sni(out: _Rules, leaf: x509.Certificate | None) -> None:
    facts = out.facts
    if leaf is None or facts.no_sni_leaf is None or not facts.chain:
        return
    if facts.no_sni_leaf == facts.chain[0]:
        return
    try:
        default = x509.load_der_x509_certificate(base64.b64decode(facts.no_sni_leaf))
    except ValueError:
        out.add("sni_required", {"default_certificate": "unreadable", "default_covers_host": False})
        return
    covers = check_host(
        facts.target.host, san_dns_names(default) or [], san_ip_addresses(default)
    ).matched
    out.add(
        "sni_required",
        {
            "sni_certificate": subject_str(leaf.subject),
            "default_certificate": subject_str(default.subject),
            "default_covers_host": covers,
        },
    )


def _weak(out: _Rules) -> None:
    versions: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    for version in PROTOCOLS:  # a fixed order: the probe fills versions concurrently
        for name in out.suites(version) or []:
            info = suite_info(name)
            if info is not None and info.weak_reason:
                versions.setdefault(name, []).append(version)
                reasons[name] = info.weak_reason
    if versions:
        out.add(
            "weak_ciphers_enabled",
            {
                "suites": [
                    f"{name} ({', '.join(found)}): {reasons[name]}"
                    for name, found in versions.items()
                ]
            },
        )


def cipher_findings(
    facts: ServerFacts, profile: Profile, leaf: x509.Certificate | None
) -> list[Finding]:
    """Every protocol-security, ATS and cipher rule for one target's facts."""
    out = _Rules(facts, profile)
    _legacy_protocols(out)
    _ats(out)
    _old_android(out)
    _groups(out)
    _ecdsa_only(out, leaf)
    _sni(out, leaf)
    _weak(out)
    return out.findings


@rule(
    "sslv3_enabled",
    "sslv2_enabled",
    "ats_cipher_missing",
    "ats_only_cbc_sha2",
    "no_forward_secrecy",
    "old_android_cipher_gap",
    "ecdhe_p256_missing",
    "ecdsa_only_cert",
    "sni_required",
    "weak_ciphers_enabled",
)
def cipher_rules(ctx: Context) -> list[Finding]:
    """The cipher suites, groups and certificates per version (one enumeration feeds all)."""
    return cipher_findings(ctx.readable, ctx.profile, ctx.leaf)
