"""Protocol-version rules, on facts (no server needed: the probe is tested elsewhere)."""

import pytest

from certcheck.catalog import load_profiles
from certcheck.evaluate.rules.protocols import protocol_findings
from certcheck.model import ServerFacts, Target


def facts(**versions):
    names = {"SSLv3": False, "TLSv1.0": False, "TLSv1.1": False, "TLSv1.2": False,
             "TLSv1.3": False}
    names.update({k.replace("_", "."): v for k, v in versions.items()})
    return ServerFacts(target=Target("x.test"), scanned_at="2026-11-22T00:00:00Z",
                       protocols=names)


def fired(f, profile="wechat"):
    return {x.rule_id: x for x in protocol_findings(f, load_profiles()[profile])}


def test_modern_server_only_lacks_legacy():
    found = fired(facts(TLSv1_2=True, TLSv1_3=True))
    assert set(found) == {"legacy_tls_missing"}
    assert found["legacy_tls_missing"].breaks == ["android_legacy"]


def test_server_for_every_phone_is_silent_but_for_info():
    found = fired(facts(TLSv1_0=True, TLSv1_1=True, TLSv1_2=True, TLSv1_3=True))
    assert set(found) == {"legacy_tls_enabled"}
    assert found["legacy_tls_enabled"].severity == "info"
    assert found["legacy_tls_enabled"].evidence["legacy"] == ["TLSv1.0", "TLSv1.1"]


def test_strict_profile_raises_legacy_to_warning():
    found = fired(facts(TLSv1_0=True, TLSv1_2=True), "strict")
    assert found["legacy_tls_enabled"].severity == "warning"


def test_tls13_only():
    found = fired(facts(TLSv1_3=True))
    assert {"tls13_only", "tls12_missing", "legacy_tls_missing"} == set(found)
    assert found["tls12_missing"].breaks == []  # current phones speak TLS 1.3


def test_legacy_only_server_breaks_ios_and_android():
    found = fired(facts(TLSv1_0=True))
    assert found["tls12_missing"].breaks == ["ios", "android"]
    assert "tls13_only" not in found


@pytest.mark.parametrize("unknown", [{}, {"TLSv1.2": None}])
def test_unknown_protocols_are_no_evidence(unknown):
    f = ServerFacts(target=Target("x.test"), scanned_at="x", protocols=unknown)
    assert protocol_findings(f, load_profiles()["wechat"]) == []
