"""Every rule fires on a targeted case and stays silent on a near miss.

A near miss is the passing side of the rule's boundary (398 days vs 398 days +
1 s, a TLS 1.3 server with or without an ATS suite, a distrust cut-off instant
and the second after it).  Expected results are literals, never recomputed with
the code's own comparison.  Pure evaluation on facts: no network needed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chaingen import (
    CLIENT_AUTH,
    NOW,
    SERVER_AUTH,
    Chain,
    b64,
    intermediate,
    issue,
    key,
    leaf,
    root,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from certcheck.catalog import Profile, load_catalog, load_profiles
from certcheck.evaluate import Policy, evaluate
from certcheck.evaluate.certinfo import fingerprint
from certcheck.evaluate.names import check_host
from certcheck.evaluate.rules.distrust import distrust_findings
from certcheck.evaluate.rules.protocols import protocol_findings
from certcheck.evaluate.trust import TrustStore
from certcheck.miniprogram.config import parse_config
from certcheck.miniprogram.lint import lint
from certcheck.model import Finding, ServerFacts

HOST = "www.example.test"
TESTS = Path(__file__).resolve().parent.parent
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@dataclass
class Setup:
    """A chain, edits to the facts the chain's modern server would produce, and the policy."""

    chain: Chain
    facts: dict
    policy: dict
    now: datetime = NOW
    store: bool = False  # the root is in the platform ("system") store, not --ca-file

    def run(self) -> set[str]:
        facts: ServerFacts = replace(self.chain.facts(), **self.facts)
        roots = list(self.chain.roots)
        trust = TrustStore(system=roots, extra=[]) if self.store else TrustStore([], roots)
        result = evaluate(facts, Policy.build(trust=trust, **self.policy), self.now)
        return {f.rule_id for f in result.findings if not f.suppressed}


_ROOT = root()
_INTER = intermediate("Gen Intermediate", _ROOT)


def chain(host: str = HOST, served_extra: tuple = (), before: tuple = (), cn: str | None = None,
          **leaf_kw: object) -> Chain:
    """root -> intermediate -> leaf (CN ``cn`` or ``host``), extra certificates around it."""
    end = leaf(cn or host, _INTER, **leaf_kw)
    return Chain(host, [end.cert, *before, _INTER.cert, *served_extra], [_ROOT.cert])


def setup(chain_: Chain | None = None, now: datetime = NOW, store: bool = False,
          policy: dict | None = None, **facts: object) -> Setup:
    return Setup(chain_ or chain(), dict(facts), policy or {}, now, store)


def suites(tls12: list[str], tls13: list[str] | None = None, **other: list[str]) -> dict:
    """Facts fields of a server accepting exactly the versions given suites."""
    table = {"TLSv1.2": tls12, **({"TLSv1.3": tls13} if tls13 is not None else {}), **other}
    versions = {v.replace("_", "."): s for v, s in table.items()}
    protocols = {v: v in versions for v in ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")}
    return {
        "protocols": protocols,
        "cipher_suites": versions,
        "groups": {v: ["x25519", "secp256r1"] for v in versions},
        "server_cipher_order": {v: True for v in versions},
    }


GCM = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
CBC_SHA2 = ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"]
RSA_KX = ["TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"]
TLS13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]
ISSUED = NOW - 30 * DAY  # notBefore of every generated leaf unless a case says otherwise


def _other_leaf() -> str:
    return b64(leaf("default.example.test", _INTER))


def _stray(**kw: object) -> x509.Certificate:
    return issue("Stray CA", root("Stray Root", slot=4), ca=True,
                 subject_key=key("ec256", 30), **kw).cert  # type: ignore[arg-type]


def _protocols(**accepted: bool) -> dict:
    base = {"SSLv3": False, "TLSv1.0": False, "TLSv1.1": False, "TLSv1.2": True,
            "TLSv1.3": True}
    return {"protocols": {**base, **{k.replace("_", "."): v for k, v in accepted.items()}}}


def _tls10(tls10: list[str]) -> dict:
    facts = suites([GCM], TLS13, TLSv1_0=tls10)
    return facts


def _no_sni(same: bool) -> Setup:
    c = chain()
    return setup(c, no_sni_leaf=b64(c.leaf) if same else _other_leaf())


def _garbage_second(valid: bool) -> Setup:
    c = chain()
    facts = c.facts()
    second = facts.chain[1] if valid else base64.b64encode(b"\x30\x03\x02\x01\x00").decode()
    return setup(c, chain=[facts.chain[0], second])


def _distrust(hit: bool) -> Setup:
    sha = fingerprint(_INTER.cert) if hit else "00" * 32
    return setup(policy={"distrust": [sha]})


def _sha1_root(on_root: bool) -> Setup:
    """SHA-1 on the intermediate fires; on the root's self-signature it is exempt."""
    anchor = root("SHA1 Root", slot=5, sha1=on_root)
    inter = intermediate("SHA1 Intermediate", anchor, slot=5, sha1=not on_root)
    end = leaf(HOST, inter)
    return setup(Chain(HOST, [end.cert, inter.cert], [anchor.cert]))


def _lifetime(seconds: timedelta, store: bool, not_before: datetime = ISSUED) -> Setup:
    return setup(chain(not_before=not_before, lifetime=seconds), store=store)


CASES: list[tuple[str, Callable[[], Setup], Callable[[], Setup]]] = [
    # rule, fires, near miss
    ("cert_expired", lambda: setup(chain(not_after=NOW - SECOND)),
     lambda: setup(chain(not_after=NOW))),
    ("cert_not_yet_valid", lambda: setup(chain(not_before=NOW + SECOND)),
     lambda: setup(chain(not_before=NOW))),
    # warn_days=30: exactly 30 days left is "within" the warning window
    ("cert_expiring_soon", lambda: setup(chain(not_after=NOW + 30 * DAY),
                                         policy={"warn_days": 30, "crit_days": 7}),
     lambda: setup(chain(not_after=NOW + 30 * DAY + SECOND),
                   policy={"warn_days": 30, "crit_days": 7})),
    ("hostname_mismatch", lambda: setup(chain(cn="www2.example.test")),
     lambda: setup(chain(cn="www2.example.test", san=["www2.example.test", HOST]))),
    ("wildcard_invalid", lambda: setup(chain(host="a.b.example.test", san=["*.*.example.test"])),
     lambda: setup(chain(host="b.example.test", san=["*.example.test"]))),
    ("wildcard_partial_label",
     lambda: setup(chain(host="foo.example.test", san=["f*.example.test"])),
     lambda: setup(chain(host="foo.example.test", san=["*.example.test"]))),
    ("san_missing_or_cn_only", lambda: setup(chain(san=[])),
     lambda: setup(chain(san=[HOST]))),
    ("self_signed_leaf", lambda: setup(Chain(HOST, [leaf(HOST, None).cert], [_ROOT.cert])),
     lambda: setup(Chain(HOST, [leaf(HOST, _ROOT).cert], [_ROOT.cert]))),
    ("untrusted_root", lambda: setup(Chain(HOST, chain().served, [root("Other", slot=6).cert])),
     lambda: setup(Chain(HOST, chain().served, [root("Other", slot=6).cert, _ROOT.cert]))),
    ("chain_incomplete", lambda: setup(Chain(HOST, chain().served[:1], [_ROOT.cert])),
     lambda: setup(chain())),
    # an unrelated certificate sent BEFORE the intermediate is out of order
    ("chain_order", lambda: setup(chain(before=(_stray(),))),
     lambda: setup(chain(served_extra=(_stray(),)))),
    ("chain_includes_root", lambda: setup(chain(served_extra=(_ROOT.cert,))),
     lambda: setup(chain())),
    ("chain_extra_certs", lambda: setup(chain(served_extra=(_stray(),))),
     lambda: setup(chain())),
    ("chain_contains_expired_cert",
     lambda: setup(chain(served_extra=(_stray(not_after=NOW - SECOND),))),
     lambda: setup(chain(served_extra=(_stray(not_after=NOW),)))),
    ("cert_unparseable", lambda: _garbage_second(False), lambda: _garbage_second(True)),
    ("ca_fully_distrusted", lambda: _distrust(True), lambda: _distrust(False)),
    ("sig_hash_weak", lambda: _sha1_root(False), lambda: _sha1_root(True)),
    ("rsa_key_too_small", lambda: setup(chain(subject_key=key("rsa1024"))),
     lambda: setup(chain(subject_key=key("rsa2048")))),
    ("ec_key_too_small_or_curve",
     lambda: setup(chain(subject_key=ec.generate_private_key(ec.SECP256K1()))),
     lambda: setup(chain(subject_key=key("ec256")))),
    ("eku_serverauth_missing", lambda: setup(chain(eku=[CLIENT_AUTH])),
     lambda: setup(chain(eku=[CLIENT_AUTH, SERVER_AUTH]))),
    # Apple: 398 days for leaves of store roots issued since 2020-09-01 (S5, S9)
    ("validity_too_long_apple", lambda: _lifetime(398 * DAY + SECOND, store=True),
     lambda: _lifetime(398 * DAY, store=True)),
    ("validity_too_long_chrome", lambda: _lifetime(398 * DAY + SECOND, store=True),
     lambda: _lifetime(398 * DAY, store=True)),
    # BR: issued from 2026-03-15, at most 200 days counted inclusively (199 d 23:59:59 span)
    ("validity_exceeds_br_schedule", lambda: _lifetime(199 * DAY + 86400 * SECOND, store=True),
     lambda: _lifetime(199 * DAY + 86399 * SECOND, store=True)),
    ("chain_invalid", lambda: _constrained("www.other.test"),
     lambda: _constrained("www.example.test")),
    ("tls12_missing", lambda: setup(**_protocols(TLSv1_2=False)), lambda: setup(**_protocols())),
    ("tls13_only", lambda: setup(**_protocols(TLSv1_2=False)),
     lambda: setup(**_protocols())),
    ("legacy_tls_missing", lambda: setup(**_protocols()),
     lambda: setup(**_protocols(TLSv1_0=True))),
    ("legacy_tls_enabled", lambda: setup(**_protocols(TLSv1_1=True)),
     lambda: setup(**_protocols())),
    ("sslv3_enabled", lambda: setup(**_protocols(SSLv3=True)), lambda: setup(**_protocols())),
    ("sslv2_enabled", lambda: setup(sslv2=True), lambda: setup(sslv2=False)),
    # ATS by TLS 1.3: no ATS suite in TLS 1.2, so TLS 1.3 must offer an ATS TLS 1.3 suite
    ("ats_cipher_missing", lambda: setup(**suites(RSA_KX, ["TLS_AES_128_CCM_SHA256"])),
     lambda: setup(**suites(RSA_KX, ["TLS_AES_128_CCM_SHA256", "TLS_AES_128_GCM_SHA256"]))),
    ("ats_only_cbc_sha2", lambda: setup(**suites(CBC_SHA2, TLS13)),
     lambda: setup(**suites([*CBC_SHA2, GCM], TLS13))),
    ("no_forward_secrecy", lambda: setup(**suites(RSA_KX)),
     lambda: setup(**suites([*RSA_KX, GCM]))),
    ("old_android_cipher_gap", lambda: setup(**_tls10(["TLS_RSA_WITH_3DES_EDE_CBC_SHA"])),
     lambda: setup(**_tls10(["TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"]))),
    ("ecdhe_p256_missing",
     lambda: setup(**{**suites([GCM], TLS13), "groups": {"TLSv1.2": ["x25519", "secp384r1"]}}),
     lambda: setup(**{**suites([GCM], TLS13),
                      "groups": {"TLSv1.2": ["x25519", "secp384r1", "secp256r1"]}})),
    ("ecdsa_only_cert", lambda: setup(**suites([GCM], TLS13)),
     lambda: setup(**suites([GCM, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"], TLS13))),
    ("sni_required", lambda: _no_sni(False), lambda: _no_sni(True)),
    ("dh_params_weak", lambda: setup(dh_params={"TLSv1.2": {"bits": 2047}}),
     lambda: setup(dh_params={"TLSv1.2": {"bits": 2048}})),
    ("anon_or_null_suites",
     lambda: setup(**suites([GCM, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"], TLS13)),
     lambda: setup(**suites([GCM, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"], TLS13))),
    # stapling is judged on scans only; without an OCSP URL there is nothing to staple
    ("ocsp_stapling_absent", lambda: _stapling(ocsp=True),
     lambda: _stapling(ocsp=False)),
    ("must_staple_without_staple", lambda: _stapling(ocsp=True, must_staple=True),
     lambda: _stapling(ocsp=True, must_staple=True, staple=True)),
    # a current iOS client finds no suite it offers: CBC-SHA256 only, no TLS 1.3
    ("client_handshake_fails", lambda: setup(**suites(CBC_SHA2[:1])),
     lambda: setup(**suites([*CBC_SHA2[:1], GCM]))),
    ("weak_ciphers_enabled", lambda: setup(**suites([GCM, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"])),
     lambda: setup(**suites([GCM, "TLS_RSA_WITH_AES_128_CBC_SHA"]))),
]


OCSP_URL = "http://ocsp.example.test/"


def _stapling(ocsp: bool, must_staple: bool = False, staple: bool = False) -> Setup:
    extensions: list[x509.ExtensionType] = []
    if ocsp:
        extensions.append(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(OCSP_URL))]))
    if must_staple:
        extensions.append(x509.TLSFeature([x509.TLSFeatureType.status_request]))
    c = chain(extensions=extensions)
    # Any stapled bytes count as "stapled" for these two rules (their content is CT's).
    return setup(c, source="scan", ocsp_staple=base64.b64encode(b"\x30\x00").decode()
                 if staple else None)


def test_dh_prime_size_boundaries() -> None:
    def severity(bits: int) -> list[str]:
        c = chain()
        facts = replace(c.facts(), dh_params={"TLSv1.2": {"bits": bits}})
        return [f.severity for f in evaluate(facts, c.policy(), NOW).findings
                if f.rule_id == "dh_params_weak"]

    assert {b: severity(b) for b in (1023, 1024, 2047, 2048)} == {
        1023: ["error"], 1024: ["warning"], 2047: ["warning"], 2048: []}


def _constrained(host: str) -> Setup:
    anchor = root("NC Root", slot=7, permitted_dns=["example.test"])
    inter = intermediate("NC Intermediate", anchor, slot=7)
    end = leaf(host, inter)
    return setup(Chain(host, [end.cert, inter.cert], [anchor.cert]))


@pytest.mark.parametrize(("rule", "fires", "near"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires(rule: str, fires: Callable[[], Setup], near: Callable[[], Setup]) -> None:
    assert rule in fires().run()


@pytest.mark.parametrize(("rule", "fires", "near"), CASES, ids=[c[0] for c in CASES])
def test_rule_silent_on_near_miss(rule: str, fires: Callable[[], Setup],
                                  near: Callable[[], Setup]) -> None:
    assert rule not in near().run()


def test_expiring_soon_is_an_error_exactly_at_crit_days() -> None:
    policy = {"warn_days": 30, "crit_days": 7}
    severities = {}
    for label, left in (("at", 7 * DAY), ("after", 7 * DAY + SECOND)):
        c = chain(not_after=NOW + left)
        result = evaluate(c.facts(), c.policy(**policy), NOW)
        severities[label] = [f.severity for f in result.findings
                             if f.rule_id == "cert_expiring_soon"]
    assert severities == {"at": ["error"], "after": ["warning"]}


def test_private_root_two_year_leaf_has_no_apple_lifetime_error() -> None:
    """Issue 20: a --ca-file root is held to 825 days by trustd, not 398."""
    assert "validity_too_long_apple" not in _lifetime(730 * DAY, store=False).run()
    assert "validity_too_long_apple" in _lifetime(826 * DAY, store=False).run()


# -- distrust cut-offs: Entrust G2 (Apple issued_after 2024-11-15T23:59:59Z, Chrome
# sct_after 2024-11-11T23:59:59Z, Mozilla issued_after 2024-11-30T23:59:59Z).

ENTRUST_G2 = "43df5774b03e7fef5fe40d931a7bedf1bb2e6b42738c4e6d3841103d3aa7f339"
PROFILE = load_profiles()["wechat"]


def _distrust_rules(not_before: datetime, now: datetime = datetime(2025, 6, 1, tzinfo=UTC)) -> set:
    end = leaf("d.example.test", None, not_before=not_before, lifetime=40 * DAY)
    return {f.rule_id for f in distrust_findings([(ENTRUST_G2, "root")], end.cert, [],
                                                 PROFILE, now)}


@pytest.mark.parametrize(
    ("rule", "cutoff"),
    [
        ("ca_distrust_after_apple", datetime(2024, 11, 15, 23, 59, 59, tzinfo=UTC)),
        ("ca_distrust_after_chrome", datetime(2024, 11, 11, 23, 59, 59, tzinfo=UTC)),
        ("ca_distrust_after_mozilla", datetime(2024, 11, 30, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_distrust_cutoff_instant(rule: str, cutoff: datetime) -> None:
    seen = {
        "before": rule in _distrust_rules(cutoff - SECOND),
        "at": rule in _distrust_rules(cutoff),
        "after": rule in _distrust_rules(cutoff + SECOND),
    }
    assert seen == {"before": False, "at": False, "after": True}


def test_distrust_scheduled_until_the_full_removal() -> None:
    # Mozilla removes G2 fully on 2026-04-09: scheduled the day before, not the day after.
    issued = datetime(2024, 11, 1, tzinfo=UTC)
    assert "ca_distrust_scheduled" in _distrust_rules(issued, datetime(2026, 4, 8, tzinfo=UTC))
    assert "ca_distrust_scheduled" not in _distrust_rules(issued,
                                                          datetime(2026, 4, 10, tzinfo=UTC))


# -- the mini-program ICP reminder


def _icp(**fields: object) -> set[str]:
    config = parse_config(fields, "test")
    return {f.rule_id for f in lint(config).findings}


def test_mp_icp_unverified_fires_for_a_domain() -> None:
    found = _icp(requestdomain=["https://a.example.com"])
    assert "mp_icp_unverified" in found
    assert "host_is_ip" not in found  # its near miss: a name, not an address


def test_mp_icp_unverified_silent_without_any_domain() -> None:
    # Only an IP entry (rejected) and a prefetch name: no accepted domain to file.
    found = _icp(requestdomain=["https://10.0.0.1"], prefetchdomain=["a.example.com"])
    assert "mp_icp_unverified" not in found
    assert "host_is_ip" in found


def test_mp_icp_unverified_silent_for_a_host_app_without_icp() -> None:
    config = parse_config({"requestdomain": ["https://a.example.com"]}, "test", host_app="tcsas")
    assert "mp_icp_unverified" not in {f.rule_id for f in lint(config).findings}


# -- every catalog rule is shown firing by some test


#: rules this file asserts firing outside CASES (the distrust cut-off tests)
FIRED_ELSEWHERE_HERE = frozenset(
    {"ca_distrust_after_apple", "ca_distrust_after_chrome", "ca_distrust_after_mozilla",
     "ca_distrust_scheduled", "mp_icp_unverified"}
)


def _fire_asserted(rule: str, texts: dict[str, str]) -> bool:
    """Asserted here, or named by another test file in a line that is not a negative check.

    A grep, so a heuristic: other test files hold their expected rule ids in
    assert lines, parametrize tables and expected lists.
    """
    if rule in {c[0] for c in CASES} | FIRED_ELSEWHERE_HERE:
        return True
    quoted = re.compile(rf"""["']{re.escape(rule)}["']""")
    return any(
        quoted.search(line) and "not in" not in line and "!=" not in line
        for name, text in texts.items()
        if name != Path(__file__).name
        for line in text.splitlines()
    )


def test_every_catalog_rule_is_asserted_to_fire_somewhere() -> None:
    texts = {p.name: p.read_text() for p in TESTS.rglob("test_*.py")}
    missing = sorted(r for r in load_catalog() if not _fire_asserted(r, texts))
    assert missing == []


def test_the_leaf_subject_matches_the_host() -> None:
    """Sanity of this file's helper: the leaf's CN is the host unless a SAN is given."""
    c = chain()
    cn = c.leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == HOST and c.leaf.signature_hash_algorithm.name == hashes.SHA256().name


# -- protocol rules: evidence, the profile's severity, and unknown is no evidence


def _protocol(profile: Profile | None = None, **accepted: bool | None) -> dict[str, Finding]:
    versions = {k.replace("_", "."): v for k, v in accepted.items()}
    facts = replace(chain().facts(), protocols=versions)
    found = protocol_findings(facts, profile or PROFILE)
    return {f.rule_id: f for f in found}


def test_protocol_findings_carry_what_was_accepted() -> None:
    only13 = _protocol(TLSv1_0=False, TLSv1_1=False, TLSv1_2=False, TLSv1_3=True)
    assert only13["tls12_missing"].evidence == {"accepted": ["TLSv1.3"]}
    assert only13["tls13_only"].evidence == {"accepted": ["TLSv1.3"]}
    assert only13["legacy_tls_missing"].evidence == {"accepted": ["TLSv1.3"],
                                                     "refused": "TLSv1.0"}
    old = _protocol(TLSv1_0=True, TLSv1_1=True, TLSv1_2=True, TLSv1_3=False)
    assert old["legacy_tls_enabled"].evidence == {
        "accepted": ["TLSv1.0", "TLSv1.1", "TLSv1.2"], "legacy": ["TLSv1.0", "TLSv1.1"]}


def test_protocol_findings_take_the_profiles_severity() -> None:
    custom = Profile(name="custom", description="", warn_days=30, crit_days=7,
                     severity={"tls12_missing": "warning", "tls13_only": "info",
                               "legacy_tls_missing": "info"})
    found = _protocol(custom, TLSv1_0=False, TLSv1_1=False, TLSv1_2=False, TLSv1_3=True)
    assert {r: f.severity for r, f in found.items()} == {
        "tls12_missing": "warning", "tls13_only": "info", "legacy_tls_missing": "info"}
    strict = _protocol(load_profiles()["strict"], TLSv1_0=True, TLSv1_2=True, TLSv1_3=True)
    assert strict["legacy_tls_enabled"].severity == "warning"


def test_unknown_tls12_is_no_evidence_for_any_protocol_rule() -> None:
    assert _protocol(TLSv1_0=False, TLSv1_2=None, TLSv1_3=True) == {}


# -- host name matching: the boundaries a mutation run (names.py) showed unpinned


@pytest.mark.parametrize(
    ("host", "sans", "matched"),
    [
        ("a.other.test", ["*.example.test"], False),  # same depth, other parent
        ("xn--bcher-kva.example.test", ["*.example.test"], True),  # A-label, whole label
        ("xn--bcher-kva.example.test", ["x*.example.test"], False),  # RFC 6125 §6.4.3
        ("aba.example.test", ["ab*ba.example.test"], False),  # prefix and suffix overlap
        ("abba.example.test", ["ab*ba.example.test"], True),
        ("www.example.test", ["*.*.example.test", "www.example.test"], True),  # after a bad one
        ("API.EXAMPLE.BOX.", ["api.example.box"], True),  # case and the root dot
    ],
    ids=["other-parent", "a-label-full-wildcard", "a-label-partial", "overlap", "no-overlap",
         "after-malformed", "case-and-dot"],
)
def test_host_matching_boundaries(host: str, sans: list[str], matched: bool) -> None:
    assert check_host(host, sans, []).matched is matched


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("*.*.example.test", "more than one '*'"),
        ("www.*.example.test", "'*' is not in the left-most label"),
        ("*.test", "wildcard directly under a top-level domain"),
    ],
)
def test_malformed_wildcards_say_why(pattern: str, why: str) -> None:
    assert check_host("a.example.test", [pattern], []).malformed_wildcards == [
        f"{pattern} ({why})"]
