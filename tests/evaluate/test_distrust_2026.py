"""2025-27 Chrome cut-offs, Apple's Symantec plan, and dated store removals (issue #18, 2/4/7).

Expected results are written out by hand from the sources in rules/distrusted_cas.toml
(root_store.textproto version_major 36, Apple HT208860, Android and Apple store release
dates); they are never recomputed with the comparison the code uses.

Real roots come from the certifi bundle installed with certcheck; the Symantec and DST roots
are in no current bundle, so those tests attach the real events to generated CA certificates
through ``distrust_findings(table=...)``.
"""

from __future__ import annotations

import base64
import struct
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certcheck.catalog import load_profiles
from certcheck.evaluate import Policy, evaluate
from certcheck.evaluate.certinfo import fingerprint
from certcheck.evaluate.rules.distrust import distrust_findings
from certcheck.localserver import ServerSpec, serving
from certcheck.model import Target
from certcheck.platforms import DistrustEvent, distrust_by_fingerprint, distrust_events
from certcheck.probe import probe_target

PROFILE = load_profiles()["wechat"]
KEY = ec.generate_private_key(ec.SECP256R1())
with warnings.catch_warnings():
    # One unrelated certifi root has a non-positive serial number.
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    BUNDLE = {fingerprint(c): c for c in x509.load_pem_x509_certificates(
        Path(certifi.where()).read_bytes())}

G4 = "552f7bdcf1a7af9e6ce672017f4f12abf77240c78e761ac203d1d9d20ac89988"
ASSURED_G2 = "7d05ebb682339f8c9451ee094eebfefa7953a114edb2f44949452fab7d2fc185"
GEOTRUST_GLOBAL = "ff856a2d251dcd88d36656f450126798cfabaade40799c722de4d2b5db36a73a"
DST_X3 = "0687260331a72403d909f105e69bcf0d32e1bd2493ffc6d9206d11bcd6770739"

#: (root, sha256, cut-off as written in root_store.textproto's comment line) -- one per new
#: Chrome cut-off; the sct_not_after_sec values were converted by hand and agree with them.
CHROME_CUTOFFS = [
    ("DigiCert Trusted Root G4", G4, "2026-06-30T23:59:59Z"),
    ("DigiCert Assured ID Root G2", ASSURED_G2, "2026-09-14T23:59:59Z"),
    ("DigiCert Assured ID Root G3",
     "7e37cb8b4c47090cab36551ba6f45db840680fba166a952db100717f43053fc2", "2026-09-14T23:59:59Z"),
    ("Buypass Class 2 Root CA",
     "9a114025197c5bb95d94e63d55cd43790847b646b23cdf11ada4a00eff15fb48", "2025-10-31T23:59:59Z"),
    ("Izenpe.com",
     "2530cc8e98321502bad96f9b1fba1b099e2d299e0f4548bb914f363bc0d4531f", "2026-04-14T23:59:59Z"),
    ("D-TRUST Root Class 3 CA 2 2009",
     "49e7a442acf0ea6287050054b52564b650e4f49e42e348d6aa38e039e957b1c1", "2026-05-28T23:59:59Z"),
    ("T-TeleSec GlobalRoot Class 2",
     "91e2f5788d5810eba7ba58737de1548a8ecacd014598bc0b143e041b17052552", "2026-05-28T23:59:59Z"),
    ("Certigna Root CA",
     "d48d3d23eedb50a459e55197601c27774b9d7b18c94d5a059511a10250b93168", "2026-06-14T23:59:59Z"),
    ("SSL.com Root Certification Authority ECC",
     "3417bb06cc6007da1b961c920b8ab4ce3fad820e4aa30b9acbc4a74ebdcebc65", "2026-06-14T23:59:59Z"),
    ("TWCA Global Root CA",
     "59769007f7685d0fcd50872f9f95d5755a5b2b457d81f3692b610a98672f0e1b", "2026-09-14T23:59:59Z"),
]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(cn: str, issuer: str, not_before: datetime, *, ca: bool,
              key: ec.EllipticCurvePrivateKey = KEY) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_before + timedelta(days=200))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = (builder
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False))
    return builder.sign(key, hashes.SHA256())


def leaf(not_before: datetime) -> x509.Certificate:
    return make_cert("d.example.test", "d.example.test", not_before, ca=False)


def tls_sct(moment: datetime) -> str:
    """An RFC 6962 SCT (TLS extension form) whose timestamp is ``moment``."""
    millis = int(moment.timestamp() * 1000)
    return base64.b64encode(b"\x00" + b"\x22" * 32 + struct.pack("!Q", millis) + b"\x00\x00"
                            ).decode()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def real_root(sha: str) -> x509.Certificate:
    if sha not in BUNDLE:
        pytest.fail(f"the certifi bundle ({certifi.where()}) no longer holds root {sha}")
    return BUNDLE[sha]


def rule_ids(found) -> set[str]:
    return {f.rule_id for f in found}


# --------------------------------------------------------------------------- Chrome cut-offs


@pytest.mark.parametrize(("name", "sha", "cutoff"), CHROME_CUTOFFS,
                         ids=[c[0] for c in CHROME_CUTOFFS])
def test_chrome_cutoff_before_on_and_after(name, sha, cutoff):
    """Earliest SCT one second before / on / one second after the cut-off, evaluated 2026-12-02."""
    now = datetime(2026, 12, 2, tzinfo=UTC)
    root = real_root(sha)
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    moment = utc(cutoff)

    def chrome_after(sct: datetime):
        found = distrust_findings([(sha, name)], leaf(sct - timedelta(hours=1)),
                                  [tls_sct(sct)], PROFILE, now)
        by_id = {f.rule_id: f for f in found}
        return by_id.get("ca_distrust_after_chrome")

    assert chrome_after(moment - timedelta(seconds=1)) is None
    assert chrome_after(moment) is None  # on the cut-off instant: not after it
    after = chrome_after(moment + timedelta(seconds=1))
    assert after is not None and after.breaks == ["chrome"]
    entry = after.evidence["events"][0]
    assert entry["cutoff"] == cutoff and entry["kind"] == "sct_after"
    assert entry["issued_basis"] == "earliest SCT"


def test_g4_before_its_cutoff_is_a_scheduled_warning_not_a_pass():
    """On 2026-06-01 a current G4 certificate is fine, but its renewal after 06-30 will not be."""
    now = datetime(2026, 6, 1, tzinfo=UTC)
    found = {f.rule_id: f for f in distrust_findings(
        [(G4, "DigiCert Trusted Root G4")], leaf(datetime(2026, 5, 20, tzinfo=UTC)),
        [tls_sct(datetime(2026, 5, 20, 0, 5, tzinfo=UTC))], PROFILE, now)}
    assert set(found) == {"ca_distrust_scheduled"}
    scheduled = found["ca_distrust_scheduled"]
    assert scheduled.severity == "warning"
    assert scheduled.evidence["days_left"] == 29
    assert scheduled.evidence["events"][0]["date"] == "2026-06-30T23:59:59Z"


def test_shipped_rules_carry_the_textproto_cutoffs():
    index = distrust_by_fingerprint()
    for name, sha, cutoff in CHROME_CUTOFFS:
        chrome = [r for e in index[sha] for r in e.rules if r.platform == "chrome"]
        assert [(r.kind, r.cutoff) for r in chrome] == [("sct_after", utc(cutoff))], name


@pytest.fixture(scope="module")
def digicert_server():
    """Loopback server sending a test leaf (notBefore 2026-07-05) then the real G4 and G2 roots."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert("d.example.test", "d.example.test", datetime(2026, 7, 5, tzinfo=UTC),
                     ca=False, key=key)
    chain = b"".join(c.public_bytes(Encoding.PEM)
                     for c in (cert, real_root(G4), real_root(ASSURED_G2)))
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with serving([ServerSpec("digicert", chain, key_pem)]) as servers:
        yield servers[0].port


def test_served_digicert_roots_through_probe_and_evaluate(digicert_server):
    facts = probe_target(Target("d.example.test", digicert_server, connect_addr="127.0.0.1"),
                         timeout=5)
    assert len(facts.chain) == 3
    result = evaluate(facts, Policy.build(), datetime(2026, 7, 10, tzinfo=UTC))
    found = {f.rule_id: f for f in result.findings}
    after = found["ca_distrust_after_chrome"].evidence["events"]
    assert [(e["sha256"], e["cutoff"]) for e in after] == [(G4, "2026-06-30T23:59:59Z")]
    scheduled = found["ca_distrust_scheduled"].evidence["events"]
    assert [(e["sha256"], e["date"]) for e in scheduled] == [
        (ASSURED_G2, "2026-09-14T23:59:59Z")]


# --------------------------------------------------------------------------- injected events


def events_for(sha: str) -> list[DistrustEvent]:
    return distrust_by_fingerprint()[sha]


@pytest.fixture(scope="module")
def generated_ca():
    """A generated root and intermediate; returns their fingerprints."""
    start = datetime(2010, 1, 1, tzinfo=UTC)
    root = make_cert("Generated Root", "Generated Root", start, ca=True)
    inter = make_cert("Generated Intermediate", "Generated Root", start, ca=True)
    return fingerprint(root), fingerprint(inter)


def with_events(generated_ca, real_sha: str, on: str = "root"):
    root, inter = generated_ca
    sha = root if on == "root" else inter
    table = {sha: events_for(real_sha)}
    chain = [(sha, f"generated {on}"), (inter if on == "root" else root, "other")]

    def run(not_before: datetime, now: datetime):
        return {f.rule_id: f for f in distrust_findings(chain, leaf(not_before), [], PROFILE, now,
                                                        table=table)}
    return run


def test_apple_symantec_partial_then_full(generated_ca):
    """GeoTrust Global CA's events on a generated intermediate; leaf issued 2016-01-15."""
    run = with_events(generated_ca, GEOTRUST_GLOBAL, on="intermediate")
    issued = datetime(2016, 1, 15, tzinfo=UTC)
    # 2017-06-01: nothing is in effect yet on any platform.
    assert set(run(issued, datetime(2017, 6, 1, tzinfo=UTC))) == {"ca_distrust_scheduled"}
    # 2018-09-01: Apple's partial distrust (2018-08-01) and Chrome 66 reject pre-2016-06 certs.
    mid = run(issued, datetime(2018, 9, 1, tzinfo=UTC))
    assert set(mid) == {"ca_distrust_after_apple", "ca_distrust_after_chrome",
                        "ca_distrust_scheduled"}
    apple = mid["ca_distrust_after_apple"].evidence["events"]
    assert [(e["kind"], e["cutoff"], e["issued"], e["issued_basis"]) for e in apple] == [
        ("issued_before", "2016-06-01T00:00:00Z", "2016-01-15T00:00:00Z", "notBefore")]
    # 2020-03-01: Apple's full TLS distrust (2020-02-25) and Chrome 70 (2018-10-16).
    full = run(issued, datetime(2020, 3, 1, tzinfo=UTC))["ca_fully_distrusted"]
    assert full.platforms == ["chrome", "ios"]
    # 2021-11-01: Mozilla (2020-12-01) and Android 12 (2021-10-04) too.
    later = run(issued, datetime(2021, 11, 1, tzinfo=UTC))["ca_fully_distrusted"]
    assert later.platforms == ["android", "chrome", "firefox", "ios"]


def test_apple_symantec_window_and_late_issuance(generated_ca):
    run = with_events(generated_ca, GEOTRUST_GLOBAL)
    # Issued inside 2016-06-01 .. 2017-12-01: Apple's partial stage leaves it alone.
    inside = run(datetime(2017, 1, 10, tzinfo=UTC), datetime(2019, 1, 1, tzinfo=UTC))
    assert "ca_distrust_after_apple" not in inside
    assert inside["ca_fully_distrusted"].platforms == ["chrome"]
    # Issued after 2017-12-01: scheduled before 2018-08-01, distrusted by Apple after it.
    late = datetime(2018, 1, 5, tzinfo=UTC)
    ahead = run(late, datetime(2018, 5, 1, tzinfo=UTC))
    assert "ca_distrust_after_apple" not in ahead
    apple_ahead = [e for e in ahead["ca_distrust_scheduled"].evidence["events"]
                   if e["platform"] == "apple" and e["kind"] == "issued_after"]
    assert [(e["date"], e["days_left"]) for e in apple_ahead] == [("2018-08-01", 92)]
    after = run(late, datetime(2018, 8, 2, tzinfo=UTC))["ca_distrust_after_apple"]
    assert [(e["kind"], e["cutoff"]) for e in after.evidence["events"]] == [
        ("issued_after", "2017-12-01T00:00:00Z")]


def test_dst_root_x3_store_removals_are_dated(generated_ca):
    """The issue's case: a chain under DST Root CA X3 as of 2018-10-15 is not distrusted."""
    run = with_events(generated_ca, DST_X3)
    issued = datetime(2018, 9, 1, tzinfo=UTC)
    assert "ca_fully_distrusted" not in run(issued, datetime(2018, 10, 15, tzinfo=UTC))

    def platforms(now):
        found = run(issued, now)
        return found["ca_fully_distrusted"].platforms if "ca_fully_distrusted" in found else []

    assert platforms(datetime(2021, 12, 12, tzinfo=UTC)) == []
    assert platforms(datetime(2021, 12, 13, tzinfo=UTC)) == ["firefox"]  # NSS, 2021-12-13
    assert platforms(datetime(2022, 1, 30, tzinfo=UTC)) == ["firefox"]
    assert platforms(datetime(2022, 1, 31, tzinfo=UTC)) == ["firefox", "ios"]  # 55219.100.22
    assert platforms(datetime(2023, 10, 3, tzinfo=UTC)) == ["firefox", "ios"]
    assert platforms(datetime(2023, 10, 4, tzinfo=UTC)) == ["android", "firefox", "ios"]  # A14


def test_symantec_as_of_2017_is_not_fully_distrusted(generated_ca):
    run = with_events(generated_ca, GEOTRUST_GLOBAL)
    found = run(datetime(2017, 3, 1, tzinfo=UTC), datetime(2017, 6, 1, tzinfo=UTC))
    assert "ca_fully_distrusted" not in found
    dates = {(e["platform"], e["kind"], e["date"])
             for e in found["ca_distrust_scheduled"].evidence["events"] if e["kind"] == "full"}
    assert dates == {("apple", "full", "2020-02-25"), ("apple", "full", "2023-08-09"),
                     ("android", "full", "2021-10-04"), ("chrome", "full", "2018-10-16"),
                     ("mozilla", "full", "2020-12-01")}


def test_every_apple_and_android_removal_has_a_date():
    undated = [(e.name, r.platform, r.effective) for e in distrust_events() for r in e.rules
               if r.platform in ("apple", "android") and r.kind == "full"
               and r.effective_date is None]
    assert undated == []


@pytest.mark.parametrize(("sha", "platform", "expected"), [
    (DST_X3, "apple", date(2022, 1, 31)),
    (DST_X3, "android", date(2023, 10, 4)),
    (GEOTRUST_GLOBAL, "android", date(2021, 10, 4)),
])
def test_removal_dates_are_the_first_store_without_the_root(sha, platform, expected):
    dates = {r.effective_date for e in events_for(sha) for r in e.rules
             if r.platform == platform and r.kind == "full" and "HT208860" not in r.source}
    assert dates == {expected}
