"""Handshake simulation per client profile, with per-client trust stores (no network).

Chains are built with the ``cryptography`` builder.  Where a test needs a chain
that ends at a *tabulated* root (ISRG Root X1, DST Root CA X3), it uses a
stand-in root with the same subject name and its own key: the platform tables
hold fingerprints and names, not the roots' DER, so a tabulated root that is
not in the trust store given to the evaluation is matched by subject name.
Those tests therefore use a TrustStore without certifi's roots (the real ISRG
root there would, rightly, refuse the stand-in's signature).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from simkit import HOST, NO_ROOTS, modern_facts

from certcheck import samples
from certcheck.catalog import load_profiles
from certcheck.evaluate import Policy, evaluate
from certcheck.evaluate.client_trust import ChainTrust, store_view
from certcheck.evaluate.rules.clients import broken_platforms, client_findings
from certcheck.evaluate.simulation import negotiate, simulate
from certcheck.evaluate.trust import TrustStore
from certcheck.model import ServerFacts, Target
from certcheck.platforms import client_profiles

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PROFILE = load_profiles()["wechat"]
PROFILES = {p.id: p for p in client_profiles()}
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ISRG_X1 = "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6"
DST_X3 = "0687260331a72403d909f105e69bcf0d32e1bd2493ffc6d9206d11bcd6770739"
ISRG_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Internet Security Research Group"),
        x509.NameAttribute(NameOID.COMMON_NAME, "ISRG Root X1"),
    ]
)
DST_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Digital Signature Trust Co."),
        x509.NameAttribute(NameOID.COMMON_NAME, "DST Root CA X3"),
    ]
)


def cn(value: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)])


def cert(
    subject: x509.Name,
    key,
    issuer: x509.Name | None = None,
    issuer_key=None,
    *,
    ca: bool = False,
    days: tuple[int, int] = (-10, 80),
    host: str | None = None,
    aia: str | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + timedelta(days=days[0]))
        .not_valid_after(NOW + timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if host:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if aia:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(aia),
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def b64(*certs: x509.Certificate) -> list[str]:
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in certs]


# A private CA (given as --ca-file in most tests) and a leaf for HOST.
ROOT = cert(cn("Test Private Root"), EC_KEY, ca=True, days=(-100, 3000))
INTER_KEY = ec.generate_private_key(ec.SECP256R1())
INTER = cert(cn("Test Intermediate"), INTER_KEY, ROOT.subject, EC_KEY, ca=True, days=(-50, 2000))
LEAF_KEY = ec.generate_private_key(ec.SECP256R1())
LEAF = cert(cn(HOST), LEAF_KEY, INTER.subject, INTER_KEY, host=HOST, aia="http://ca.test/i.der")
PRIVATE = TrustStore(system=[], extra=[ROOT])
# cryptography refuses an empty Store: an unrelated anchor stands for "no usable root".

# Stand-ins for Let's Encrypt: R3 under "ISRG Root X1", ISRG cross-signed by "DST Root CA X3".
ISRG_KEY = ec.generate_private_key(ec.SECP384R1())
DST_KEY = ec.generate_private_key(ec.SECP256R1())
R3_KEY = ec.generate_private_key(ec.SECP256R1())
R3 = cert(cn("R3"), R3_KEY, ISRG_NAME, ISRG_KEY, ca=True, days=(-300, 600))
LE_LEAF = cert(cn(HOST), LEAF_KEY, R3.subject, R3_KEY, host=HOST)


def cross_sign(days: tuple[int, int]) -> x509.Certificate:
    return cert(ISRG_NAME, ISRG_KEY, DST_NAME, DST_KEY, ca=True, days=days)


def by_id(results) -> dict:
    return {r.profile.id: r for r in results}


# --------------------------------------------------------------------------- negotiation


def test_highest_common_protocol_and_server_preferred_suite():
    facts = modern_facts(b64(LEAF, INTER))
    result = negotiate(PROFILES["android_13"], facts)
    assert (result.status, result.protocol, result.cipher, result.group) == (
        "ok",
        "TLSv1.3",
        "TLS_AES_128_GCM_SHA256",
        "x25519",
    )
    tls12 = negotiate(PROFILES["android_7_0"], facts)
    assert tls12.protocol == "TLSv1.2"
    assert tls12.cipher == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    assert tls12.group == "secp256r1"  # Android 7.0 offers prime256v1 only


def test_client_order_when_the_server_follows_the_client():
    facts = modern_facts(b64(LEAF, INTER), server_cipher_order={"TLSv1.2": False})
    facts.protocols["TLSv1.3"] = False
    result = negotiate(PROFILES["android_7_0"], facts)
    # Android 7.0 lists ECDHE-ECDSA-AES128-GCM first; a server without order takes it.
    assert result.cipher == PROFILES["android_7_0"].cipher_suites[0]
    facts.server_cipher_order["TLSv1.2"] = True
    facts.cipher_suites["TLSv1.2"] = list(reversed(facts.cipher_suites["TLSv1.2"]))
    # Now the server's first choice is ECDHE-ECDSA-AES128-SHA, which Android 7.0 does not
    # offer: its next choice is taken.
    assert negotiate(PROFILES["android_7_0"], facts).cipher == (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    )


def test_no_common_protocol_names_both_sides():
    result = negotiate(PROFILES["android_4_0_4"], modern_facts([]))
    assert result.status == "fail"
    assert result.reason == (
        "no common protocol: client offers SSLv3, TLSv1.0; server accepts TLSv1.2, TLSv1.3"
    )


def test_no_common_cipher_and_missing_curve():
    facts = modern_facts([], cipher_suites={"TLSv1.2": ["TLS_RSA_WITH_AES_128_GCM_SHA256"]})
    facts.protocols["TLSv1.3"] = False
    ats = negotiate(PROFILES["apple_ats_ios15_4"], facts)
    assert (ats.status, ats.reason) == ("fail", "no common cipher suite in TLSv1.2")
    # ECDHE suites in common but only a curve Android 7.0 lacks.
    curves = modern_facts([], groups={"TLSv1.2": ["secp384r1"]})
    curves.protocols["TLSv1.3"] = False
    android7 = negotiate(PROFILES["android_7_0"], curves)
    assert android7.status == "fail"
    assert "no common ECDHE curve" in (android7.reason or "")
    assert negotiate(PROFILES["android_8_1"], curves).group == "secp384r1"


def test_tls10_uses_its_own_curves_else_those_of_tls12():
    """ECDHE curves at TLS 1.0 are negotiated as at 1.2 (RFC 8422 §5.1.1): the curves
    enumerated at 1.0 decide when the probe has them, else those enumerated at 1.2."""
    facts = modern_facts(
        [],
        protocols={"SSLv3": False, "TLSv1.0": True, "TLSv1.1": False, "TLSv1.2": True,
                   "TLSv1.3": False},
        cipher_suites={
            "TLSv1.0": ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"],
            "TLSv1.2": ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"],
        },
        groups={"TLSv1.0": ["secp256r1"], "TLSv1.2": ["x448"]},
    )
    old = PROFILES["android_4_3"]
    assert "TLSv1.2" not in old.protocols  # a TLS 1.0-only client
    result = negotiate(old, facts)
    assert (result.status, result.protocol, result.group) == ("ok", "TLSv1.0", "secp256r1")
    del facts.groups["TLSv1.0"]  # not enumerated at 1.0: the 1.2 curves stand in
    failed = negotiate(old, facts)
    assert failed.status == "fail" and "no common ECDHE curve" in (failed.reason or "")


def test_tls13_needs_a_common_group():
    facts = modern_facts([], groups={"TLSv1.3": ["ffdhe2048"], "TLSv1.2": ["secp256r1"]})
    result = negotiate(PROFILES["android_13"], facts)
    assert (result.status, result.reason) == ("fail", "no common key-exchange group in TLSv1.3")


def test_unknown_facts_give_unknown_not_failure():
    assert negotiate(PROFILES["android_13"], modern_facts([], protocols={})).status == "unknown"
    missing = modern_facts([], cipher_suites={})
    result = negotiate(PROFILES["android_13"], missing)
    assert (result.status, result.protocol) == ("unknown", "TLSv1.3")
    assert "not enumerated" in (result.reason or "")


# --------------------------------------------------------------------------- trust per store


def test_ca_file_root_counts_in_every_store():
    results = simulate(modern_facts(b64(LEAF, INTER)), PRIVATE, NOW)
    assert len(results) == len(PROFILES)
    for result in results:
        assert result.trust.trust == "ok", result.profile.id
        assert result.trust.root_source == "ca-file"
        assert result.trust.root == "Test Private Root"
    assert by_id(results)["android_13"].ok is True
    assert by_id(results)["android_4_0_4"].ok is False  # TLS 1.0 only


def test_private_root_without_ca_file_is_untrusted_everywhere_but_java_is_not_guessed():
    results = by_id(simulate(modern_facts(b64(LEAF, INTER)), NO_ROOTS, NOW))
    android = results["android_13"]
    assert (android.ok, android.trust.trust) == (False, "untrusted")
    assert "Test Private Root" in (android.reason or "")
    assert "not a root in the Android 13" in (android.reason or "")
    assert results["ios_18_safari"].trust.trust == "untrusted"
    # Java's cacerts is not tabulated, but no store has this root: still untrusted.
    assert results["java_17"].trust.trust == "untrusted"


def test_lets_encrypt_chain_fails_before_android_7_1_and_names_the_root():
    facts = modern_facts(b64(LE_LEAF, R3))
    results = by_id(simulate(facts, NO_ROOTS, NOW))
    old = results["android_7_0"]
    assert old.ok is False and old.trust.trust == "untrusted"
    assert old.trust.missing_root_sha256 == ISRG_X1
    assert old.reason == (
        "untrusted root on this client: Android < 7.1 has no ISRG Root X1 "
        "(first trusted in Android 7.1 (API 25))"
    )
    for newer in ("android_8_1", "android_10", "android_14"):
        assert results[newer].trust.trust == "ok", newer
        assert results[newer].trust.root == "ISRG Root X1"
        assert results[newer].trust.root_sha256 == ISRG_X1
    assert results["ios_18_safari"].trust.trust == "ok"  # in Apple's store
    assert results["java_17"].trust.trust == "unknown"  # cacerts not tabulated
    assert results["java_17"].ok is None


def test_letsencrypt_old_android_finding_and_verdict():
    # Browsers left out: their store (certifi) is empty in this test, see the module docstring.
    phones = tuple(p for p in client_profiles() if p.root_store not in ("mozilla", "chrome"))
    results = simulate(modern_facts(b64(LE_LEAF, R3)), NO_ROOTS, NOW, phones)
    found = {f.rule_id: f for f in client_findings(results, PROFILE)}
    le = found["letsencrypt_old_android"]
    assert le.severity == "warning"
    assert le.evidence["root"] == "ISRG Root X1"
    assert le.evidence["sha256"] == ISRG_X1
    assert le.evidence["first_trusted_in"] == "Android 7.1 (API 25)"
    assert le.evidence["reason"].startswith("Android < 7.1 has no ISRG Root X1")
    assert PROFILES["android_7_0"].name in le.evidence["clients"]
    assert PROFILES["android_2_3_7"].name in le.evidence["clients"]
    assert PROFILES["android_8_1"].name not in le.evidence["clients"]
    fails = found["client_handshake_fails"]
    assert fails.severity == "warning"  # no current client fails
    assert "android_legacy" in fails.breaks  # every Android < 7 fails
    assert "android" not in fails.breaks  # 7.0 fails, current Android does not
    assert "android" in fails.platforms


def test_private_chain_never_fires_letsencrypt_old_android():
    results = simulate(modern_facts(b64(LEAF, INTER)), NO_ROOTS, NOW)
    assert "letsencrypt_old_android" not in {f.rule_id for f in client_findings(results, PROFILE)}


def test_android_ignores_an_expired_anchor_but_not_an_expired_intermediate():
    # Served: leaf, R3, ISRG Root X1 cross-signed by DST Root CA X3 (DST itself expired 2021).
    valid_cross = cross_sign((-1000, 100))
    results = by_id(simulate(modern_facts(b64(LE_LEAF, R3, valid_cross)), NO_ROOTS, NOW))
    android7 = results["android_7_0"]
    assert android7.trust.trust == "ok"
    assert android7.trust.root_sha256 == DST_X3
    assert android7.trust.root == "DST Root CA X3"
    # Android 14's store has ISRG Root X1 (and no longer DST Root CA X3).
    assert results["android_14"].trust.root_sha256 == ISRG_X1
    # Apple removed DST Root CA X3; the ISRG path is the one that counts there.
    assert results["ios_18_safari"].trust.root_sha256 == ISRG_X1
    # Once the cross-sign itself has expired, Android 7.0 has no path left.
    expired_cross = cross_sign((-1000, -10))
    results = by_id(simulate(modern_facts(b64(LE_LEAF, R3, expired_cross)), NO_ROOTS, NOW))
    assert results["android_7_0"].trust.trust == "untrusted"
    assert results["android_7_0"].trust.missing_root_sha256 == ISRG_X1


def test_incomplete_chain_android_fails_ios_fetches():
    facts = modern_facts(b64(LEAF))
    results = by_id(simulate(facts, PRIVATE, NOW))
    android = results["android_13"]
    assert android.ok is False
    assert android.reason == (
        "incomplete chain: the server does not send CN=Test Intermediate and this client "
        "does not fetch missing issuers"
    )
    ios = results["ios_18_safari"]
    assert (ios.ok, ios.trust.trust) == (None, "unknown")
    assert "http://ca.test/i.der" in (ios.reason or "")
    # With the issuer fetched over AIA (--fetch-aia), iOS connects and Android still does not.
    fetched = by_id(simulate(replace(facts, aia_certificates=b64(INTER)), PRIVATE, NOW))
    assert fetched["ios_18_safari"].ok is True
    assert fetched["android_13"].ok is False


def test_root_unknown_to_the_tables_is_unknown_only_for_updatable_stores():
    # A root that certifi (here: the system roots given) has but no platform table knows.
    new_root = cert(cn("Brand New Public Root 2026"), EC_KEY, ca=True, days=(-10, 3000))
    leaf = cert(cn(HOST), LEAF_KEY, new_root.subject, EC_KEY, host=HOST)
    results = by_id(simulate(modern_facts(b64(leaf)), TrustStore(system=[new_root]), NOW))
    assert results["firefox_current"].trust.trust == "ok"
    # The Chrome Root Store table is Chrome's whole store: a root it lacks is not trusted.
    assert results["chrome_current"].trust.trust == "untrusted"
    assert results["android_14"].trust.trust == "unknown"  # updatable Conscrypt store
    assert results["ios_18_safari"].trust.trust == "unknown"
    assert results["android_13"].trust.trust == "untrusted"  # a frozen store: not there
    assert results["android_13"].trust.reason and "Brand New Public Root 2026" in (
        results["android_13"].trust.reason
    )


def test_trust_is_built_once_per_store():
    chains = ChainTrust([LEAF, INTER], [], PRIVATE, NOW)
    store = store_view("android:33", PRIVATE)
    first = chains.outcome(store, False, LEAF)
    assert chains.outcome(store, False, LEAF) is first
    assert store.label == "Android 13-2023-09 (API 33) system store"


# --------------------------------------------------------------------------- certificate checks


def test_ats_key_size_limit():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    leaf = cert(cn(HOST), small, INTER.subject, INTER_KEY, host=HOST)
    facts = modern_facts(
        b64(leaf, INTER),
        cipher_suites={"TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]},
    )
    facts.protocols["TLSv1.3"] = False
    results = by_id(simulate(facts, PRIVATE, NOW))
    ats = results["apple_ats_ios15_4"]
    assert ats.ok is False
    assert ats.reason == "key too small: RSA 1024 bits, client needs >= 2048"
    assert results["android_13"].ok is True  # no limit stated for Android


def test_sha1_signature_fails_clients_requiring_sha2():
    # cryptography no longer signs with SHA-1: re-sign as certcheck.samples does.
    rsa_inter = cert(cn("RSA Intermediate"), RSA_KEY, ROOT.subject, EC_KEY, ca=True)
    leaf = samples._resign_sha1(
        cert(cn(HOST), LEAF_KEY, rsa_inter.subject, RSA_KEY, host=HOST), RSA_KEY
    )
    results = by_id(simulate(modern_facts(b64(leaf, rsa_inter)), PRIVATE, NOW))
    assert results["ios_18_safari"].ok is False
    assert "signed with SHA1" in (results["ios_18_safari"].reason or "")
    assert results["android_13"].ok is True  # requires_sha2 = false in the profile data


def test_no_sni_client_gets_the_default_certificate():
    other = cert(
        cn("default.example.test"), LEAF_KEY, INTER.subject, INTER_KEY, host="default.example.test"
    )
    facts = modern_facts(b64(LEAF, INTER), no_sni_leaf=b64(other)[0])
    facts.protocols["TLSv1.0"] = True
    facts.cipher_suites["TLSv1.0"] = ["TLS_RSA_WITH_AES_128_CBC_SHA"]
    results = by_id(simulate(facts, PRIVATE, NOW))
    old = results["android_2_3_7"]  # sends no SNI
    assert old.ok is False
    assert old.reason == (
        "no SNI: the server's default certificate (CN=default.example.test) does not cover "
        "api.example.test"
    )
    same = modern_facts(b64(LEAF, INTER), no_sni_leaf=b64(LEAF)[0])
    same.protocols["TLSv1.0"] = True
    same.cipher_suites["TLSv1.0"] = ["TLS_RSA_WITH_AES_128_CBC_SHA"]
    assert by_id(simulate(same, PRIVATE, NOW))["android_2_3_7"].ok is True


# --------------------------------------------------------------------------- findings and JSON


def test_client_handshake_fails_is_an_error_when_a_current_client_fails():
    facts = modern_facts(
        b64(LEAF, INTER), cipher_suites={"TLSv1.2": ["TLS_RSA_WITH_AES_128_GCM_SHA256"]}
    )
    facts.protocols["TLSv1.3"] = False
    results = simulate(facts, PRIVATE, NOW)
    (finding,) = [
        f for f in client_findings(results, PROFILE) if f.rule_id == "client_handshake_fails"
    ]
    assert finding.severity == "error"
    assert "Apple ATS / iOS 15.4+" in finding.evidence["current_clients_failing"]
    reasons = {r["reason"]: r["clients"] for r in finding.evidence["reasons"]}
    assert "Apple ATS / iOS 15.4+" in reasons["no common cipher suite in TLSv1.2"]
    assert "ios" in finding.breaks
    assert finding.evidence["simulated"] == len(PROFILES)


def test_nothing_fires_when_every_client_connects():
    facts = modern_facts(b64(LEAF, INTER))
    facts.protocols.update({"TLSv1.0": True, "TLSv1.1": True})
    legacy = ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"]
    facts.cipher_suites.update({"TLSv1.0": legacy, "TLSv1.1": legacy})
    results = simulate(facts, PRIVATE, NOW)
    failing = {r.profile.id: r.reason for r in results if r.ok is False}
    # Android 2.3.7 has no ECDHE at all: an ECDSA-only server cannot serve it.
    assert failing == {"android_2_3_7": "no common cipher suite in TLSv1.0"}
    assert broken_platforms(results) == []


def test_broken_platforms_needs_a_current_client_or_every_client():
    results = simulate(modern_facts(b64(LEAF, INTER)), PRIVATE, NOW)
    # Android 2.3 - 4.3 fail, 4.4 - 6.0 connect: android_legacy as a whole is not broken.
    assert broken_platforms(results) == []
    tls13 = modern_facts(b64(LEAF, INTER))
    tls13.protocols["TLSv1.2"] = False
    # TLS 1.3 only: every Android < 7 fails; Java 8u161 fails but Java 11+ connect.
    assert broken_platforms(simulate(tls13, PRIVATE, NOW)) == ["android_legacy"]


def test_evaluate_fills_the_simulation_and_its_json():
    facts = modern_facts(b64(LEAF, INTER))
    policy = Policy(trust=PRIVATE)
    result = evaluate(facts, policy, NOW)
    assert result.simulation is not None and len(result.simulation) == len(PROFILES)
    entry = next(e for e in result.simulation if e["client"] == "android_13")
    assert entry == {
        "client": "android_13",
        "name": PROFILES["android_13"].name,
        "platform": "android",
        "os_version": "13",
        "ok": True,
        "protocol": "TLSv1.3",
        "cipher": "TLS_AES_128_GCM_SHA256",
        "group": "x25519",
        "reason": None,
        "reason_code": None,
        "trust": "ok",
        "root": "Test Private Root",
        "root_source": "ca-file",
        "store": "android:33",
        "ats": False,
    }
    assert result.to_dict()["simulation"] == result.simulation


def test_certificate_only_facts_simulate_trust_alone():
    facts = ServerFacts(
        target=Target(HOST, 443),
        scanned_at="2026-06-01T00:00:00Z",
        chain=b64(LE_LEAF, R3),
        source="file",
    )
    results = by_id(simulate(facts, NO_ROOTS, NOW))
    assert results["android_13"].ok is None  # trusted, handshake not probed
    assert results["android_13"].reason == "handshake not probed (certificate only)"
    assert results["android_7_0"].ok is False  # the root is missing whatever the handshake


def test_unreadable_leaf_gives_no_simulation():
    facts = modern_facts([base64.b64encode(b"\x30\x03junk").decode()])
    assert simulate(facts, PRIVATE, NOW) == []


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_simulates_against_a_modern_server(profile):
    (result,) = simulate(modern_facts(b64(LEAF, INTER)), PRIVATE, NOW, (PROFILES[profile],))
    assert result.ok in (True, False)
    assert result.ok == (result.reason is None)
    if result.ok:
        assert result.negotiation.protocol in ("TLSv1.2", "TLSv1.3")


def test_many_mutually_issuing_copies_do_not_blow_up_the_search():
    # Twelve CA certificates with one name and one key: each one "issues" every other.
    copies = [
        cert(cn("Loop CA"), INTER_KEY, cn("Loop CA"), INTER_KEY, ca=True, days=(-5, 100 + i))
        for i in range(12)
    ]
    leaf = cert(cn(HOST), LEAF_KEY, cn("Loop CA"), INTER_KEY, host=HOST)
    results = by_id(simulate(modern_facts(b64(leaf, *copies)), PRIVATE, NOW))
    assert results["android_13"].trust.trust == "untrusted"
    assert "Loop CA" in (results["android_13"].reason or "")


def test_old_client_failures_follow_the_profiles_view_of_old_clients():
    results = simulate(modern_facts(b64(LEAF, INTER)), PRIVATE, NOW)  # Android 2.3-4.3 fail

    def severity(profile) -> str:
        (found,) = [f for f in client_findings(results, profile) if f.rule_id.startswith("client")]
        return found.severity

    profiles = load_profiles()
    assert severity(profiles["wechat"]) == "warning"
    assert severity(profiles["strict"]) == "info"  # legacy_tls_missing = info there
    assert severity(profiles["ats"]) == "info"
    own = replace(profiles["strict"], severity={"client_handshake_fails": "error"})
    assert severity(own) == "error"


def test_failures_another_finding_explains_are_not_repeated():
    """No common protocol is legacy_tls_missing's to report; the table still shows it."""
    facts = modern_facts(b64(LEAF, INTER))
    results = simulate(facts, PRIVATE, NOW)
    old = [r for r in results if r.ok is False]
    assert old and all(r.reason.startswith("no common protocol") for r in old)
    assert [f.rule_id for f in client_findings(results, PROFILE)] == ["client_handshake_fails"]
    assert client_findings(results, PROFILE, {"legacy_tls_missing"}) == []
    # A reason no fired rule explains still counts.
    assert client_findings(results, PROFILE, {"chain_incomplete"}) != []


def test_failure_reasons_carry_codes_the_findings_match_on():
    """client_rules matches reason codes, not the wording of reasons."""
    facts = modern_facts(b64(LEAF, INTER))
    results = by_id(simulate(facts, TrustStore(system=[], extra=[ROOT]), NOW))
    assert results["android_4_0_4"].reason_code == "no_common_protocol"
    stranger = cert(cn("Unrelated Root"), EC_KEY, ca=True, days=(-100, 3000))
    untrusted = by_id(simulate(facts, TrustStore(system=[stranger]), NOW))
    assert untrusted["android_13"].reason_code == "untrusted_root"
    incomplete = by_id(simulate(modern_facts(b64(LEAF)), TrustStore(system=[], extra=[ROOT]), NOW))
    assert incomplete["android_13"].reason_code == "incomplete_chain"
    # the wording may change; what the findings explain does not
    renamed = replace(results["android_4_0_4"], reason="(reworded)")
    assert client_findings([renamed], load_profiles()["wechat"], {"legacy_tls_missing"}) == []
