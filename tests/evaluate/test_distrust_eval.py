"""Distrust evaluation: real public roots (tests/data) served after a test leaf.

We cannot sign a leaf under a real distrusted root, but matching works on the
fingerprints of what the server sends, so a test leaf followed by the real root
certificate is enough; the leaf's notBefore / SCT time drives the cut-offs.
"""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paths import DATA

from certcheck.catalog import load_profiles
from certcheck.evaluate import Policy, evaluate
from certcheck.evaluate.certinfo import fingerprint
from certcheck.evaluate.rules.distrust import distrust_findings, issuance
from certcheck.model import ServerFacts, Target
from certcheck.platforms import distrust_events

ROOTS = {fingerprint(c): c for c in x509.load_pem_x509_certificates(
    (DATA / "public_roots.pem").read_bytes())}
ENTRUST_G2 = "43df5774b03e7fef5fe40d931a7bedf1bb2e6b42738c4e6d3841103d3aa7f339"
HIPKI = "f015ce3cc239bfef064be9f1d2c417e1a0264a0a94be1f0c8d121864eb6949cc"
KEY = ec.generate_private_key(ec.SECP256R1())
PROFILE = load_profiles()["wechat"]


def leaf(not_before):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d.example.test")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(KEY.public_key()).serial_number(1)
            .not_valid_before(not_before).not_valid_after(not_before + timedelta(days=40))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("d.example.test")]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .sign(KEY, hashes.SHA256()))


def fired(sha, not_before, now):
    found = distrust_findings([(sha, "root")], leaf(not_before), [], PROFILE, now)
    return {f.rule_id: f for f in found}


def test_entrust_issued_after_cutoffs_apple_chrome_mozilla():
    now = datetime(2025, 6, 1, tzinfo=UTC)
    before = fired(ENTRUST_G2, datetime(2024, 11, 10, tzinfo=UTC), now)
    # Only Mozilla's later full removal of G2 (2026-04) is still ahead on 2025-06-01.
    assert set(before) == {"ca_distrust_scheduled"}
    ahead = before["ca_distrust_scheduled"].evidence["events"]
    assert {(e["platform"], e["kind"]) for e in ahead} == {("mozilla", "full")}
    between = fired(ENTRUST_G2, datetime(2024, 11, 13, tzinfo=UTC), now)  # Chrome only
    assert set(between) == {"ca_distrust_after_chrome", "ca_distrust_scheduled"}
    after = fired(ENTRUST_G2, datetime(2024, 12, 5, tzinfo=UTC), now)
    assert set(after) == {"ca_distrust_after_apple", "ca_distrust_after_chrome",
                          "ca_distrust_after_mozilla", "ca_distrust_scheduled"}
    apple = after["ca_distrust_after_apple"]
    assert apple.severity == "error" and apple.breaks == ["ios"]
    entry = apple.evidence["events"][0]
    assert entry["event"] == "Entrust / AffirmTrust (2024)"
    assert entry["cutoff"] == "2024-11-15T23:59:59Z" and entry["issued_basis"] == "notBefore"


def test_on_the_cutoff_instant_is_not_after_it():
    now = datetime(2025, 6, 1, tzinfo=UTC)
    assert "ca_distrust_after_apple" not in fired(
        ENTRUST_G2, datetime(2024, 11, 15, 23, 59, 59, tzinfo=UTC), now)
    assert "ca_distrust_after_apple" in fired(
        ENTRUST_G2, datetime(2024, 11, 16, tzinfo=UTC), now)


def test_scheduled_distrust_warns_with_days_left():
    # Chrome 139 shipped 2025-08-05: on 2025-07-20 it is still ahead.
    found = fired(HIPKI, datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 7, 20, tzinfo=UTC))
    assert "ca_distrust_after_chrome" not in found
    scheduled = found["ca_distrust_scheduled"]
    assert scheduled.severity == "warning"
    chrome = [e for e in scheduled.evidence["events"] if e["platform"] == "chrome"]
    assert chrome[0]["cutoff"] == "2025-07-31T23:59:59Z"
    # Before the cut-off the current certificate is fine but renewals will not be.
    assert scheduled.evidence["days_left"] >= 0


def test_after_effective_date_the_rule_applies():
    found = fired(HIPKI, datetime(2025, 8, 10, tzinfo=UTC), datetime(2025, 9, 1, tzinfo=UTC))
    assert "ca_distrust_after_chrome" in found


@pytest.mark.parametrize("event", [e for e in distrust_events()
                                   if any(r.kind == "full" for r in e.rules)],
                         ids=lambda e: f"{e.name}-{e.certificates[0][0][:8]}")
def test_every_full_event_fires_through_the_matcher(event):
    now = datetime(2026, 11, 22, tzinfo=UTC)
    found = distrust_findings([(event.certificates[0][0], event.certificates[0][1])],
                              leaf(now - timedelta(days=1)), [], PROFILE, now)
    rule_ids = {f.rule_id for f in found}
    in_effect = [r for r in event.rules if r.kind == "full"
                 and (r.effective_date is None or r.effective_date <= now.date())]
    assert ("ca_fully_distrusted" in rule_ids) == bool(in_effect)


def test_cross_signed_chain_caught_by_served_fingerprint():
    """Served root certificate (not on the path) still matches; verdict breaks iOS."""
    trustcor = next(e for e in distrust_events() if e.name.startswith("TrustCor"))
    sha = trustcor.certificates[0][0]
    if sha not in ROOTS:
        pytest.fail(f"tests/data/public_roots.pem lacks the TrustCor root {sha}")
    import base64

    now = datetime(2026, 11, 22, tzinfo=UTC)
    chain = [base64.b64encode(c.public_bytes(Encoding.DER)).decode()
             for c in (leaf(now - timedelta(days=1)), ROOTS[sha])]
    facts = ServerFacts(Target("d.example.test"), "x", chain=chain, source="file")
    result = evaluate(facts, Policy.build(), now)
    finding = {f.rule_id: f for f in result.findings}["ca_fully_distrusted"]
    assert "ios" in finding.breaks and "chrome" in finding.breaks
    assert result.verdicts["ios"] == "fail"


def test_sct_time_comes_from_tls_extension():
    import base64
    import struct

    millis = int(datetime(2025, 1, 2, tzinfo=UTC).timestamp() * 1000)
    raw = b"\x00" + b"\x11" * 32 + struct.pack("!Q", millis) + b"\x00\x00"
    when = issuance(leaf(datetime(2024, 12, 1, tzinfo=UTC)), [base64.b64encode(raw).decode()])
    assert when.earliest_sct == datetime(2025, 1, 2, tzinfo=UTC)
    assert when.time_for("apple") == when.earliest_sct
    assert when.time_for("mozilla") == datetime(2024, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "moment", "fires"),
    [
        ("issued_after", "2025-01-01T00:00:00", False),  # on the cut-off: not after it
        ("issued_after", "2025-01-01T00:00:01", True),
        ("issued_after", "2024-12-31T23:59:59", False),
        ("sct_after", "2025-01-01T00:00:00", False),
        ("sct_after", "2025-01-01T00:00:01", True),
        ("issued_before", "2024-12-31T23:59:59", True),
        ("issued_before", "2025-01-01T00:00:00", False),  # on the cut-off: not before it
        ("full", "2020-01-01T00:00:00", True),
    ],
)
def test_every_cutoff_kind_before_on_and_after(kind, moment, fires):
    from certcheck.evaluate.rules.distrust import Issuance, _fires
    from certcheck.platforms import DistrustRule

    cutoff = datetime(2025, 1, 1, tzinfo=UTC)
    rule = DistrustRule("chrome", kind, None if kind == "full" else cutoff, "test", None, "x", "")
    when = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    assert _fires(rule, Issuance(not_before=when, earliest_sct=when)) is fires


def test_injected_table_and_two_dated_rules_of_one_kind():
    """table= replaces the shipped index; a removal and a notice of one kind both count."""
    from datetime import date

    from certcheck.platforms import DistrustEvent, DistrustRule

    sha = "ab" * 32
    notice = DistrustRule("apple", "full", None, "notice", date(2020, 2, 25), "https://n", "")
    removal = DistrustRule("apple", "full", None, "store", date(2023, 8, 9), "https://r", "")
    table = {sha: [DistrustEvent("Test CA", ((sha, "Test CA"),), (removal, notice), "https://e")]}
    issued = datetime(2019, 1, 1, tzinfo=UTC)

    def run(now):
        found = distrust_findings([(sha, "Test CA"), (sha, "again")], leaf(issued), [], PROFILE,
                                  now, table=table)
        return {f.rule_id: f for f in found}

    assert distrust_findings([(sha, "x")], leaf(issued), [], PROFILE,
                             datetime(2024, 1, 1, tzinfo=UTC)) == []  # not in the shipped data
    before = run(datetime(2020, 2, 24, tzinfo=UTC))
    assert set(before) == {"ca_distrust_scheduled"}
    assert [e["date"] for e in before["ca_distrust_scheduled"].evidence["events"]] == [
        "2020-02-25", "2023-08-09"]
    between = run(datetime(2020, 2, 25, tzinfo=UTC))
    assert [e["effective"] for e in between["ca_fully_distrusted"].evidence["events"]] == ["notice"]
    assert [e["date"] for e in between["ca_distrust_scheduled"].evidence["events"]] == [
        "2023-08-09"]
    after = run(datetime(2023, 8, 9, tzinfo=UTC))
    assert set(after) == {"ca_fully_distrusted"}
    assert [e["effective"] for e in after["ca_fully_distrusted"].evidence["events"]] == [
        "store", "notice"]
