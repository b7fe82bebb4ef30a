"""End to end, in process: real loopback TLS servers -> probe -> evaluate -> findings.

Every sample of ``certcheck.samples`` is served by a real OpenSSL server on
127.0.0.1 and scanned with ``probe_target`` exactly as ``certcheck scan HOST
--resolve HOST:PORT:127.0.0.1 --ca-file ca.pem`` would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certcheck import samples
from certcheck.evaluate import Policy, evaluate
from certcheck.localserver import serving
from certcheck.model import PROTOCOLS, Target, TargetResult
from certcheck.probe import probe_target

SAMPLE_NAMES = [
    "good_rsa",
    "good_ecdsa",
    "wildcard",
    "expired",
    "expiring_soon",
    "not_yet_valid",
    "wrong_host",
    "self_signed",
    "sha1",
    "rsa1024",
    "no_san",
    "no_eku",
    "long_validity",
    "missing_intermediate",
    "wrong_order",
    "root_included",
    "tls13_only",
    "legacy_tls",
]
GOOD = {"good_rsa", "good_ecdsa", "wildcard"}


@pytest.fixture(scope="module")
def policy(sample_set) -> Policy:
    return Policy.build(ca_pem=sample_set.root_pem)


def scan(host: str, port: int, policy: Policy, now: datetime | None = None) -> TargetResult:
    facts = probe_target(Target(host=host, port=port, connect_addr="127.0.0.1"), timeout=5)
    assert facts.ok, f"scan of {host}:{port} failed: {facts.error}"
    return evaluate(facts, policy, now or datetime.now(UTC))


def fired(result: TargetResult, *severities: str) -> set[str]:
    return {f.rule_id for f in result.findings if not severities or f.severity in severities}


def finding(result: TargetResult, rule_id: str):
    matches = [f for f in result.findings if f.rule_id == rule_id]
    assert len(matches) == 1, f"{rule_id} fired {len(matches)} times: {result.findings}"
    return matches[0]


def versions(result: TargetResult) -> dict:
    """What the probe found for SSLv3 .. TLS 1.3 (other keys may be added later)."""
    return {
        v: result.facts.protocols.get(v)
        for v in ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
    }


def sha256_of_pem(pem: bytes) -> str:
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()


@pytest.fixture(scope="module")
def scanned(sample_set, sample_servers, policy) -> dict[str, TargetResult]:
    """Every sample scanned once (the probes are what take time)."""
    return {s.name: scan(s.host, sample_servers[s.name].port, policy) for s in sample_set.samples}


def test_every_sample_is_covered(sample_set):
    assert sorted(s.name for s in sample_set.samples) == sorted(SAMPLE_NAMES)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_fires_what_it_should(name, sample_set, scanned):
    sample = sample_set.get(name)
    result = scanned[name]
    rules = fired(result)
    assert set(sample.expect) <= rules, f"{name}: expected {sample.expect}, got {sorted(rules)}"
    # Nothing at warning or error level that the sample is not about.  Servers with
    # TLS 1.2 as their floor leave Android 4.x behind: legacy_tls_missing is expected.
    allowed = set(sample.expect)
    if sample.server.get("min_version", "TLSv1.2") != "TLSv1.0":
        allowed.add("legacy_tls_missing")
    # The handshake simulation names the clients that a sample's problem (or the
    # TLS 1.2 floor) leaves behind: tests/evaluate/test_simulation.py covers it.
    allowed.add("client_handshake_fails")
    unexpected = fired(result, "error", "warning") - allowed
    assert not unexpected, f"{name}: unexpected findings {sorted(unexpected)}"
    # The probe saw the chain exactly as served.
    assert len(result.facts.chain) == sample.chain_pem.count(b"BEGIN CERTIFICATE")
    assert result.facts.negotiated_protocol in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_samples_only_miss_legacy_tls(name, scanned):
    result = scanned[name]
    # The clients that fail only for want of a protocol are legacy_tls_missing's:
    # client_handshake_fails does not repeat them.
    assert [(f.rule_id, f.severity) for f in result.findings if f.severity != "info"] == [
        ("legacy_tls_missing", "warning"),
    ]
    # Only the TLS 1.0-only clients (Android 2.3 - 4.3) fail, for want of a protocol.
    failing = [e for e in result.simulation or [] if e["ok"] is False]
    assert {e["client"] for e in failing} == {
        "android_2_3_7",
        "android_4_0_4",
        "android_4_1_1",
        "android_4_2_2",
        "android_4_3",
    }
    assert all(e["reason"].startswith("no common protocol") for e in failing)
    assert result.overall == "warn"
    assert result.verdicts == {"ios": "pass", "android": "pass", "android_legacy": "fail"}
    assert result.certificate is not None and result.certificate["trusted"] is True
    assert result.certificate["anchor_source"] == "ca-file"
    assert versions(result) == {
        "SSLv3": False,
        "TLSv1.0": False,
        "TLSv1.1": False,
        "TLSv1.2": True,
        "TLSv1.3": True,
    }


@pytest.mark.parametrize(
    "name",
    [n for n in SAMPLE_NAMES if n not in GOOD | {"wrong_order", "root_included", "legacy_tls"}],
)
def test_broken_samples_fail_overall(name, scanned):
    assert scanned[name].overall == "fail"
    assert "fail" in scanned[name].verdicts.values()


def test_specific_rules_stay_quiet(scanned):
    assert "hostname_mismatch" not in fired(scanned["expired"])
    assert "untrusted_root" not in fired(scanned["expired"])
    assert "cert_expired" not in fired(scanned["wrong_host"])
    assert "chain_incomplete" not in fired(scanned["self_signed"])
    assert "untrusted_root" not in fired(scanned["missing_intermediate"])
    # no_san: the CN covers the host, so the SAN rule explains it instead.
    assert "hostname_mismatch" not in fired(scanned["no_san"])
    assert "legacy_tls_missing" not in fired(scanned["legacy_tls"])
    assert "tls12_missing" not in fired(scanned["legacy_tls"])


def test_good_server_with_tls10_passes_everywhere(sample_set, policy, spec_for):
    sample = sample_set.get("good_rsa")
    with serving([spec_for(sample, min_version="TLSv1.0")]) as (server,):
        result = scan(sample.host, server.port, policy)
    assert result.overall == "pass"
    assert result.verdicts == {"ios": "pass", "android": "pass", "android_legacy": "pass"}
    assert fired(result, "error", "warning") == set()
    assert "legacy_tls_enabled" in fired(result)
    assert result.facts.protocols["TLSv1.0"] is True
    assert result.facts.protocols["TLSv1.1"] is True
    assert result.facts.protocols["SSLv3"] is False
    legacy = finding(result, "legacy_tls_enabled")
    assert legacy.severity == "info"
    assert legacy.evidence["legacy"] == ["TLSv1.0", "TLSv1.1"]


@pytest.mark.parametrize("host", ["a.b.wild.example.test", "wild.example.test"])
def test_wildcard_covers_exactly_one_label(host, sample_servers, policy):
    result = scan(host, sample_servers["wildcard"].port, policy)
    rules = fired(result)
    assert {"hostname_mismatch", "wildcard_invalid"} <= rules
    mismatch = finding(result, "hostname_mismatch")
    assert mismatch.evidence["host"] == host
    assert mismatch.evidence["san"] == ["*.wild.example.test"]
    assert finding(result, "wildcard_invalid").evidence["wildcards"] == ["*.wild.example.test"]
    assert result.overall == "fail"
    assert set(result.verdicts.values()) == {"fail"}


def test_wildcard_matches_other_single_labels(sample_servers, policy):
    result = scan("other-label.wild.example.test", sample_servers["wildcard"].port, policy)
    assert fired(result, "error") == set()


def test_tls12_only_server(sample_set, policy, spec_for):
    sample = sample_set.get("good_rsa")
    with serving([spec_for(sample, max_version="TLSv1.2")]) as (server,):
        result = scan(sample.host, server.port, policy)
    assert result.facts.protocols["TLSv1.3"] is False
    assert result.facts.protocols["TLSv1.2"] is True
    assert result.facts.negotiated_protocol == "TLSv1.2"
    rules = fired(result)
    assert "tls13_only" not in rules
    assert "tls12_missing" not in rules
    assert fired(result, "error", "warning") == {"legacy_tls_missing"}


def test_tls13_only_server(sample_set, scanned):
    result = scanned["tls13_only"]
    assert versions(result) == {
        "SSLv3": False,
        "TLSv1.0": False,
        "TLSv1.1": False,
        "TLSv1.2": False,
        "TLSv1.3": True,
    }
    assert {"tls13_only", "tls12_missing"} <= fired(result, "error")
    assert finding(result, "tls13_only").evidence["accepted"] == ["TLSv1.3"]
    # TLS 1.3 still reaches current phones; Android before 10 cannot connect.
    assert result.verdicts["android_legacy"] == "fail"
    assert result.verdicts["android"] != "fail"
    assert result.verdicts["ios"] != "fail"


def test_without_ca_file_the_private_root_is_untrusted(sample_set, sample_servers):
    sample = sample_set.get("good_rsa")
    result = scan(sample.host, sample_servers["good_rsa"].port, Policy.build())
    untrusted = finding(result, "untrusted_root")
    assert untrusted.severity == "error"
    assert samples.ROOT_CN in untrusted.evidence["root"]
    # The intermediate was sent: what is missing is a trusted root, not the chain.
    assert "chain_incomplete" not in fired(result)
    assert result.overall == "fail"
    assert set(result.verdicts.values()) == {"fail"}
    assert result.certificate is not None and result.certificate["trusted"] is False


def test_without_ca_file_a_served_private_root_is_untrusted(sample_set, sample_servers):
    sample = sample_set.get("root_included")
    result = scan(sample.host, sample_servers["root_included"].port, Policy.build())
    untrusted = finding(result, "untrusted_root")
    assert untrusted.evidence["sha256"] == sha256_of_pem(sample_set.root_pem)
    assert samples.ROOT_CN in untrusted.evidence["root"]
    assert set(result.verdicts.values()) == {"fail"}


def test_distrusted_intermediate(sample_set, sample_servers):
    fp = sha256_of_pem(sample_set.intermediate_pem)
    # Colon-separated upper-case fingerprints are accepted like the plain form.
    colon_fp = ":".join(fp[i : i + 2] for i in range(0, 64, 2)).upper()
    for given in (fp, colon_fp):
        policy = Policy.build(ca_pem=sample_set.root_pem, distrust=[given])
        sample = sample_set.get("good_rsa")
        result = scan(sample.host, sample_servers["good_rsa"].port, policy)
        distrusted = finding(result, "ca_fully_distrusted")
        assert distrusted.severity == "error"
        assert [c["sha256"] for c in distrusted.evidence["certificates"]] == [fp]
        assert samples.INTERMEDIATE_CN in distrusted.evidence["certificates"][0]["subject"]
        assert result.overall == "fail"


def test_distrusting_an_unrelated_ca_changes_nothing(sample_set, sample_servers):
    policy = Policy.build(ca_pem=sample_set.root_pem, distrust=["ab" * 32])
    sample = sample_set.get("good_rsa")
    result = scan(sample.host, sample_servers["good_rsa"].port, policy)
    assert "ca_fully_distrusted" not in fired(result)


# -- evidence ---------------------------------------------------------------------------------


def test_chain_incomplete_evidence(scanned):
    result = scanned["missing_intermediate"]
    evidence = finding(result, "chain_incomplete").evidence
    assert samples.INTERMEDIATE_CN in evidence["missing_issuer"]
    assert evidence["aia_ca_issuers"] == [samples.INTERMEDIATE_URL]
    assert "nointermediate.example.test" in evidence["issued_to"]
    assert evidence["served"] == 1
    # iOS fetches the missing issuer itself; Android does not.
    assert result.verdicts["ios"] in ("pass", "warn")
    assert result.verdicts["android"] == "fail"
    assert result.verdicts["android_legacy"] == "fail"


def test_cert_expired_evidence(sample_set, scanned):
    leaf = x509.load_pem_x509_certificate(sample_set.get("expired").chain_pem)
    evidence = finding(scanned["expired"], "cert_expired").evidence
    expected = leaf.not_valid_after_utc.isoformat(timespec="seconds").replace("+00:00", "Z")
    assert evidence["not_after"] == expected
    assert 9 <= evidence["days_ago"] <= 10
    assert set(scanned["expired"].verdicts.values()) == {"fail"}


def test_hostname_mismatch_evidence(scanned):
    evidence = finding(scanned["wrong_host"], "hostname_mismatch").evidence
    assert evidence["host"] == "wronghost.example.test"
    assert evidence["san"] == ["other.example.test"]
    assert evidence["subject_cn"] == ["other.example.test"]


def test_expiring_soon_evidence(scanned):
    result = scanned["expiring_soon"]
    soon = finding(result, "cert_expiring_soon")
    # 5 days left is inside the wechat profile's 7-day critical window.
    assert soon.severity == "error"
    assert soon.evidence["threshold_days"] == 7
    assert 3 <= soon.evidence["days_left"] <= 5


def test_weak_key_and_hash_evidence(scanned):
    small = finding(scanned["rsa1024"], "rsa_key_too_small").evidence
    assert small["certificates"][0]["bits"] == 1024
    assert "rsa1024.example.test" in small["certificates"][0]["subject"]
    weak = finding(scanned["sha1"], "sig_hash_weak").evidence
    assert weak["certificates"] == [
        {"subject": "CN=sha1.example.test", "hash": "sha1"},
    ]


def test_chain_order_evidence(scanned):
    order = finding(scanned["wrong_order"], "chain_order").evidence
    assert len(order["served"]) == 3
    assert samples.ROOT_CN in order["served"][1]
    assert samples.INTERMEDIATE_CN in order["expected"][1]
    roots = finding(scanned["root_included"], "chain_includes_root").evidence["roots"]
    assert len(roots) == 1 and samples.ROOT_CN in roots[0]


def test_verdicts_follow_breaks(scanned):
    # self-signed breaks every phone; a CN-only name breaks iOS and Android 9+, not Android < 7.
    assert set(scanned["self_signed"].verdicts.values()) == {"fail"}
    assert scanned["no_san"].verdicts["ios"] == "fail"
    assert scanned["no_san"].verdicts["android"] == "fail"
    no_san = {f.rule_id: f for f in scanned["no_san"].findings}
    assert "android_legacy" not in no_san["san_missing_or_cn_only"].breaks
    assert scanned["no_eku"].verdicts["ios"] == "fail"
    assert scanned["long_validity"].verdicts["ios"] == "fail"
    # Apple's lifetime limit concerns iOS only (the sample CA is private: no BR warning).
    assert scanned["long_validity"].verdicts["android"] == "pass"


def test_evaluation_depends_on_now(sample_set, scanned, policy):
    """The same facts judged 50 days later: the good certificate has expired."""
    facts = scanned["good_rsa"].facts
    later = evaluate(facts, policy, datetime.now(UTC).replace(microsecond=0) + timedelta(days=50))
    assert "cert_expired" in fired(later)
    earlier = evaluate(facts, policy, datetime.now(UTC) - timedelta(days=3))
    assert "cert_not_yet_valid" in fired(earlier)


def test_every_protocol_answered(scanned):
    for name, result in scanned.items():
        assert set(result.facts.protocols) == set(PROTOCOLS), name
        assert all(v is not None for v in result.facts.protocols.values()), (
            name,
            result.facts.protocol_errors,
        )
