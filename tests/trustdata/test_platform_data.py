"""The platform fact tables in rules/ and their loader, certcheck.platforms.

Fingerprints are checked against real DER copies: tests/data/public_roots.pem
(public roots copied from Mozilla-derived ca-certificates) and the installed
certifi bundle.  No network.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import warnings
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from paths import DATA

from certcheck import platforms
from certcheck.core.tls import CIPHER_NAMES
from certcheck.model import PROTOCOLS

DATA = DATA
ISRG_X1 = "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6"
ISRG_X2 = "69729b8e15a86efc177a57afb7171dfc64add28c2fca8cf1507e34453ccb1470"
DST_X3 = "0687260331a72403d909f105e69bcf0d32e1bd2493ffc6d9206d11bcd6770739"
ENTRUST_2006 = "73c176434f1bc6d5adf45b0e76e727287c8de57616c1e6e6141a2b2cbc7d8e4c"
NETLOCK_ARANY = "6c61dac3a2def031506be036d2a6fe401994fbd13df9c8d466599274c446ec98"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def load_pems(path: str | Path) -> list[x509.Certificate]:
    with warnings.catch_warnings():
        # certifi holds an old root with a non-positive serial number.
        warnings.simplefilter("ignore")
        return x509.load_pem_x509_certificates(Path(path).read_bytes())


def names_of(cert: x509.Certificate) -> set[str]:
    """Subject CN, O and OU values: the ways the tables name a certificate."""
    oids = (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME)
    return {str(a.value) for oid in oids for a in cert.subject.get_attributes_for_oid(oid)}


def read_tsv(name: str) -> list[dict[str, str]]:
    text = resources.files("certcheck.rules").joinpath("platforms", name).read_text("utf-8")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:]]


# --------------------------------------------------------------------------- root stores


def test_isrg_root_x1_first_trusted_on_android_7_1():
    info = platforms.root_info(ISRG_X1)
    assert info is not None and info.name == "ISRG Root X1"
    assert info.android_first_api == 25 and info.android_last_api is None
    assert platforms.android_first_trusting_version(ISRG_X1) == "7.1"
    assert ISRG_X1 not in platforms.android_store(24)
    assert ISRG_X1 in platforms.android_store(25)
    assert ISRG_X1 in platforms.android_store(34)
    assert info.apple_status == "trusted" and ISRG_X1 in platforms.apple_store()


def test_dst_root_ca_x3_expired_but_kept_by_android_13():
    info = platforms.root_info(DST_X3)
    assert info is not None and info.name == "DST Root CA X3"
    assert info.not_after is not None and info.not_after.startswith("2021-09-30")
    assert DST_X3 in platforms.android_store(33)
    assert DST_X3 not in platforms.android_store(34)
    assert info.apple_status != "trusted" and DST_X3 not in platforms.apple_store()


def test_isrg_root_x2_missing_before_android_14():
    low, _ = platforms.android_known_api_range()
    assert all(ISRG_X2 not in platforms.android_store(api) for api in range(low, 34))
    assert ISRG_X2 in platforms.android_store(34)
    assert platforms.android_first_trusting_version(ISRG_X2) == "14"


def test_root_info_lookup_forms_and_unknown():
    upper_colons = ":".join(ISRG_X1.upper()[i : i + 2] for i in range(0, 64, 2))
    assert platforms.root_info(upper_colons) == platforms.root_info(ISRG_X1)
    assert platforms.root_info("00" * 32) is None
    assert platforms.android_first_trusting_version("00" * 32) is None


def test_known_api_range_and_snapshot_choice():
    assert platforms.android_known_api_range() == (9, 36)
    assert platforms.android_snapshot_for_api(35) == "15"
    assert platforms.android_snapshot_for_api(36) == "16"
    assert platforms.android_snapshot_for_api(10) == "2.3.6"  # newest of three API-10 states
    assert platforms.android_snapshot_for_api(19) == "4.4.3"
    assert platforms.android_snapshot_for_api(33) == "13-2023-09"
    # uncovered levels inside the range use the preceding snapshot
    assert platforms.android_snapshot_for_api(12) == "2.3.6"
    assert platforms.android_snapshot_for_api(20) == "4.4.3"
    assert platforms.android_snapshot_for_api(32) == "12"
    for outside in (8, 37):
        with pytest.raises(ValueError, match="outside the store data"):
            platforms.android_store(outside)


def test_android_store_sizes_match_the_snapshot_table():
    for row in read_tsv("android_versions.tsv"):
        api = int(row["api_max"])
        if platforms.android_snapshot_for_api(api) == row["label"]:
            assert len(platforms.android_store(api)) == int(row["roots"]), row["label"]


def test_android_api_columns_agree_with_present_in():
    versions = {
        r["label"]: (int(r["api_min"]), int(r["api_max"])) for r in read_tsv("android_versions.tsv")
    }
    newest = list(versions)[-1]
    rows = read_tsv("android_roots.tsv")
    assert len(rows) == 299
    for row in rows:
        info = platforms.root_info(row["sha256"])
        assert info is not None and info.android_present_in
        assert info.android_first_api == versions[info.android_present_in[0]][0]
        last = info.android_present_in[-1]
        expected_last = None if last == newest else versions[last][1]
        assert info.android_last_api == expected_last, row["sha256"]


def test_apple_store_is_the_trusted_rows():
    rows = read_tsv("apple_roots.tsv")
    assert len(rows) == 488  # tags from 10.10.3 on (apple_versions.tsv)
    trusted = {r["sha256"] for r in rows if r["status"] == "trusted"}
    assert len(trusted) == 156
    assert platforms.apple_store() == trusted
    assert {r["status"] for r in rows} == {"trusted", "removed", "distrusted"}


def test_roots_by_subject_finds_both_stores():
    info = platforms.root_info(ISRG_X1)
    assert info is not None
    assert ISRG_X1 in platforms.roots_by_subject(info.subject)
    assert platforms.roots_by_subject("CN=nobody") == ()


def test_public_root_pems_match_the_tables():
    """Hash real DER copies: fingerprints, names and subjects in rules/ must agree."""
    certs = load_pems(DATA / "public_roots.pem")
    assert len(certs) == 19
    index = platforms.distrust_by_fingerprint()
    events_seen = set()
    for cert in certs:
        sha = sha256_of(cert)
        info = platforms.root_info(sha)
        assert info is not None, cert.subject.rfc4514_string()
        assert info.subject == cert.subject.rfc4514_string()
        if sha in (ISRG_X1, ISRG_X2):
            continue
        assert sha in index, cert.subject.rfc4514_string()
        for event in index[sha]:
            listed = dict(event.certificates)[sha]
            assert any(part.strip() in names_of(cert) for part in listed.split(" / ")), listed
            events_seen.add(event.name)
    assert {
        "Entrust / AffirmTrust (2024)",
        "TrustCor (2022-2023)",
        "E-Tugra (2023)",
        "Chunghwa Telecom / NetLock (2025)",
        "GLOBALTRUST 2020 (2024)",
    } <= events_seen


def test_certifi_roots_agree_with_the_tables():
    """Roots in the installed certifi bundle have the subject the tables record for them."""
    certs = {sha256_of(c): c for c in load_pems(certifi.where())}
    assert ISRG_X1 in certs
    matched = 0
    for sha, cert in certs.items():
        info = platforms.root_info(sha)
        if info is not None:
            assert info.subject == cert.subject.rfc4514_string()
            matched += 1
    assert matched >= 80
    index = platforms.distrust_by_fingerprint()
    for sha in certs.keys() & index.keys():  # e.g. NetLock Arany, HiPKI Root CA - G1
        for event in index[sha]:
            listed = dict(event.certificates)[sha]
            assert any(part.strip() in names_of(certs[sha]) for part in listed.split(" / "))


# --------------------------------------------------------------------------- distrust

EVENTS = platforms.distrust_events()


def _event_id(event: platforms.DistrustEvent) -> str:
    return f"{event.name} [{event.certificates[0][1]}]"


@pytest.mark.parametrize("event", EVENTS, ids=[_event_id(e) for e in EVENTS])
def test_distrust_event_is_well_formed(event):
    assert event.certificates
    for sha, name in event.certificates:
        assert HEX64.match(sha) and name
    assert event.source.startswith("https://")
    assert event.rules
    for rule in event.rules:
        assert rule.platform in {"apple", "android", "chrome", "mozilla", "microsoft"}
        assert rule.kind in {"full", "issued_after", "sct_after", "issued_before"}
        if rule.kind == "full":
            assert rule.cutoff is None
        else:
            assert isinstance(rule.cutoff, datetime) and rule.cutoff.utcoffset() is not None
            assert rule.cutoff.utcoffset().total_seconds() == 0
        assert rule.effective
        assert rule.effective_date is None or type(rule.effective_date) is date
        assert rule.source.startswith("https://")


def test_distrust_event_names_and_counts():
    names = {e.name for e in EVENTS}
    assert names == {
        "DigiNotar compromise (2011)",
        "WoSign / StartCom (2016-2017)",
        "CNNIC (2015)",
        "Certinomis (2019)",
        "Symantec legacy PKI (2017-2021)",
        "TrustCor (2022-2023)",
        "Camerfirma (2021-2024)",
        "Entrust / AffirmTrust (2024)",
        "Chunghwa Telecom / NetLock (2025)",
        "GLOBALTRUST 2020 (2024)",
        "E-Tugra (2023)",
        "DST Root CA X3 expiry (2021-09-30)",
        "Buypass Class 2/3 Root CA (Chrome, 2025)",
        "Izenpe.com (Chrome, 2026)",
        "D-TRUST Root Class 3 CA 2 2009 / EV 2009 (Chrome, 2026)",
        "T-TeleSec GlobalRoot Class 2/3 (Chrome, 2026)",
        "Certigna Root CA (Chrome, 2026)",
        "SSL.com legacy roots (Chrome, 2026)",
        "DigiCert multipurpose roots G4 / Assured ID G2, G3 (Chrome, 2026)",
        "TWCA Global Root CA (Chrome, 2026)",
        "SwissSign RSA TLS Root CA 2022 - 1 (Chrome, 2027)",
        "D-TRUST 2020 / 2023 roots (Chrome, 2027)",
        "Telekom Security TLS roots 2020 / 2023 (Chrome, 2027)",
    }
    # 246 facts of the compiled table (minus the superseded row) + 23 Chrome cut-offs of
    # root_store.textproto version_major 36 + 3 Apple HT208860 rules x 15 Symantec roots
    assert sum(len(e.rules) * len(e.certificates) for e in EVENTS) == 314
    index = platforms.distrust_by_fingerprint()
    assert all(len({e.name for e in events}) == len(events) for events in index.values())


def test_entrust_rules_per_platform():
    (event,) = platforms.distrust_by_fingerprint()[ENTRUST_2006]
    by_platform = {(r.platform, r.kind): r for r in event.rules}
    chrome = by_platform["chrome", "sct_after"]
    assert chrome.cutoff == datetime(2024, 11, 11, 23, 59, 59, tzinfo=UTC)
    assert "131" in chrome.effective and chrome.effective_date == date(2024, 11, 12)
    assert by_platform["apple", "issued_after"].cutoff == datetime(
        2024, 11, 15, 23, 59, 59, tzinfo=UTC
    )
    assert by_platform["mozilla", "issued_after"].cutoff == datetime(
        2024, 11, 30, 23, 59, 59, tzinfo=UTC
    )
    assert ("mozilla", "full") not in by_platform  # the 2006 root keeps its distrust-after only


def test_chunghwa_superseded_mozilla_removal_is_left_out():
    epki = "c0a6f4dc63a24bfdcf54ef2a6a082a0a72de35803e2ff5ff527ae5d87206dfd5"
    (event,) = platforms.distrust_by_fingerprint()[epki]
    mozilla = [r for r in event.rules if r.platform == "mozilla"]
    assert [(r.kind, r.cutoff) for r in mozilla] == [
        ("issued_after", datetime(2025, 4, 15, 23, 59, 59, tzinfo=UTC))
    ]
    (netlock,) = platforms.distrust_by_fingerprint()[NETLOCK_ARANY]
    assert [(r.platform, r.kind) for r in netlock.rules] == [("chrome", "sct_after")]


def test_symantec_chrome_stages():
    geotrust = "ff856a2d251dcd88d36656f450126798cfabaade40799c722de4d2b5db36a73a"
    (event,) = platforms.distrust_by_fingerprint()[geotrust]
    chrome = [(r.kind, r.cutoff, r.effective_date) for r in event.rules if r.platform == "chrome"]
    assert chrome == [
        ("issued_before", datetime(2016, 6, 1, tzinfo=UTC), date(2018, 4, 17)),
        ("full", None, date(2018, 10, 16)),
    ]


def test_android_distrust_rows_agree_with_the_store():
    """An android 'full' rule says the root is gone from the store from that API level on."""
    checked = 0
    for event in EVENTS:
        for rule in event.rules:
            if rule.platform != "android":
                continue
            match = re.search(r"\(API (\d+)\+\)", rule.effective)
            assert match, rule.effective
            api = int(match.group(1))
            for sha, _ in event.certificates:
                assert sha not in platforms.android_store(api)
                checked += 1
    assert checked >= 30


# --------------------------------------------------------------------------- clients

PROFILES = platforms.client_profiles()
SCSV = {"TLS_EMPTY_RENEGOTIATION_INFO_SCSV", "TLS_FALLBACK_SCSV"}
IANA_TLS12 = re.compile(r"^TLS_[A-Z0-9]+(?:_[A-Z0-9]+)*_WITH_[A-Z0-9]+(?:_[A-Z0-9]+)*$")
IANA_TLS13 = {
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
}


def test_client_profile_count_and_ids():
    assert len(PROFILES) == 37
    ids = {p.id for p in PROFILES}
    assert len(ids) == 37
    # the profiles issue 3 asks for (gaps: Android 7.1.1, 8.0, iOS 11 have no capture)
    assert {
        "android_2_3_7",
        "android_4_0_4",
        "android_4_1_1",
        "android_4_2_2",
        "android_4_3",
        "android_4_4_2",
        "android_5_0_0",
        "android_6_0",
        "android_7_0",
        "android_8_1",
        "android_9",
        "android_10",
        "android_14",
        "ios_9_safari",
        "ios_10_safari",
        "ios_12_safari",
        "ios_13_safari",
        "ios_16_safari",
        "ios_17_safari",
        "apple_ats_ios9",
        "apple_ats_ios15_4",
        "java_8u161",
        "chrome_current",
        "firefox_current",
    } <= ids


@pytest.mark.parametrize("profile", PROFILES, ids=[p.id for p in PROFILES])
def test_client_profile_is_consistent(profile):
    assert profile.protocols and set(profile.protocols) <= set(PROTOCOLS)
    assert profile.cipher_suites or profile.tls13_cipher_suites
    assert len(set(profile.cipher_suites)) == len(profile.cipher_suites)
    assert bool(profile.tls13_cipher_suites) == ("TLSv1.3" in profile.protocols)
    assert set(profile.tls13_cipher_suites) <= IANA_TLS13
    if any("_ECDHE_" in s for s in profile.cipher_suites):
        assert profile.supported_groups, "ECDHE offered without supported_groups"
    assert not (profile.current and profile.legacy)
    assert profile.source.startswith("https://")
    api = platforms.android_api(profile.root_store)
    if profile.platform == "android":
        low, high = platforms.android_known_api_range()
        # Releases newer than the store data (Android 15, 16) use the newest store.
        assert low <= api <= high
        assert api == profile.api_level or (api == high and profile.api_level > high)
        assert not profile.fetches_aia
    else:
        assert api is None and profile.api_level is None
        assert profile.root_store in {"apple", "mozilla", "chrome", "java"} or (
            platforms.apple_release(profile.root_store) is not None
        )
    if profile.platform == "ios":
        assert profile.root_store.partition(":")[0] == "apple" and profile.fetches_aia
    if profile.ats:
        assert profile.platform == "ios" and profile.requires_sha2
        assert set(profile.protocols) <= {"TLSv1.2", "TLSv1.3"}
        assert profile.min_rsa_bits == 2048 and profile.min_ecdsa_bits == 256
        assert all("_ECDHE_" in s for s in profile.cipher_suites if s not in SCSV)
    if not profile.sni:
        assert profile.legacy


def test_client_cipher_suite_names_are_iana():
    """Names must have the IANA form; names the probe's table lacks are reported, not failed."""
    known = set(CIPHER_NAMES.values())
    unknown_to_probe = set()
    for profile in PROFILES:
        for suite in profile.cipher_suites:
            assert suite in known or suite in SCSV or IANA_TLS12.match(suite), suite
            if suite not in known:
                unknown_to_probe.add(suite)
        assert set(profile.tls13_cipher_suites) <= known | IANA_TLS13
    if unknown_to_probe:
        warnings.warn(
            f"{len(unknown_to_probe)} client cipher suites are not in core.tls.CIPHER_NAMES: "
            + ", ".join(sorted(unknown_to_probe)),
            stacklevel=1,
        )


def test_android_snapshot_matches_api_level():
    versions = {
        r["label"]: (int(r["api_min"]), int(r["api_max"])) for r in read_tsv("android_versions.tsv")
    }
    for profile in PROFILES:
        if profile.platform == "android":
            low, high = versions[profile.android_store_snapshot]
            newest = max(h for _, h in versions.values())
            assert low <= profile.api_level <= high or (
                high == newest and profile.api_level > newest
            ), profile.id


def test_current_and_legacy_flags():
    by_id = {p.id: p for p in PROFILES}
    assert by_id["android_10"].current and by_id["android_14"].current
    assert by_id["ios_15_safari"].current and by_id["chrome_current"].current
    assert not by_id["android_9"].current and not by_id["android_9"].legacy
    assert by_id["android_6_0"].legacy and by_id["android_2_3_7"].legacy
    assert not by_id["android_7_0"].legacy  # API 24: the android platform key, not legacy
    assert by_id["ios_17_safari"].requires_sha2  # Apple: SHA-1 not trusted since iOS 13


# --------------------------------------------------------------------------- sources


def _rules_files() -> list[str]:
    root = resources.files("certcheck.rules")
    found: list[str] = []

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            if child.name == "__pycache__":
                continue
            rel = prefix + child.name
            if child.is_dir():
                walk(child, rel + "/")
            elif rel not in {"__init__.py", "sources.toml"}:
                found.append(rel)

    walk(root, "")
    return found


def test_data_sources_cover_every_file_in_rules():
    sources = platforms.data_sources()
    files = _rules_files()
    assert {
        "distrusted_cas.toml",
        "clients.toml",
        "platforms/android_roots.tsv",
        "platforms/apple_roots.tsv",
    } <= set(files)
    for name in files:
        assert any(fnmatch.fnmatchcase(name, s.file) for s in sources), f"{name}: no sources.toml"
    for source in sources:
        assert any(fnmatch.fnmatchcase(name, source.file) for name in files), source.file
        assert source.description and source.sources
        assert type(source.snapshot) is date
    by_file = {s.file: s.snapshot for s in sources}
    assert by_file["platforms/apple_roots.tsv"] == date(2025, 10, 16)
    assert by_file["platforms/android_roots.tsv"] == date(2025, 1, 2)
    assert by_file["clients.toml"] == date(2026, 6, 25)


# --------------------------------------------------------------------------- bad data


@pytest.fixture
def patched_rules(monkeypatch):
    """Replace one rules/ file's text for the loader; caches are cleared around the test."""
    real = platforms._text

    def patch(name: str, text: str) -> None:
        monkeypatch.setattr(
            platforms, "_text", lambda *parts: text if "/".join(parts) == name else real(*parts)
        )

    caches = (
        platforms.distrust_events,
        platforms._distrust_index,
        platforms.client_profiles,
        platforms.data_sources,
    )
    for fn in caches:
        fn.cache_clear()
    yield patch
    monkeypatch.undo()
    for fn in caches:
        fn.cache_clear()


EVENT = """
[[event]]
name = "Test"
source = "https://example.invalid/"
certificates = [{ sha256 = "%s", type = "root", name = "Test Root" }]
[[event.rules]]
platform = "%s"
kind = "%s"
%s
effective = "now"
source = "https://example.invalid/"
"""


@pytest.mark.parametrize(
    ("sha", "platform", "kind", "extra", "message"),
    [
        ("ab" * 32, "chrome", "issued_after", "", "needs cutoff"),
        ("ab" * 32, "chrome", "full", "cutoff = 2024-01-01T00:00:00Z", "takes no cutoff"),
        ("ab" * 32, "blackberry", "full", "", "unknown platform"),
        ("ab" * 32, "chrome", "partial", "", "unknown kind"),
        ("AB" * 32, "chrome", "full", "", "not a lowercase hex SHA-256"),
        ("ab" * 32, "chrome", "full", 'only = ["cdcdcdcdcd"]', "must match exactly one"),
        ("ab" * 32, "chrome", "issued_after", "cutoff = 2024-01-01", "UTC date-time"),
    ],
)
def test_bad_distrust_data_is_a_clear_error(patched_rules, sha, platform, kind, extra, message):
    patched_rules("distrusted_cas.toml", EVENT % (sha, platform, kind, extra))
    with pytest.raises(platforms.PlatformDataError, match=message):
        platforms.distrust_events()


def test_bad_client_and_sources_data_is_a_clear_error(patched_rules):
    patched_rules("clients.toml", "[[client]]\nid = 'x'\n")
    with pytest.raises(platforms.PlatformDataError, match="missing key"):
        platforms.client_profiles()
    patched_rules(
        "sources.toml",
        "[[table]]\nfile = 'x'\ndescription = 'y'\nsources = []\nsnapshot = 'yesterday'\n",
    )
    with pytest.raises(platforms.PlatformDataError, match="snapshot must be a date"):
        platforms.data_sources()
    patched_rules("clients.toml", "not toml [")
    with pytest.raises(platforms.PlatformDataError, match="rules/clients.toml"):
        platforms.client_profiles()
