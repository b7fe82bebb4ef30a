"""Protocol-security, Apple ATS and cipher rules on ServerFacts built by hand (no network).

Each rule has a case that makes it fire and one that keeps it silent; the
suite tables are checked against the client profiles they summarise.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certcheck.catalog import Profile, load_catalog, load_profiles
from certcheck.core.tls import SUITES_BY_NAME
from certcheck.evaluate.rules.ciphers import (
    ATS_TLS12,
    ATS_TLS13,
    ECDHE_CBC_SHA2,
    OLD_ANDROID_TLS10,
    cipher_findings,
)
from certcheck.model import Finding, ServerFacts, Target
from certcheck.platforms import client_profiles

HOST = "api.example.test"
PROFILE = load_profiles()["wechat"]
NOW = datetime(2026, 6, 1, tzinfo=UTC)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OFF = ["SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
MODERN_TLS12 = [
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
]
RSA_ONLY = ["TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"]


def leaf(key, host: str = HOST) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=40))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )


RSA_LEAF = leaf(RSA_KEY)
EC_LEAF = leaf(EC_KEY)


def b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


def facts(suites: dict[str, list[str]], groups: dict | None = None, **extra) -> ServerFacts:
    """Facts of a server accepting exactly the versions that have suites."""
    return ServerFacts(
        target=Target(HOST, 443),
        scanned_at="2026-06-01T00:00:00Z",
        chain=[b64(extra.pop("leaf", RSA_LEAF))],
        protocols={v: v in suites for v in OFF},
        cipher_suites=suites,
        groups=groups if groups is not None else {"TLSv1.2": ["x25519", "secp256r1"]},
        server_cipher_order={v: True for v in suites},
        **extra,
    )


def run(f: ServerFacts, cert: x509.Certificate | None = RSA_LEAF, profile: Profile = PROFILE):
    return {x.rule_id: x for x in cipher_findings(f, profile, cert)}


def only(found: dict[str, Finding], rule_id: str) -> Finding:
    assert rule_id in found, sorted(found)
    return found[rule_id]


# --------------------------------------------------------------------------- tables vs data


def test_ats_tables_match_apples_profiles_in_the_client_data():
    profiles = {p.id: p for p in client_profiles()}
    current = profiles["apple_ats_ios15_4"]
    assert set(current.cipher_suites) == ATS_TLS12
    assert set(current.tls13_cipher_suites) == ATS_TLS13
    older = profiles["apple_ats_ios13_14"]
    assert ECDHE_CBC_SHA2 <= set(older.cipher_suites)  # dropped in Security-60158
    assert not ECDHE_CBC_SHA2 & ATS_TLS12


def test_old_android_table_is_what_android_4_offers():
    for pid in ("android_4_0_4", "android_4_1_1", "android_4_3"):
        offered = {p.id: p for p in client_profiles()}[pid].cipher_suites
        assert OLD_ANDROID_TLS10 <= set(offered), pid


def test_every_suite_name_is_known():
    for name in ATS_TLS12 | ATS_TLS13 | ECDHE_CBC_SHA2 | OLD_ANDROID_TLS10:
        assert name in SUITES_BY_NAME, name


@pytest.mark.parametrize(
    "rule_id",
    [
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
        "client_handshake_fails",
        "letsencrypt_old_android",
        "ct_noncompliant_apple",
        "ocsp_stapling_absent",
        "must_staple_without_staple",
    ],
)
def test_rule_is_in_the_catalog_with_sources(rule_id):
    rule = load_catalog()[rule_id]
    assert rule.title and rule.fix and rule.sources
    assert set(rule.breaks) <= set(rule.platforms)


# --------------------------------------------------------------------------- the good case


def test_modern_server_fires_nothing():
    good = facts(
        {"TLSv1.2": MODERN_TLS12, "TLSv1.3": ["TLS_AES_128_GCM_SHA256"]},
        groups={"TLSv1.2": ["x25519", "secp256r1"]},
        sslv2=False,
        no_sni_leaf=b64(RSA_LEAF),
    )
    assert run(good) == {}


# --------------------------------------------------------------------------- SSLv3 / SSLv2


def test_sslv3_and_sslv2_are_errors():
    bad = facts({"SSLv3": ["TLS_RSA_WITH_AES_128_CBC_SHA"], "TLSv1.2": MODERN_TLS12}, sslv2=True)
    found = run(bad)
    sslv3 = only(found, "sslv3_enabled")
    assert sslv3.severity == "error"
    assert sslv3.evidence["suites"] == ["TLS_RSA_WITH_AES_128_CBC_SHA"]
    assert only(found, "sslv2_enabled").severity == "error"
    assert sslv3.breaks == []  # a security failure, not a client refusing to connect


def test_sslv3_refused_or_unknown_is_silent():
    quiet = facts({"TLSv1.2": MODERN_TLS12}, sslv2=None)
    quiet.protocols["SSLv3"] = None
    assert not {"sslv3_enabled", "sslv2_enabled"} & set(run(quiet))


# --------------------------------------------------------------------------- ATS


def test_rsa_only_tls12_fails_ats_and_forward_secrecy():
    found = run(facts({"TLSv1.2": RSA_ONLY}, groups={"TLSv1.2": []}))
    ats = only(found, "ats_cipher_missing")
    assert ats.severity == "error" and ats.breaks == ["ios"]
    assert ats.evidence["tls12_suites"] == RSA_ONLY
    pfs = only(found, "no_forward_secrecy")
    assert (pfs.severity, pfs.breaks, pfs.platforms) == ("error", ["ios"], ["ios"])
    assert pfs.evidence["dhe_only"] is False
    assert "ats_only_cbc_sha2" not in found


def test_tls13_satisfies_ats_and_softens_forward_secrecy():
    found = run(facts({"TLSv1.2": RSA_ONLY, "TLSv1.3": ["TLS_AES_256_GCM_SHA384"]}))
    assert "ats_cipher_missing" not in found
    pfs = only(found, "no_forward_secrecy")
    assert (pfs.severity, pfs.breaks) == ("warning", [])


def test_profile_override_wins_over_the_softened_severity():
    strict = Profile("t", "", 30, 7, severity={"no_forward_secrecy": "error"})
    found = run(facts({"TLSv1.2": RSA_ONLY, "TLSv1.3": ["TLS_AES_128_GCM_SHA256"]}), profile=strict)
    assert found["no_forward_secrecy"].severity == "error"


def test_ecdhe_cbc_sha1_still_satisfies_ats():
    found = run(
        facts(
            {
                "TLSv1.0": ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"],
                "TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"],
            }
        )
    )
    assert not {"ats_cipher_missing", "no_forward_secrecy", "old_android_cipher_gap"} & set(found)


def test_only_ecdhe_cbc_sha256_fails_current_ats():
    suites = ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256"]
    found = run(facts({"TLSv1.2": suites}))
    assert only(found, "ats_cipher_missing").severity == "error"
    cbc = only(found, "ats_only_cbc_sha2")
    assert cbc.severity == "warning"
    assert cbc.evidence["ecdhe_suites"] == ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"]
    assert "no_forward_secrecy" not in found


def test_dhe_only_also_concerns_android():
    found = run(facts({"TLSv1.2": ["TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"]}, groups={}))
    pfs = only(found, "no_forward_secrecy")
    assert pfs.evidence["dhe_only"] is True
    assert pfs.platforms == ["ios", "android"]


def test_anonymous_ecdh_is_not_forward_secrecy_for_ats():
    found = run(facts({"TLSv1.2": ["TLS_ECDH_anon_WITH_AES_128_CBC_SHA", *RSA_ONLY]}))
    assert "no_forward_secrecy" in found
    assert "ats_cipher_missing" in found


def test_tls12_not_enumerated_is_no_evidence():
    unknown = facts({"TLSv1.3": ["TLS_AES_128_GCM_SHA256"]})
    unknown.protocols["TLSv1.2"] = True  # accepted, but the suites were not enumerated
    assert not {"ats_cipher_missing", "no_forward_secrecy"} & set(run(unknown))


# --------------------------------------------------------------------------- old Android, groups


def test_old_android_cipher_gap_fires_on_tls10_without_aes_sha():
    found = run(facts({"TLSv1.0": ["TLS_RSA_WITH_3DES_EDE_CBC_SHA"], "TLSv1.2": MODERN_TLS12}))
    gap = only(found, "old_android_cipher_gap")
    assert gap.severity == "warning"
    assert gap.evidence["tls10_suites"] == ["TLS_RSA_WITH_3DES_EDE_CBC_SHA"]


def test_old_android_cipher_gap_silent_without_tls10_or_with_aes_sha():
    assert "old_android_cipher_gap" not in run(facts({"TLSv1.2": MODERN_TLS12}))
    ok = facts({"TLSv1.0": ["TLS_RSA_WITH_AES_256_CBC_SHA"], "TLSv1.2": MODERN_TLS12})
    assert "old_android_cipher_gap" not in run(ok)


def test_ecdhe_without_p256():
    found = run(facts({"TLSv1.2": MODERN_TLS12}, groups={"TLSv1.2": ["x25519", "secp384r1"]}))
    assert only(found, "ecdhe_p256_missing").evidence["tls12_groups"] == ["x25519", "secp384r1"]
    # No ECDHE suite at all: the curves do not matter (no_forward_secrecy covers it).
    assert "ecdhe_p256_missing" not in run(facts({"TLSv1.2": RSA_ONLY}, groups={"TLSv1.2": []}))


# --------------------------------------------------------------------------- certificates, SNI


def test_ecdsa_only_certificate():
    ecdsa = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]
    found = run(facts({"TLSv1.2": ecdsa}, leaf=EC_LEAF), EC_LEAF)
    assert only(found, "ecdsa_only_cert").evidence["key"] == "EC-secp256r1"
    # A server with both certificates also accepts RSA suites.
    both = facts({"TLSv1.2": [*ecdsa, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]}, leaf=EC_LEAF)
    assert "ecdsa_only_cert" not in run(both, EC_LEAF)
    assert "ecdsa_only_cert" not in run(facts({"TLSv1.2": MODERN_TLS12}))
    # TLS 1.3 alone does not show which certificates exist.
    assert "ecdsa_only_cert" not in run(
        facts({"TLSv1.3": ["TLS_AES_128_GCM_SHA256"]}, leaf=EC_LEAF), EC_LEAF
    )


def test_sni_required_when_the_default_certificate_differs():
    other = leaf(RSA_KEY, "default.example.test")
    found = run(facts({"TLSv1.2": MODERN_TLS12}, no_sni_leaf=b64(other)))
    sni = only(found, "sni_required")
    assert sni.severity == "info"
    assert sni.evidence == {
        "sni_certificate": f"CN={HOST}",
        "default_certificate": "CN=default.example.test",
        "default_covers_host": False,
    }
    assert "sni_required" not in run(facts({"TLSv1.2": MODERN_TLS12}, no_sni_leaf=b64(RSA_LEAF)))
    assert "sni_required" not in run(facts({"TLSv1.2": MODERN_TLS12}, no_sni_leaf=None))


# --------------------------------------------------------------------------- weak suites


def test_weak_ciphers_are_listed_with_versions_and_reasons():
    suites = {
        "TLSv1.0": ["TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"],
        "TLSv1.2": [*MODERN_TLS12, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_RC4_128_SHA"],
    }
    weak = only(run(facts(suites)), "weak_ciphers_enabled")
    assert weak.severity == "info"
    listed = weak.evidence["suites"]
    assert len(listed) == 2
    assert listed[0].startswith("TLS_RSA_WITH_3DES_EDE_CBC_SHA (TLSv1.0, TLSv1.2): ")
    assert "Sweet32" in listed[0]
    assert listed[1].startswith("TLS_RSA_WITH_RC4_128_SHA (TLSv1.2): RC4")


def test_null_anon_export_are_weak_too():
    suites = {
        "TLSv1.0": [
            "TLS_RSA_WITH_NULL_SHA",
            "TLS_DH_anon_WITH_AES_128_CBC_SHA",
            "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
            "TLS_RSA_WITH_DES_CBC_SHA",
        ]
    }
    listed = " ".join(only(run(facts(suites)), "weak_ciphers_enabled").evidence["suites"])
    for word in ("NULL", "anonymous", "export", "DES"):
        assert word in listed


def test_no_leaf_is_no_crash():
    assert "ecdsa_only_cert" not in run(facts({"TLSv1.2": MODERN_TLS12}), None)
