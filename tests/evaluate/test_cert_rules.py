"""Certificate rules on chains built in the test, evaluated at fixed instants.

Evaluation is pure, so these tests need no server: each rule is made to fire
by one chain and shown silent on a good one, with boundaries checked exactly.
"""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certcheck.catalog import load_catalog, load_profiles
from certcheck.evaluate import Policy, verdicts_for
from certcheck.evaluate.certinfo import fingerprint
from certcheck.evaluate.rules.chain import evaluate_chain
from certcheck.evaluate.trust import TrustStore
from certcheck.model import Finding

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_CA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(
    cn,
    issuer_cert=None,
    issuer_key=None,
    key=None,
    *,
    ca=False,
    not_before=NOW - timedelta(days=1),
    lifetime=timedelta(days=45),
    san=("good.example.test",),
    eku=(ExtendedKeyUsageOID.SERVER_AUTH,),
):
    key = key or RSA
    signer = issuer_key or key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer_cert.subject if issuer_cert else name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + lifetime)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), False
        )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        if san is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(s) for s in san]), False
            )
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    return builder.sign(signer, hashes.SHA256())


ROOT = make_cert("Test Root", ca=True, key=RSA_CA, lifetime=timedelta(days=3650),
                 not_before=NOW - timedelta(days=365))
INTER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
INTER = make_cert("Test Intermediate", ROOT, RSA_CA, INTER_KEY, ca=True,
                  lifetime=timedelta(days=1800), not_before=NOW - timedelta(days=100))
TRUST = TrustStore(system=[], extra=[ROOT])
PROFILE = load_profiles()["wechat"]


def leaf(**kwargs):
    return make_cert(kwargs.pop("cn", "good.example.test"), INTER, INTER_KEY, **kwargs)


def der(*certs):
    from cryptography.hazmat.primitives.serialization import Encoding

    return [c.public_bytes(Encoding.DER) for c in certs]


def run(
    chain, host="good.example.test", now=NOW, distrust=frozenset(), profile=PROFILE, trust=TRUST
):
    report = evaluate_chain(der(*chain), host, trust, profile, now, distrust)
    return {f.rule_id: f for f in report.findings}, report.summary


def test_good_chain_is_silent():
    found, summary = run([leaf(), INTER])
    assert found == {}
    assert summary["trusted"] is True
    assert summary["path"] == ["CN=good.example.test", "CN=Test Intermediate", "CN=Test Root"]


def test_expired_and_not_yet_valid():
    found, _ = run([leaf(not_before=NOW - timedelta(days=50)), INTER])
    assert found["cert_expired"].evidence["days_ago"] == 5
    found, _ = run([leaf(not_before=NOW + timedelta(hours=2)), INTER])
    assert found["cert_not_yet_valid"].evidence["seconds_early"] == 7200
    assert "cert_expired" not in found


@pytest.mark.parametrize(("days_left", "severity"), [(31, None), (30, "warning"), (8, "warning"),
                                                     (7, "error"), (1, "error")])
def test_expiring_soon_thresholds(days_left, severity):
    cert = leaf(not_before=NOW - timedelta(days=10), lifetime=timedelta(days=10 + days_left))
    found, _ = run([cert, INTER])
    if severity is None:
        assert "cert_expiring_soon" not in found
    else:
        assert found["cert_expiring_soon"].severity == severity
        assert found["cert_expiring_soon"].evidence["days_left"] == days_left


def test_hostname_rules():
    found, _ = run([leaf(san=("other.example.test",), cn="other.example.test"), INTER])
    assert found["hostname_mismatch"].evidence["san"] == ["other.example.test"]
    found, _ = run([leaf(san=("*.example.test",)), INTER], host="a.b.example.test")
    assert {"hostname_mismatch", "wildcard_invalid"} <= set(found)
    found, _ = run([leaf(san=("*.example.test",)), INTER], host="api.example.test")
    assert found == {}


def test_cn_only_certificate():
    found, _ = run([leaf(san=None), INTER])
    assert found["san_missing_or_cn_only"].evidence["reason"] == "no subjectAltName extension"
    assert "hostname_mismatch" not in found  # the CN names the host: explained, not doubled
    found, _ = run([leaf(san=None, cn="other.example.test"), INTER])
    assert {"san_missing_or_cn_only", "hostname_mismatch"} <= set(found)


def test_host_only_in_the_cn_beside_a_san_is_a_mismatch():
    """With DNS SAN entries present no client falls back to the CN (RFC 6125 §6.4.4)."""
    found, _ = run([leaf(san=("www.other.test",)), INTER])  # CN is good.example.test
    assert "san_missing_or_cn_only" not in found
    assert found["hostname_mismatch"].breaks == ["all"]
    assert "only in the subject CN" in found["hostname_mismatch"].evidence["note"]


def test_self_signed_leaf():
    cert = make_cert("good.example.test")
    found, _ = run([cert])
    assert set(found) == {"self_signed_leaf"}


def test_untrusted_root_and_missing_intermediate():
    other_root = make_cert("Other Root", ca=True, key=RSA_CA)
    other_inter = make_cert("Other Intermediate", other_root, RSA_CA, INTER_KEY, ca=True)
    cert = make_cert("good.example.test", other_inter, INTER_KEY)
    found, _ = run([cert, other_inter, other_root])
    assert found["untrusted_root"].evidence["root"] == "CN=Other Root"
    found, _ = run([leaf()])
    assert found["chain_incomplete"].evidence["missing_issuer"] == "CN=Test Intermediate"
    assert "untrusted_root" not in found


def test_chain_order_root_and_extras():
    found, _ = run([leaf(), ROOT, INTER])
    assert {"chain_order", "chain_includes_root"} <= set(found)
    found, _ = run([leaf(), INTER, ROOT])
    assert set(found) == {"chain_includes_root"}
    stray = make_cert("Stray CA", ca=True, key=RSA_CA)
    unrelated = make_cert("Unrelated", stray, RSA_CA, INTER_KEY, ca=True)
    found, _ = run([leaf(), INTER, unrelated])
    assert found["chain_extra_certs"].evidence["unused"] == ["CN=Unrelated"]
    assert "chain_order" not in found


def test_expired_cert_served_off_the_path():
    old_cross = make_cert("Test Intermediate", ROOT, RSA_CA, INTER_KEY, ca=True,
                          not_before=NOW - timedelta(days=400), lifetime=timedelta(days=300))
    found, _ = run([leaf(), INTER, old_cross])
    assert found["chain_contains_expired_cert"].evidence["expired"] == ["CN=Test Intermediate"]
    assert "cert_expired" not in found


def test_expired_intermediate_on_the_path():
    inter = make_cert("Test Intermediate", ROOT, RSA_CA, INTER_KEY, ca=True,
                      not_before=NOW - timedelta(days=400), lifetime=timedelta(days=300))
    found, _ = run([leaf(), inter])
    assert found["cert_expired"].evidence["certificate"] == "CN=Test Intermediate"


def test_key_rules():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    found, _ = run([leaf(key=small), INTER])
    assert found["rsa_key_too_small"].evidence["certificates"][0]["bits"] == 1024
    found, _ = run([leaf(key=EC), INTER])
    assert "ec_key_too_small_or_curve" not in found and "rsa_key_too_small" not in found
    k1 = ec.generate_private_key(ec.SECP256K1())
    found, _ = run([leaf(key=k1), INTER])
    assert found["ec_key_too_small_or_curve"].evidence["certificates"][0]["curve"] == "secp256k1"


def test_eku_rule():
    found, _ = run([leaf(eku=None), INTER])
    assert found["eku_serverauth_missing"].evidence["reason"] == "no extendedKeyUsage"
    found, _ = run([leaf(eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)), INTER])
    assert "eku_serverauth_missing" in found


#: An intermediate valid since 2019, so chains issued in 2019-2020 validate.
OLD_ROOT = make_cert("Old Root", ca=True, key=RSA_CA, lifetime=timedelta(days=7000),
                     not_before=datetime(2018, 1, 1, tzinfo=UTC))
OLD_INTER = make_cert("Old Intermediate", OLD_ROOT, RSA_CA, INTER_KEY, ca=True,
                      lifetime=timedelta(days=3000), not_before=datetime(2019, 1, 1, tzinfo=UTC))
#: the roots as roots of the platforms' stores (anchor_source "system")
STORE_TRUST = TrustStore(system=[ROOT, OLD_ROOT], extra=[])
OLD_TRUST = TrustStore(system=[], extra=[OLD_ROOT])


def old_leaf(**kwargs):
    return make_cert("good.example.test", OLD_INTER, INTER_KEY, **kwargs)


# trustd SecPolicyCheckValidityPeriodMaximums (S5): store roots 398 days from 2020-09-01
# (no slip), 825 days + 1 h before; other anchors 825 days + 1 h after 2019-07-01 only.
@pytest.mark.parametrize(
    ("anchor", "not_before", "lifetime", "fires"),
    [
        ("store", datetime(2020, 9, 1, tzinfo=UTC), timedelta(days=398), False),
        ("store", datetime(2020, 9, 1, tzinfo=UTC), timedelta(days=398, seconds=1), True),
        ("store", datetime(2020, 8, 31, tzinfo=UTC), timedelta(days=825, seconds=3600), False),
        ("store", datetime(2020, 8, 31, tzinfo=UTC), timedelta(days=825, seconds=3601), True),
        ("custom", datetime(2020, 9, 1, tzinfo=UTC), timedelta(days=730), False),
        ("custom", datetime(2020, 9, 1, tzinfo=UTC), timedelta(days=825, seconds=3600), False),
        ("custom", datetime(2020, 9, 1, tzinfo=UTC), timedelta(days=825, seconds=3601), True),
        ("custom", datetime(2019, 7, 1, tzinfo=UTC), timedelta(days=1000), False),
        ("custom", datetime(2019, 7, 1, 0, 0, 1, tzinfo=UTC), timedelta(days=1000), True),
    ],
)
def test_apple_validity_limits_depend_on_the_anchor(anchor, not_before, lifetime, fires):
    cert = old_leaf(not_before=not_before, lifetime=lifetime)
    trust = STORE_TRUST if anchor == "store" else OLD_TRUST
    found, summary = run([cert, OLD_INTER], now=not_before + timedelta(days=1), trust=trust)
    assert summary["trusted"] is True
    assert ("validity_too_long_apple" in found) is fires
    if fires:
        assert found["validity_too_long_apple"].evidence["anchor"] == anchor


def test_two_year_private_ca_certificate_is_no_apple_error():
    cert = leaf(not_before=NOW - timedelta(days=10), lifetime=timedelta(days=730))
    found, _ = run([cert, INTER])
    assert found == {}
    found, _ = run([cert, INTER], trust=STORE_TRUST)
    assert set(found) == {"validity_too_long_apple", "validity_exceeds_br_schedule",
                          "validity_too_long_chrome"}
    assert found["validity_too_long_apple"].breaks == ["ios"]


@pytest.mark.parametrize(
    ("not_before", "days", "fires"),
    [
        (datetime(2020, 9, 1, tzinfo=UTC), 398, False),
        (datetime(2020, 9, 1, tzinfo=UTC), 399, True),
        (datetime(2020, 8, 31, tzinfo=UTC), 825, False),
        (datetime(2020, 8, 31, tzinfo=UTC), 826, True),
    ],
)
def test_chrome_validity_limit_for_public_roots(not_before, days, fires):
    cert = old_leaf(not_before=not_before, lifetime=timedelta(days=days))
    found, _ = run([cert, OLD_INTER], now=not_before + timedelta(days=1), trust=STORE_TRUST)
    assert ("validity_too_long_chrome" in found) is fires
    found, _ = run([cert, OLD_INTER], now=not_before + timedelta(days=1), trust=OLD_TRUST)
    assert "validity_too_long_chrome" not in found  # private roots are exempt


def test_eku_rules_depend_on_the_anchor():
    # No EKU extension: Apple refuses it for store roots, and for other anchors after 2019-07-01.
    found, _ = run([leaf(eku=None), INTER], trust=STORE_TRUST)
    assert found["eku_serverauth_missing"].breaks == ["ios"]
    found, _ = run([leaf(eku=None), INTER])
    assert "eku_serverauth_missing" in found
    early = old_leaf(eku=None, not_before=datetime(2019, 6, 30, tzinfo=UTC),
                     lifetime=timedelta(days=300))
    found, _ = run([early, OLD_INTER], now=datetime(2019, 7, 2, tzinfo=UTC), trust=OLD_TRUST)
    assert "eku_serverauth_missing" not in found
    found, _ = run([early, OLD_INTER], now=datetime(2019, 7, 2, tzinfo=UTC), trust=STORE_TRUST)
    assert "eku_serverauth_missing" in found
    # An EKU that excludes serverAuth is refused by every client.
    found, _ = run([leaf(eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)), INTER])
    assert found["eku_serverauth_missing"].breaks == ["all"]


@pytest.mark.parametrize(
    ("issued", "days", "fires"),
    [
        (datetime(2026, 3, 14, tzinfo=UTC), 397, False),  # before the schedule: 398 rule only
        (datetime(2026, 3, 15, tzinfo=UTC), 200, False),
        (datetime(2026, 3, 15, tzinfo=UTC), 201, True),
        (datetime(2027, 3, 15, tzinfo=UTC), 100, False),
        (datetime(2027, 3, 15, tzinfo=UTC), 101, True),
        (datetime(2029, 3, 15, tzinfo=UTC), 47, False),
        (datetime(2029, 3, 15, tzinfo=UTC), 48, True),
    ],
)
def test_br_schedule(issued, days, fires):
    # Inclusive validity period: notAfter is the last second of the last day.
    cert = leaf(not_before=issued, lifetime=timedelta(days=days) - timedelta(seconds=1))
    found, _ = run([cert, INTER], now=issued + timedelta(days=1), trust=STORE_TRUST)
    assert ("validity_exceeds_br_schedule" in found) is fires
    # The Baseline Requirements bind public CAs only: a private root is never held to them.
    found, _ = run([cert, INTER], now=issued + timedelta(days=1))
    assert "validity_exceeds_br_schedule" not in found


def test_distrust_by_fingerprint():
    found, _ = run([leaf(), INTER], distrust=frozenset({fingerprint(INTER)}))
    assert found["ca_fully_distrusted"].evidence["certificates"][0]["subject"] == (
        "CN=Test Intermediate"
    )
    found, _ = run([leaf(), INTER], distrust=frozenset({fingerprint(ROOT)}))
    assert "ca_fully_distrusted" in found  # the anchor of the built path counts too


def test_unparseable_chain_is_a_finding_not_a_crash():
    report = evaluate_chain([b"\x30\x03garbage"], "x.test", TRUST, PROFILE, NOW)
    assert report.findings[0].rule_id == "cert_unparseable"
    assert report.findings[0].breaks == ["all"]
    assert report.summary["parse_errors"]


def test_policy_loads_certifi_and_extra_anchors():
    from cryptography.hazmat.primitives.serialization import Encoding

    policy = Policy.build(ca_pem=ROOT.public_bytes(Encoding.PEM))
    assert len(policy.trust.system) > 50
    assert policy.trust.source_of(ROOT) == "ca-file"


def test_every_fired_rule_is_in_the_catalog():
    catalog = load_catalog()
    for rule in catalog.values():
        assert rule.title and rule.fix, rule.id
        assert set(rule.breaks) <= set(rule.platforms) | {"all"} or "all" in rule.platforms


def test_verdicts_follow_breaks_and_severity():
    breaks_android = Finding("chain_incomplete", "error", ["android"], "t", breaks=["android"])
    verdicts, overall = verdicts_for([breaks_android])
    assert verdicts == {"ios": "pass", "android": "fail", "android_legacy": "pass"}
    assert overall == "fail"
    warn = Finding("legacy_tls_missing", "warning", ["android_legacy"], "t", breaks=[])
    assert verdicts_for([warn]) == (
        {"ios": "pass", "android": "pass", "android_legacy": "warn"}, "warn"
    )
    assert verdicts_for([]) == ({"ios": "pass", "android": "pass", "android_legacy": "pass"},
                                "pass")


def test_unparseable_certificate_after_the_leaf_breaks_every_platform():
    chain = der(leaf(), INTER) + [b"\x30\x82\x00\x05junk"]
    report = evaluate_chain(chain, "good.example.test", TRUST, PROFILE, NOW)
    found = {f.rule_id: f for f in report.findings}
    assert found["cert_unparseable"].breaks == ["all"]
    assert "certificate #2" in found["cert_unparseable"].evidence["problems"][0]
    good = evaluate_chain(der(leaf(), INTER), "good.example.test", TRUST, PROFILE, NOW)
    assert "cert_unparseable" not in {f.rule_id for f in good.findings}


def test_profile_severity_wins_over_a_computed_one():
    """A profile that turns cert_expiring_soon off (or down) is obeyed at every threshold."""
    from certcheck.catalog import Profile

    soon = leaf(not_before=NOW - timedelta(days=10), lifetime=timedelta(days=12))  # 2 days left
    found, _ = run([soon, INTER])
    assert found["cert_expiring_soon"].severity == "error"
    quiet = Profile("quiet", "", 30, 7, {"cert_expiring_soon": "off"})
    found, _ = run([soon, INTER], profile=quiet)
    assert found["cert_expiring_soon"].severity == "off"
    low = Profile("low", "", 30, 7, {"cert_expiring_soon": "info"})
    found, _ = run([soon, INTER], profile=low)
    assert found["cert_expiring_soon"].severity == "info"


def test_chain_to_a_compromised_root_names_it():
    """eDellRoot's key is public: the root not sent is named, not "send the intermediate"."""
    edell = make_cert("eDellRoot", ca=True, key=RSA_CA, lifetime=timedelta(days=3650),
                      not_before=NOW - timedelta(days=365))
    cert = make_cert("good.example.test", edell, RSA_CA)
    found, _ = run([cert])
    assert found["ca_key_compromised"].breaks == ["all"]
    assert found["ca_key_compromised"].evidence["matched_by"] == "name"
    assert "chain_incomplete" not in found and "untrusted_root" not in found
    # A CA of that name with its own key, trusted by the user, is not the compromised one.
    found, _ = run([cert], trust=TrustStore(system=[], extra=[edell]))
    assert "ca_key_compromised" not in found
