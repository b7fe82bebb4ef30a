"""certcheck is never more lenient than the WebPKI validator it builds on.

Each case is a generated chain with a hand-written expected outcome.  The test
checks that expectation against ``cryptography.x509.verification`` itself (so
the battery pins the validator's behaviour too), then evaluates the chain with
certcheck: when the validator rejects, certcheck must fail the target with a
path/certificate error and neither iOS nor Android may read "pass"; when it
accepts, certcheck reports no path error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from chaingen import (
    CLIENT_AUTH,
    NO_CERT_SIGN,
    NOW,
    RANDOM_HOSTS,
    SERVER_AUTH,
    Chain,
    Issued,
    Level,
    build_random_chain,
    corrupt_signature,
    cross_sign,
    intermediate,
    issue,
    key,
    leaf,
    levels_strategy,
    name,
    root,
)
from cryptography import x509
from cryptography.x509.verification import DNSName, PolicyBuilder, Store, VerificationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certcheck.evaluate import evaluate
from certcheck.model import TargetResult

HOST = "www.example.test"
#: Findings that say the certificate or its path is not acceptable (as opposed
#: to policy findings such as the Apple lifetime or CT rules).
PATH_RULES = frozenset(
    {
        "untrusted_root",
        "chain_invalid",
        "chain_incomplete",
        "self_signed_leaf",
        "cert_expired",
        "cert_not_yet_valid",
        "hostname_mismatch",
        "wildcard_invalid",
        "san_missing_or_cn_only",
        "sig_hash_weak",
        "rsa_key_too_small",
        "ec_key_too_small_or_curve",
        "eku_serverauth_missing",
        "cert_unparseable",
        "ca_fully_distrusted",
        "ca_key_compromised",
    }
)
#: over trustd's 825 days (+1 h) for any anchor: validity_too_long_apple fires (S5)
LONG = timedelta(days=900)
APPLE_LIFETIME = ("validity_too_long_apple",)


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[], Chain]
    accept: bool
    #: path/certificate errors certcheck rightly adds to a chain the validator
    #: accepts (a platform rule stricter than the WebPKI validator)
    stricter: tuple[str, ...] = ()
    #: policy rules that must fire too: the case is about a path failure beside them
    beside: tuple[str, ...] = ()


def _three(host: str = HOST, root_kw: dict | None = None, inter_kw: dict | None = None,
           **leaf_kw: object) -> Chain:
    """root -> intermediate -> leaf with per-level overrides."""
    anchor = root(**(root_kw or {}))
    inter = intermediate("Gen Intermediate", anchor, **(inter_kw or {}))
    end = leaf(host, inter, **leaf_kw)
    return Chain(host, [end.cert, inter.cert], [anchor.cert])


def _four(root_kw: dict | None = None, upper_kw: dict | None = None,
          lower_kw: dict | None = None, **leaf_kw: object) -> Chain:
    """root -> upper -> lower -> leaf."""
    anchor = root(**(root_kw or {}))
    upper = intermediate("Gen Upper", anchor, slot=1, **(upper_kw or {}))
    lower = intermediate("Gen Lower", upper, slot=2, **(lower_kw or {}))
    end = leaf(HOST, lower, **leaf_kw)
    return Chain(HOST, [end.cert, lower.cert, upper.cert], [anchor.cert])


def _direct(**leaf_kw: object) -> Chain:
    anchor = root()
    end = leaf(HOST, anchor, **leaf_kw)
    return Chain(HOST, [end.cert], [anchor.cert])


def _with(chain: Chain, served: list[x509.Certificate] | None = None,
          roots: list[x509.Certificate] | None = None, host: str | None = None) -> Chain:
    return Chain(host or chain.host, served or chain.served,
                 chain.roots if roots is None else roots, chain.store)


def _bad_sig_leaf() -> Chain:
    chain = _three()
    return _with(chain, [corrupt_signature(chain.leaf), *chain.intermediates])


def _bad_sig_intermediate(**leaf_kw: object) -> Chain:
    chain = _three(**leaf_kw)
    return _with(chain, [chain.leaf, corrupt_signature(chain.intermediates[0])])


def _wrong_issuer_name() -> Chain:
    anchor = root()
    inter = intermediate("Gen Intermediate", anchor)
    end = leaf(HOST, inter, issuer_name=name("Some Other CA"))
    return Chain(HOST, [end.cert, inter.cert], [anchor.cert])


def _missing_intermediate() -> Chain:
    chain = _three()
    return _with(chain, [chain.leaf])


def _self_signed_leaf() -> Chain:
    end = leaf(HOST, None)
    return Chain(HOST, [end.cert], [root().cert])


def _unknown_root(**leaf_kw: object) -> Chain:
    other = root("Other Root", slot=1)
    inter = intermediate("Other Intermediate", other, slot=1)
    end = leaf(HOST, inter, **leaf_kw)
    return Chain(HOST, [end.cert, inter.cert, other.cert], [root().cert])


def _cross_signed(trust_old: bool, trust_new: bool, old_expired: bool = False) -> Chain:
    """leaf <- inter <- New Root; New Root also cross-signed by Old Root (served)."""
    new = root("New Root", slot=2)
    old_kw: dict = {}
    if old_expired:
        old_kw = {"not_before": NOW - timedelta(days=4000), "lifetime": timedelta(days=3000)}
    old = root("Old Root", slot=3, **old_kw)
    cross = cross_sign(new, old)
    inter = intermediate("Gen Intermediate", new, slot=3)
    end = leaf(HOST, inter)
    roots = [c.cert for c, keep in ((old, trust_old), (new, trust_new)) if keep]
    return Chain(HOST, [end.cert, inter.cert, cross.cert], roots)


def _extra_unrelated() -> Chain:
    chain = _three()
    stray = intermediate("Stray CA", root("Stray Root", slot=4), slot=4)
    return _with(chain, [*chain.served, stray.cert])


def _reversed_order() -> Chain:
    chain = _four()
    return _with(chain, [chain.leaf, *reversed(chain.intermediates)])


def _rsa_leaf(kind: str) -> Callable[[], Chain]:
    return lambda: _three(subject_key=key(kind))


def _expired(days_ago: int, lifetime: int = 365) -> dict:
    return {"not_before": NOW - timedelta(days=days_ago + lifetime),
            "lifetime": timedelta(days=lifetime)}


FUTURE = {"not_before": NOW + timedelta(days=10), "lifetime": timedelta(days=1000)}
NC_OK = {"permitted_dns": ["example.test"]}

CASES = [
    # -- accepted chains
    Case("good-three-level", _three, True),
    Case("good-direct-under-root", _direct, True),
    Case("good-four-level", _four, True),
    Case("good-rsa2048-leaf", _rsa_leaf("rsa2048"), True),
    Case("good-p384-leaf", lambda: _three(subject_key=key("ec384")), True),
    Case("good-wildcard", lambda: _three(host="a.example.test", san=["*.example.test"]), True),
    # Apple requires serverAuth in the leaf's EKU; the WebPKI validator accepts no EKU.
    Case("no-eku-leaf", lambda: _three(eku=None), True, ("eku_serverauth_missing",)),
    Case("good-inter-eku-serverauth", lambda: _three(inter_kw={"eku": [SERVER_AUTH]}), True),
    Case("cross-sign-old-root-trusted", lambda: _cross_signed(True, False), True),
    Case("cross-sign-both-trusted", lambda: _cross_signed(True, True), True),
    Case("cross-sign-new-root-old-expired", lambda: _cross_signed(False, True, True), True),
    Case("extra-unrelated-cert", _extra_unrelated, True),
    Case("intermediates-reversed", _reversed_order, True),
    # -- name constraints
    Case("nc-root-permits-ok", lambda: _three(root_kw=NC_OK), True),
    Case("nc-inter-permits-ok", lambda: _three(inter_kw=NC_OK), True),
    Case("nc-root-permits-violated",
         lambda: _three(host="www.other.test", root_kw=NC_OK), False),
    Case("nc-inter-permits-violated",
         lambda: _three(host="www.other.test", inter_kw=NC_OK), False),
    Case("nc-second-san-violates",
         lambda: _three(inter_kw=NC_OK, san=[HOST, "www.evil.test"]), False),
    Case("nc-excluded-violated",
         lambda: _three(host="a.bad.example.test", inter_kw={"excluded_dns": ["bad.example.test"]}),
         False),
    Case("nc-excluded-ok", lambda: _three(inter_kw={"excluded_dns": ["bad.example.test"]}), True),
    Case("nc-violated-long-validity",
         lambda: _three(host="www.other.test", root_kw=NC_OK, lifetime=LONG), False,
         beside=APPLE_LIFETIME),
    # -- pathLen
    Case("pathlen-root0-with-inter", lambda: _three(root_kw={"path_len": 0}), False),
    Case("pathlen-root1-one-inter", lambda: _three(root_kw={"path_len": 1}), True),
    Case("pathlen-root1-two-inters", lambda: _four(root_kw={"path_len": 1}), False),
    Case("pathlen-upper0-with-lower", lambda: _four(upper_kw={"path_len": 0}), False),
    Case("pathlen-lower0-issues-leaf", lambda: _four(lower_kw={"path_len": 0}), True),
    Case("pathlen-violated-long-validity",
         lambda: _three(root_kw={"path_len": 0}, lifetime=LONG), False,
         beside=APPLE_LIFETIME),
    # -- EKU
    Case("eku-leaf-clientauth-only", lambda: _three(eku=[CLIENT_AUTH]), False),
    Case("eku-inter-clientauth-only", lambda: _three(inter_kw={"eku": [CLIENT_AUTH]}), False),
    Case("eku-inter-clientauth-long-validity",
         lambda: _three(inter_kw={"eku": [CLIENT_AUTH]}, lifetime=LONG), False,
         beside=APPLE_LIFETIME),
    # -- validity of the anchor and the intermediates
    Case("expired-anchor", lambda: _three(root_kw=_expired(5, 3650)), False),
    Case("expired-anchor-long-validity",
         lambda: _three(root_kw=_expired(5, 3650), lifetime=LONG), False,
         beside=APPLE_LIFETIME),
    Case("not-yet-valid-anchor", lambda: _three(root_kw=FUTURE), False),
    Case("expired-intermediate", lambda: _three(inter_kw=_expired(3)), False),
    Case("not-yet-valid-intermediate", lambda: _three(inter_kw=FUTURE), False),
    Case("expired-leaf", lambda: _three(**_expired(1, 90)), False),
    Case("not-yet-valid-leaf", lambda: _three(not_before=NOW + timedelta(hours=1)), False),
    # -- signatures and names
    Case("bad-signature-leaf", _bad_sig_leaf, False),
    Case("bad-signature-intermediate", _bad_sig_intermediate, False),
    Case("wrong-issuer-name", _wrong_issuer_name, False),
    Case("sha1-intermediate", lambda: _three(inter_kw={"sha1": True}), False),
    Case("sha1-leaf", lambda: _three(sha1=True), False),
    Case("hostname-mismatch", lambda: _with(_three(), host="www.other.test"), False),
    # RFC 6125 §6.4.4: with a DNS SAN present no client falls back to the CN.
    Case("host-only-in-cn-beside-a-san", lambda: _three(san=["www.other.test"]), False),
    Case("leaf-without-san", lambda: _three(san=[]), False),
    # -- CA bits
    Case("inter-ca-false", lambda: _three(inter_kw={"ca": False, "eku": None}), False),
    Case("inter-no-basic-constraints", lambda: _three(inter_kw={"basic_constraints": False}),
         False),
    Case("inter-no-keycertsign", lambda: _three(inter_kw={"key_usage": NO_CERT_SIGN}), False),
    # The leaf's authorityKeyIdentifier is required (CA/B BR 7.1.2.7); an
    # intermediate without SKI/AKI is accepted by the validator.
    Case("inter-no-keyid-extensions", lambda: _three(inter_kw={"key_ids": False}), True),
    Case("leaf-no-keyid-extensions", lambda: _three(key_ids=False), False),
    Case("leaf-is-ca", lambda: _three(ca=True, san=[HOST], eku=[SERVER_AUTH]), False),
    # The validator judges the keys that verify signatures, not the leaf's own key.
    Case("rsa1024-leaf", _rsa_leaf("rsa1024"), True, ("rsa_key_too_small",)),
    Case("rsa1024-intermediate", lambda: _three(inter_kw={"subject_key": key("rsa1024")}),
         False),
    # -- where the path ends
    Case("missing-intermediate", _missing_intermediate, False),
    Case("self-signed-leaf", _self_signed_leaf, False),
    Case("unknown-root", _unknown_root, False),
    # No anchor: the lifetime is not judged (trust fails first), the path finding stays.
    Case("unknown-root-long-validity", lambda: _unknown_root(lifetime=LONG), False),
    # the same with platform-store roots, where the public-CA lifetime rules apply
    Case("store-good-398-days", lambda: _stored(_three(lifetime=timedelta(days=398))), True),
    Case("store-nc-violated-399-days",
         lambda: _stored(_three(host="www.other.test", root_kw=NC_OK,
                                lifetime=timedelta(days=399))), False,
         beside=(*APPLE_LIFETIME, "validity_too_long_chrome")),
    Case("store-pathlen-violated-399-days",
         lambda: _stored(_three(root_kw={"path_len": 0}, lifetime=timedelta(days=399))), False,
         beside=(*APPLE_LIFETIME, "validity_too_long_chrome")),
    Case("store-expired-anchor-399-days",
         lambda: _stored(_three(root_kw=_expired(5, 3650), lifetime=timedelta(days=399))),
         False, beside=(*APPLE_LIFETIME, "validity_too_long_chrome")),
    Case("store-bad-signature-intermediate-399-days",
         lambda: _stored(_bad_sig_intermediate(lifetime=timedelta(days=399))), False),
]


def _stored(chain: Chain) -> Chain:
    return Chain(chain.host, chain.served, chain.roots, store=True)


_BUILT: dict[str, Chain] = {}


def chain_of(case: Case) -> Chain:
    if case.id not in _BUILT:
        _BUILT[case.id] = case.build()
    return _BUILT[case.id]


def validator_accepts(chain: Chain, now: datetime = NOW) -> bool:
    verifier = (
        PolicyBuilder().store(Store(chain.roots)).time(now).build_server_verifier(
            DNSName(chain.host)
        )
    )
    try:
        verifier.verify(chain.leaf, chain.intermediates)
    except VerificationError:
        return False
    return True


def path_errors(result: TargetResult) -> list[str]:
    return [f.rule_id for f in result.findings
            if f.severity == "error" and f.rule_id in PATH_RULES and not f.suppressed]


def assert_rejected(result: TargetResult) -> None:
    summary = [(f.rule_id, f.severity, f.breaks) for f in result.findings]
    assert result.overall == "fail", summary
    assert path_errors(result), f"no path/certificate error among {summary}"
    passing = [p for p in ("ios", "android") if result.verdicts[p] == "pass"]
    assert not passing, f"{passing} read pass on a rejected chain: {summary}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validator_matches_the_hand_written_expectation(case: Case) -> None:
    assert validator_accepts(chain_of(case)) is case.accept


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_certcheck_is_never_more_lenient_than_the_validator(case: Case) -> None:
    chain = chain_of(case)
    result = evaluate(chain.facts(), chain.policy(), NOW)
    fired = {f.rule_id for f in result.findings}
    assert set(case.beside) <= fired, f"the case needs {case.beside} beside it: {sorted(fired)}"
    if validator_accepts(chain):
        detail = [(f.rule_id, f.evidence) for f in result.findings]
        assert sorted(path_errors(result)) == sorted(case.stricter), detail
    else:
        assert_rejected(result)


def test_battery_covers_both_outcomes_and_dozens_of_chains() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(not c.accept for c in CASES) >= 25 and sum(c.accept for c in CASES) >= 12


# -- RFC 5280 §4.1.2.5: the certificate is valid from notBefore through notAfter, inclusive.

NOT_BEFORE = datetime(2026, 11, 1, 8, 30, 15, tzinfo=NOW.tzinfo)
NOT_AFTER = datetime(2026, 12, 1, 8, 30, 15, tzinfo=NOW.tzinfo)
US = timedelta(microseconds=1)


def _bounded() -> Chain:
    return _three(not_before=NOT_BEFORE, not_after=NOT_AFTER)


def _validity_rules(at: datetime) -> set[str]:
    chain = _BUILT.setdefault("bounded", _bounded())
    result = evaluate(chain.facts(), chain.policy(warn_days=0, crit_days=0), at)
    return {f.rule_id for f in result.findings} & {"cert_expired", "cert_not_yet_valid",
                                                   "untrusted_root"}


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (NOT_AFTER - US, set()),
        (NOT_AFTER, set()),
        # notAfter has whole-second precision (RFC 5280 §4.1.2.5.1/.2): its whole
        # second is "through notAfter"; the first microsecond after it is not.
        (NOT_AFTER + timedelta(microseconds=999_999), set()),
        (NOT_AFTER + timedelta(seconds=1), {"cert_expired"}),
        (NOT_AFTER + timedelta(seconds=1, microseconds=1), {"cert_expired"}),
        (NOT_BEFORE, set()),
        (NOT_BEFORE + US, set()),
        (NOT_BEFORE - US, {"cert_not_yet_valid"}),
        (NOT_BEFORE - timedelta(seconds=1), {"cert_not_yet_valid"}),
    ],
    ids=["notAfter-1us", "at-notAfter", "notAfter+0.999999s", "notAfter+1s", "notAfter+1.000001s",
         "at-notBefore", "notBefore+1us", "notBefore-1us", "notBefore-1s"],
)
def test_validity_boundaries_are_inclusive(at: datetime, expected: set[str]) -> None:
    assert _validity_rules(at) == expected


def test_validator_itself_accepts_at_not_after_exactly() -> None:
    assert validator_accepts(_bounded(), NOT_AFTER)
    assert validator_accepts(_bounded(), NOT_AFTER + timedelta(microseconds=999_999))
    assert validator_accepts(_bounded(), NOT_BEFORE)
    assert not validator_accepts(_bounded(), NOT_BEFORE - US)
    assert not validator_accepts(_bounded(), NOT_AFTER + timedelta(seconds=1))


def test_chaingen_issued_pairs_key_and_certificate() -> None:
    """The generator's own contract: a leaf verifies under its issuer's key."""
    anchor = root()
    end: Issued = issue(HOST, anchor)
    end.cert.verify_directly_issued_by(anchor.cert)
    assert end.cert.public_key() == end.key.public_key()


# -- the same invariant over random chains (property-style)

_LEAF_PROBLEMS = st.builds(Level, expired=st.sampled_from([False] * 8 + [True]),
                           eku_client_only=st.sampled_from([False] * 8 + [True]),
                           sha1=st.sampled_from([False] * 8 + [True]),
                           bad_signature=st.sampled_from([False] * 8 + [True]))


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    levels=st.lists(levels_strategy(), min_size=1, max_size=4),
    host=st.sampled_from(RANDOM_HOSTS),
    leaf_level=_LEAF_PROBLEMS,
    send_all=st.sampled_from([True, True, True, False]),
    long_validity=st.booleans(),
)
def test_random_chains_are_never_judged_more_leniently(
    levels: list[Level], host: str, leaf_level: Level, send_all: bool, long_validity: bool
) -> None:
    chain = build_random_chain(levels, host, leaf_level=leaf_level, send_all=send_all,
                               lifetime_days=900 if long_validity else 90)
    result = evaluate(chain.facts(), chain.policy(), NOW)
    if validator_accepts(chain):
        assert path_errors(result) == [], [(f.rule_id, f.evidence) for f in result.findings]
    else:
        assert_rejected(result)
