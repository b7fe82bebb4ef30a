"""The simulation memo (a fleet behind one chain and one TLS configuration is simulated
once) never changes a result: a shared cache gives what a fresh evaluation gives, and
every input the simulation reads is part of the key."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certcheck.evaluate import Policy, evaluate_strict
from certcheck.evaluate.simulation import SimulationCache, simulation_key
from certcheck.evaluate.trust import TrustStore
from certcheck.model import ServerFacts, Target

ROOT = Path(__file__).resolve().parent.parent.parent
GOLDEN = ROOT / "tests" / "golden" / "facts.json"
AT = datetime(2026, 12, 10, 12, tzinfo=UTC)


def _golden_facts() -> list[ServerFacts]:
    document = json.loads(GOLDEN.read_text("utf-8"))
    return [ServerFacts.from_dict(f) for f in document["facts"]]


def _policy() -> Policy:
    return Policy.build(ca_pem=(ROOT / "sample_certs" / "ca.pem").read_bytes())


def test_a_shared_cache_gives_what_fresh_evaluations_give() -> None:
    facts = _golden_facts()
    shared = _policy()
    # every target twice, and under other host names (a fleet behind the same servers)
    fleet = facts + facts + [
        replace(f, target=replace(f.target, host="x." + f.target.host)) for f in facts
    ]
    cached = [evaluate_strict(f, shared, AT).to_dict() for f in fleet]
    fresh = [evaluate_strict(f, _policy(), AT).to_dict() for f in fleet]
    assert cached == fresh
    assert shared.simulations.hits >= len(facts)  # the memo was used


def _base() -> ServerFacts:
    return next(f for f in _golden_facts() if f.ok and f.chain)


EDITS = {
    "protocols": lambda f: {"protocols": {**f.protocols, "TLSv1.0": True}},
    "cipher_suites": lambda f: {"cipher_suites": {**f.cipher_suites, "TLSv1.0": ["X"]}},
    "groups": lambda f: {"groups": {**f.groups, "TLSv1.2": ["x25519"]}},
    "server_cipher_order": lambda f: {"server_cipher_order": {"TLSv1.2": False}},
    "dh_params": lambda f: {"dh_params": {"TLSv1.2": {"bits": 1024}}},
    "chain": lambda f: {"chain": f.chain[:1]},
    "aia_certificates": lambda f: {"aia_certificates": f.chain[1:]},
    "tls_scts": lambda f: {"tls_scts": ["AAAA"]},
}


@pytest.mark.parametrize("field", sorted(EDITS))
def test_every_simulated_input_is_in_the_key(field: str) -> None:
    base = _base()
    trust = _policy().trust
    edited = replace(base, **EDITS[field](base))
    assert simulation_key(edited, trust, AT) != simulation_key(base, trust, AT)


def test_the_instant_and_the_anchors_are_in_the_key() -> None:
    base = _base()
    trust = _policy().trust
    assert simulation_key(base, trust, AT) != simulation_key(base, trust, AT + timedelta(1))
    assert simulation_key(base, trust, AT) != simulation_key(base, TrustStore.load(None), AT)


def test_the_host_is_in_the_key_only_when_a_no_sni_client_sees_another_certificate() -> None:
    base = _base()
    trust = _policy().trust
    other = replace(base, target=Target("other.example.test"))
    assert simulation_key(base, trust, AT) == simulation_key(other, trust, AT)
    default = base.chain[-1]  # some other certificate served without SNI
    with_default = replace(base, no_sni_leaf=default)
    other_default = replace(other, no_sni_leaf=default)
    assert simulation_key(with_default, trust, AT) != simulation_key(other_default, trust, AT)


def test_the_cache_is_bounded() -> None:
    cache = SimulationCache(size=2)
    base = _base()
    trust = _policy().trust
    for days in range(5):
        cache.simulate(base, trust, AT + timedelta(days))
    assert len(cache._entries) == 2  # noqa: SLF001 - the bound is the point
