"""Chrome Root Store: the root_store.textproto builder, the shipped table, per-client trust.

The parser reads real upstream text (tests/data/upstream/chrome/, see SOURCE.md there);
the trust tests use generated certificates.  Where a chain must end at a tabulated Chrome
anchor, a stand-in root carries that anchor's subject name: the tables hold fingerprints
and names, so a tabulated root that the trust store given to the evaluation lacks is
matched by subject name (as in tests/evaluate/test_simulation.py).
"""

from __future__ import annotations

import base64
import importlib.util
import struct
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paths import DATA, ROOT

from certcheck.evaluate.certinfo import fingerprint
from certcheck.evaluate.client_trust import ChainTrust, chrome_constraint_problem, store_view
from certcheck.evaluate.rules.distrust import Issuance
from certcheck.evaluate.simulation import simulate
from certcheck.evaluate.trust import TrustStore
from certcheck.model import ServerFacts, Target
from certcheck.platforms import (
    ChromeConstraintSet,
    chrome_roots,
    chrome_store,
    distrust_by_fingerprint,
)
from certcheck.trustdata import TrustDataError, builders
from certcheck.trustdata.chrome import (
    COLUMNS,
    UPSTREAM_NAME,
    build,
    make_table,
    parse_root_store,
    render_table,
)
from certcheck.trustdata.update import snapshot_of

DATA = DATA / "upstream" / "chrome"
FULL = (DATA / "root_store.textproto").read_bytes()
EXCERPT = (DATA / "excerpt.textproto").read_bytes()
TABLE = ROOT / "rules" / "platforms" / "chrome_roots.tsv"

NOW = datetime(2026, 6, 1, tzinfo=UTC)
HOST = "api.example.test"
KEY = ec.generate_private_key(ec.SECP256R1())
LEAF_KEY = ec.generate_private_key(ec.SECP256R1())

ISRG_X1 = "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6"
EPKI = "c0a6f4dc63a24bfdcf54ef2a6a082a0a72de35803e2ff5ff527ae5d87206dfd5"
R12 = "131fce7784016899a5a00203a9efc80f18ebbd75580717edc1553580930836ec"
BUYPASS_2 = "9a114025197c5bb95d94e63d55cd43790847b646b23cdf11ada4a00eff15fb48"
#: removed from the Chrome Root Store (Entrust distrust, Chrome 131+); in version 17 still listed
ENTRUST_ROOT = "73c176434f1bc6d5adf45b0e76e727287c8de57616c1e6e6141a2b2cbc7d8e4c"
AFFIRMTRUST_COMMERCIAL = "0376ab1d54c5f9803ce4b2e201a0ee7eef7b57b636e8a93c9b8d4860c96f5fa7"


# --------------------------------------------------------------------------- helpers


def name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def cert(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None = None,
    issuer_key: ec.EllipticCurvePrivateKey | None = None,
    *,
    ca: bool = False,
    days: tuple[int, int] = (-10, 80),
    host: str | None = None,
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
    return builder.sign(issuer_key or key, hashes.SHA256())


def b64(*certs: x509.Certificate) -> list[str]:
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in certs]


def tls_sct(moment: datetime) -> str:
    """An RFC 6962 SignedCertificateTimestamp (TLS extension form), base64: v1, log id, time."""
    millis = int(moment.timestamp() * 1000)
    raw = b"\x00" + b"\x42" * 32 + struct.pack("!Q", millis) + b"\x00\x00" + b"\x04\x03\x00\x00"
    return base64.b64encode(raw).decode()


def facts(chain: list[str]) -> ServerFacts:
    return ServerFacts(
        target=Target(HOST, 443),
        scanned_at="2026-06-01T00:00:00Z",
        chain=chain,
        protocols={
            "SSLv3": False,
            "TLSv1.0": False,
            "TLSv1.1": False,
            "TLSv1.2": True,
            "TLSv1.3": True,
        },
        cipher_suites={
            "TLSv1.2": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
            "TLSv1.3": ["TLS_AES_128_GCM_SHA256"],
        },
        groups={"TLSv1.2": ["x25519", "secp256r1"], "TLSv1.3": ["x25519", "secp256r1"]},
        server_cipher_order={"TLSv1.2": True, "TLSv1.3": True},
    )


def regenerate_module():  # noqa: ANN201 - a module object
    spec = importlib.util.spec_from_file_location("chrome_regenerate", DATA / "regenerate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- parser


def test_excerpt_parses_roots_constraints_and_trusted_intermediates() -> None:
    store = parse_root_store(EXCERPT, min_anchors=1)
    assert store.version_major == 36
    by_sha = {a.sha256: a for a in store.anchors}
    # the eutl-only additional cert is not a TLS anchor; the tls_trust_anchor one is
    assert list(by_sha) == [ISRG_X1, EPKI, R12]
    assert (store.trust_anchor_count, store.additional_count, store.mtc_count) == (2, 2, 1)
    isrg = by_sha[ISRG_X1]
    assert (isrg.name, isrg.kind, isrg.constraints, isrg.enforce_expiry) == (
        "ISRG Root X1",
        "root",
        (),
        False,
    )
    assert isrg.subject == "CN=ISRG Root X1, O=Internet Security Research Group, C=US"
    epki = by_sha[EPKI]
    assert epki.name == "ePKI Root Certification Authority"  # no CN: the OU
    assert epki.constraints == (
        "sct_not_after=2025-07-31T23:59:59Z;min_version=139",
        "max_version_exclusive=139",
    )
    r12 = by_sha[R12]
    assert (r12.name, r12.kind, r12.enforce_expiry) == ("R12", "intermediate", True)


def test_excerpt_table_rows() -> None:
    store = parse_root_store(EXCERPT, min_anchors=1)
    text = render_table(store, "test source\nsecond line", date(2026, 1, 2))
    assert snapshot_of(text) == date(2026, 1, 2)
    comments = [ln for ln in text.splitlines() if ln.startswith("#")]
    assert "# Source: test source" in comments and "#   second line" in comments
    assert any("version_major 36: 2 trust_anchors" in ln for ln in comments)
    header, *rows = [ln.split("\t") for ln in text.splitlines() if not ln.startswith("#")]
    assert header == list(COLUMNS)
    assert rows[1] == [
        EPKI,
        "ePKI Root Certification Authority",
        "OU=ePKI Root Certification Authority, O=Chunghwa Telecom Co., Ltd., C=TW",
        "root",
        "",
        "",
        "sct_not_after=2025-07-31T23:59:59Z;min_version=139 | max_version_exclusive=139",
    ]
    assert rows[2][3:6] == ["intermediate", "", "yes"]
    with pytest.raises(TrustDataError, match="only 2 trust_anchors"):
        make_table(EXCERPT, "test source", date(2026, 1, 2))  # the plausibility floor applies


def _cut(data: bytes, anchors: int) -> bytes:
    """The full copy up to (not including) trust_anchors entry number ``anchors + 1``."""
    text = data.decode()
    index = -1
    for _ in range(anchors + 1):
        index = text.index("\ntrust_anchors {", index + 1)
    head = text.rfind("\n\n", 0, index)
    return text[:head].encode() + b"\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no version_major"),
        (b"\x00\xff\xfe binary", "not UTF-8"),
        (b"<html><body>Not Found</body></html>", "cannot read|expected a field name"),
        (b"version_major: 36\n", "no trust_anchors"),
        (b"FASTVC-BENCH-CORPUS:chromium-main-v1\n" + EXCERPT, "expected a field name"),
        (EXCERPT[: EXCERPT.index(b"crs_root_id: 15")], "ends inside a message"),
        (EXCERPT.rstrip()[:-1], "ends inside a message"),
        (b"version_major: 36\ntrust_anchors { sha256_hex: ", "no value"),
        (
            EXCERPT.replace(b"96bcec06264976f3", b"96bcec06264976zz"),
            "not 64 hex digits",
        ),
        (EXCERPT.replace(b"96bcec06264976f37460779a", b"96bcec06"), "not 64 hex digits"),
        (EXCERPT.replace(EPKI.encode(), ISRG_X1.encode()), "listed twice"),
        (EXCERPT.replace(b"sct_not_after_sec", b"sct_maybe_after_sec"), "unknown constraint"),
        (EXCERPT.replace(b"1754006399", b"soon"), "not an integer"),
        (EXCERPT.replace(b'min_version: "139"', b'min_version: "M139"'), "not a Chrome version"),
        (EXCERPT.replace(b"version_major: 36", b"version_major: thirty"), "not an integer"),
        (EXCERPT.replace(b'\\x82\\xdf\\x13\\x02\\x01"', b'\\q"'), "unknown escape"),
    ],
)
def test_garbage_and_truncated_input_is_a_trust_data_error(data: bytes, message: str) -> None:
    with pytest.raises(TrustDataError, match=message):
        parse_root_store(data, min_anchors=1)


def test_far_fewer_anchors_than_plausible_is_refused() -> None:
    short = _cut(FULL, 30)
    assert parse_root_store(short, min_anchors=1).trust_anchor_count == 30  # well-formed
    with pytest.raises(TrustDataError, match="only 30 trust_anchors"):
        build({UPSTREAM_NAME: short})
    with pytest.raises(TrustDataError, match="missing"):
        build({})


def test_builder_is_registered_for_the_table() -> None:
    builder = builders()["platforms/chrome_roots.tsv"]
    assert builder.build is build
    assert [f.name for f in builder.upstream] == [UPSTREAM_NAME]
    assert builder.upstream[0].url.startswith("https://raw.githubusercontent.com/chromium/")
    assert builder.min_rows >= 80
    table = builder.build({UPSTREAM_NAME: FULL})
    assert snapshot_of(table) == datetime.now(UTC).date()  # the file has no date: read today
    rows = [ln for ln in table.splitlines() if ln and not ln.startswith("#")][1:]
    assert len(rows) >= builder.min_rows


# --------------------------------------------------------------------------- shipped table


def test_shipped_table_is_what_the_builder_makes_from_the_upstream_copy() -> None:
    module = regenerate_module()
    assert TABLE.read_text(encoding="utf-8") == make_table(FULL, module.SOURCE, module.SNAPSHOT)
    assert snapshot_of(TABLE.read_text(encoding="utf-8")) == date(2026, 6, 26)
    assert "06cc78ea81729e7e00d99cd8f8701302b436b814" in TABLE.read_text(encoding="utf-8")


def test_shipped_table_rows() -> None:
    roots = chrome_roots()
    assert len(roots) == 121
    assert sum(1 for r in roots.values() if r.kind == "root") == 104
    assert roots[ISRG_X1].name == "ISRG Root X1" and roots[ISRG_X1].constraints == ()
    assert roots[R12].kind == "intermediate" and roots[R12].enforce_expiry
    # removed since version 17 (Entrust, AffirmTrust: Chrome 131+ distrust)
    assert ENTRUST_ROOT not in roots and AFFIRMTRUST_COMMERCIAL not in roots
    (buypass,) = roots[BUYPASS_2].constraints
    assert buypass.sct_not_after == datetime(2025, 10, 31, 23, 59, 59, tzinfo=UTC)
    first, second = roots[EPKI].constraints
    assert (first.min_version, second.max_version_exclusive) == ((139,), (139,))
    assert chrome_store() == frozenset(roots)


def test_every_sct_cut_off_matches_a_chrome_distrust_rule() -> None:
    """rules/distrusted_cas.toml and the table agree on every Chrome SCT cut-off."""
    index = distrust_by_fingerprint()
    checked, missing = 0, []
    for sha, root in chrome_roots().items():
        for cset in root.constraints:
            if cset.sct_not_after is None:
                continue
            checked += 1
            cutoffs = {
                rule.cutoff
                for event in index.get(sha, [])
                for rule in event.rules
                if rule.platform == "chrome" and rule.kind == "sct_after"
            }
            if cset.sct_not_after not in cutoffs:
                missing.append((root.name, cset.sct_not_after.isoformat(), sorted(cutoffs)))
    assert checked >= 20
    assert missing == []


# --------------------------------------------------------------------------- store view


def test_store_view_chrome_uses_the_table_not_certifi() -> None:
    unrelated = cert(name((NameOID.COMMON_NAME, "Only In Mozilla")), KEY, ca=True, days=(-1, 900))
    trust = TrustStore(system=[unrelated])
    chrome = store_view("chrome", trust)
    assert chrome.members == chrome_store()
    assert fingerprint(unrelated) not in (chrome.members or ())
    assert "Mozilla" not in chrome.label and chrome.label == "Chrome Root Store"
    assert chrome.constraints[BUYPASS_2] == chrome_roots()[BUYPASS_2].constraints
    assert ISRG_X1 not in chrome.constraints
    mozilla = store_view("mozilla", trust)
    assert mozilla.members == frozenset({fingerprint(unrelated)})
    assert store_view("chrome", trust, "137").client_version == (137,)
    assert store_view("chrome", trust, "not a version").client_version is None


def test_root_in_mozillas_store_but_not_chromes_is_untrusted_on_chrome() -> None:
    root = cert(name((NameOID.COMMON_NAME, "Mozilla Only Root 2026")), KEY, ca=True, days=(-5, 900))
    leaf = cert(name((NameOID.COMMON_NAME, HOST)), LEAF_KEY, root.subject, KEY, host=HOST)
    results = {r.profile.id: r for r in simulate(facts(b64(leaf)), TrustStore(system=[root]), NOW)}
    assert results["firefox_current"].trust.trust == "ok"
    chrome = results["chrome_current"]
    assert chrome.trust.trust == "untrusted" and chrome.ok is False
    assert "is not in the Chrome Root Store" in (chrome.trust.reason or "")
    # --ca-file roots count in every store, Chrome's included
    vouched = simulate(facts(b64(leaf)), TrustStore(system=[], extra=[root]), NOW)
    assert {r.profile.id: r for r in vouched}["chrome_current"].trust.trust == "ok"


ISRG_NAME = name(
    (NameOID.COUNTRY_NAME, "US"),
    (NameOID.ORGANIZATION_NAME, "Internet Security Research Group"),
    (NameOID.COMMON_NAME, "ISRG Root X1"),
)
BUYPASS_NAME = name(
    (NameOID.COUNTRY_NAME, "NO"),
    (NameOID.ORGANIZATION_NAME, "Buypass AS-983163327"),
    (NameOID.COMMON_NAME, "Buypass Class 2 Root CA"),
)


def _chain_to(root_name: x509.Name, leaf_days: tuple[int, int]) -> list[str]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter_name = name((NameOID.COMMON_NAME, "Stand-in Issuing CA"))
    inter = cert(inter_name, inter_key, root_name, root_key, ca=True, days=(-900, 900))
    leaf = cert(
        name((NameOID.COMMON_NAME, HOST)),
        LEAF_KEY,
        inter_name,
        inter_key,
        days=leaf_days,
        host=HOST,
    )
    return b64(leaf, inter)


def test_chrome_trusts_a_tabulated_anchor_and_applies_its_sct_cut_off() -> None:
    no_roots = TrustStore(system=[], extra=[cert(name((NameOID.COMMON_NAME, "X")), KEY, ca=True)])
    ok = {r.profile.id: r for r in simulate(facts(_chain_to(ISRG_NAME, (-10, 80))), no_roots, NOW)}
    assert ok["chrome_current"].trust.trust == "ok"
    assert ok["chrome_current"].trust.root_sha256 == ISRG_X1
    # Buypass: Chrome trusts certificates issued until 2025-10-31 23:59:59 UTC only.
    late = simulate(facts(_chain_to(BUYPASS_NAME, (-10, 80))), no_roots, NOW)
    chrome = {r.profile.id: r for r in late}["chrome_current"]
    assert chrome.trust.trust == "untrusted"
    assert chrome.trust.root_sha256 == BUYPASS_2
    assert "2025-10-31T23:59:59Z" in (chrome.trust.reason or "")
    assert "notBefore" in (chrome.trust.reason or "")  # no SCT: dated by notBefore
    early = simulate(facts(_chain_to(BUYPASS_NAME, (-400, 80))), no_roots, NOW)  # 2025-04-27
    assert {r.profile.id: r for r in early}["chrome_current"].trust.trust == "ok"


# --------------------------------------------------------------------------- constraints

CUTOFF = datetime(2024, 11, 11, 23, 59, 59, tzinfo=UTC)
SCT_SET = (ChromeConstraintSet(sct_not_after=CUTOFF),)
VERSIONED = (
    ChromeConstraintSet(sct_not_after=CUTOFF, min_version=(131,)),
    ChromeConstraintSet(max_version_exclusive=(131,)),
)
PLAIN_LEAF = cert(name((NameOID.COMMON_NAME, HOST)), LEAF_KEY, host=HOST)


@pytest.mark.parametrize(
    ("moment", "trusted"),
    [
        (CUTOFF - timedelta(seconds=1), True),
        (CUTOFF, True),  # "not after" the cut-off: the cut-off second itself is fine
        (CUTOFF + timedelta(seconds=1), False),
    ],
)
def test_sct_not_after_before_on_after(moment: datetime, trusted: bool) -> None:
    when = Issuance(not_before=datetime(2020, 1, 1, tzinfo=UTC), earliest_sct=moment)
    problem = chrome_constraint_problem(SCT_SET, PLAIN_LEAF, when, None, "Test Root")
    assert (problem is None) is trusted
    if not trusted:
        assert problem is not None and "earliest SCT" in problem and "Test Root" in problem
    # without an SCT the same moment as notBefore decides
    undated = Issuance(not_before=moment, earliest_sct=None)
    problem = chrome_constraint_problem(SCT_SET, PLAIN_LEAF, undated, None, "Test Root")
    assert (problem is None) is trusted


def test_earliest_sct_wins_over_not_before() -> None:
    when = Issuance(not_before=CUTOFF + timedelta(days=30), earliest_sct=CUTOFF - timedelta(1))
    assert chrome_constraint_problem(SCT_SET, PLAIN_LEAF, when, None, "R") is None
    when = Issuance(not_before=CUTOFF - timedelta(days=30), earliest_sct=CUTOFF + timedelta(1))
    assert chrome_constraint_problem(SCT_SET, PLAIN_LEAF, when, None, "R") is not None


def test_version_bound_sets() -> None:
    late = Issuance(not_before=CUTOFF + timedelta(days=10), earliest_sct=CUTOFF + timedelta(1))
    # before M131 the unconstrained second set holds; from M131 (and the newest) the cut-off
    assert chrome_constraint_problem(VERSIONED, PLAIN_LEAF, late, (130, 0, 6723), "R") is None
    for version in ((131,), (137, 0, 1), None):
        problem = chrome_constraint_problem(VERSIONED, PLAIN_LEAF, late, version, "R")
        assert problem is not None and "2024-11-11T23:59:59Z" in problem
        assert "Chrome before" not in problem  # worded from the set meant for this version
    early = replace(late, earliest_sct=CUTOFF - timedelta(days=1))
    assert chrome_constraint_problem(VERSIONED, PLAIN_LEAF, early, (137,), "R") is None


def test_permitted_dns_names() -> None:
    sets = (ChromeConstraintSet(permitted_dns_names=("example.test",)),)
    when = Issuance(not_before=NOW, earliest_sct=None)
    inside = cert(name((NameOID.COMMON_NAME, HOST)), LEAF_KEY, host="api.example.test")
    outside = cert(name((NameOID.COMMON_NAME, HOST)), LEAF_KEY, host="api.example.org")
    assert chrome_constraint_problem(sets, inside, when, None, "R") is None
    problem = chrome_constraint_problem(sets, outside, when, None, "R")
    assert problem is not None and "api.example.org" in problem


def test_chain_trust_applies_constraints_with_tls_scts() -> None:
    """ChainTrust: the anchor's constraint set against the leaf's SCT from the TLS extension."""
    root = cert(name((NameOID.COMMON_NAME, "Constrained Test Root")), KEY, ca=True, days=(-9, 900))
    leaf = cert(name((NameOID.COMMON_NAME, HOST)), LEAF_KEY, root.subject, KEY, host=HOST)
    trust = TrustStore(system=[root])
    base = store_view("mozilla", trust)
    store = replace(base, key="chrome-test", constraints={fingerprint(root): SCT_SET})
    for moment, verdict in ((CUTOFF, "ok"), (CUTOFF + timedelta(seconds=1), "untrusted")):
        chains = ChainTrust([leaf], [], trust, NOW, tls_scts=[tls_sct(moment)])
        outcome = chains.outcome(store, False, leaf)
        assert outcome.trust == verdict
        if verdict == "untrusted":
            assert outcome.missing_root_sha256 == fingerprint(root)
            assert "Chrome Root Store constraint" in (outcome.reason or "")
    # the leaf's notBefore (2026-05-22) is after the cut-off: no SCT, untrusted
    assert ChainTrust([leaf], [], trust, NOW).outcome(store, False, leaf).trust == "untrusted"
    assert ChainTrust([leaf], [], trust, NOW).outcome(base, False, leaf).trust == "ok"


def test_simulation_dates_a_leaf_by_its_tls_extension_sct() -> None:
    """A leaf issued after Buypass's cut-off by notBefore, but whose SCT (sent in the TLS
    extension) predates it: Chrome dates it by the SCT, as the simulation must."""
    no_roots = TrustStore(system=[], extra=[cert(name((NameOID.COMMON_NAME, "X")), KEY, ca=True)])
    chain = _chain_to(BUYPASS_NAME, (-10, 80))
    plain = facts(chain)
    assert {r.profile.id: r for r in simulate(plain, no_roots, NOW)}[
        "chrome_current"
    ].trust.trust == "untrusted"
    with_sct = replace(plain, tls_scts=[tls_sct(datetime(2025, 5, 1, tzinfo=UTC))])
    chrome = {r.profile.id: r for r in simulate(with_sct, no_roots, NOW)}["chrome_current"]
    assert chrome.trust.trust == "ok", chrome.trust.reason
