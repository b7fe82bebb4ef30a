"""rules/compromised_roots.toml and find_compromised: CAs whose private key is public.

The real Superfish / eDellRoot keys are not ours, so the chains here are generated:
a CA that merely *carries* a listed name must match by name when it is not sent, and
must not match once it is sent with its own (different) key; the fingerprint and SPKI
paths are exercised with a small table built from the generated certificates.
"""

from __future__ import annotations

import hashlib
import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from cryptography.x509.oid import NameOID

from certcheck.catalog import load_catalog, read_data
from certcheck.evaluate import compromised
from certcheck.evaluate.compromised import (
    CompromisedTableError,
    find_compromised,
    load_compromised,
    parse_table,
)
from certcheck.localserver import ServerSpec, serving
from certcheck.model import Target
from certcheck.probe import probe_target

SUPERFISH = "CN=Superfish\\, Inc.,C=US,ST=CA,L=SF,O=Superfish\\, Inc."
NOW = datetime.now(UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    ca: bool,
    san: str | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), False)
    return builder.sign(signer, hashes.SHA256())


def _chain(ca_subject: str | x509.Name, host: str = "shop.example.test") -> dict[str, Any]:
    """A CA named ``ca_subject`` (our own key) and a leaf it issued."""
    ca_key, leaf_key = _key(), _key()
    ca_name = (
        x509.Name.from_rfc4514_string(ca_subject) if isinstance(ca_subject, str) else ca_subject
    )
    ca = _cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    leaf = _cert(leaf_name, ca_name, leaf_key, ca_key, ca=False, san=host)
    return {"ca": ca, "ca_key": ca_key, "leaf": leaf, "leaf_key": leaf_key}


def _row(**fields: Any) -> dict[str, Any]:
    base = {
        "name": "Test leaked root",
        "subject": "CN=Test Leaked Root,O=certcheck tests",
        "kind": "key_disclosed",
        "disclosed": "2015-02-20",
        "source": "https://www.kb.cert.org/vuls/id/529496",
    }
    return {**base, **fields}


# --------------------------------------------------------------------------- the shipped table


def test_the_shipped_table_loads_and_every_row_is_sourced_and_named():
    rows = load_compromised()
    names = {row.name for row in rows}
    assert {
        "Superfish (Lenovo, Komodia SSL Digestor)",
        "eDellRoot (Dell Foundation Services)",
        "DSDTestProvider (Dell System Detect)",
    } <= names
    for row in rows:
        assert row.source.startswith("https://") or row.source.startswith("http://"), row
        assert row.subject and row.kind in {"key_disclosed", "interception"}
        # the subject is exactly what cryptography prints for that name
        assert x509.Name.from_rfc4514_string(row.subject).rfc4514_string() == row.subject
        assert row.disclosed[:4].isdigit() and "2008" <= row.disclosed[:4] <= "2026"
    raw = tomllib.loads(read_data("compromised_roots.toml").decode("utf-8"))["root"]
    assert all(entry.get("facts_from") for entry in raw), "every row says where its facts are from"


def test_well_known_thumbprints_are_in_the_table():
    """Windows thumbprints published at disclosure time (US-CERT, Cyberis) for the three."""
    by_sha1 = {row.sha1: row.name for row in load_compromised() if row.sha1}
    assert by_sha1["c864484869d41d2b0d32319c5a62f9315aaf2cbd"].startswith("Superfish")
    assert by_sha1["98a04e4163357790c4a79e6d713ff0af51fe6927"].startswith("eDellRoot")
    assert by_sha1["02c2d931062d7b1dc2a5c7f5f0685064081fb221"].startswith("DSDTestProvider")


def test_the_rule_is_an_error_that_breaks_every_platform():
    rule = load_catalog()["ca_key_compromised"]
    assert rule.severity == "error" and rule.platforms == ("all",) and rule.breaks == ("all",)
    assert "remove the root" in rule.fix.lower() and "real CA" in rule.fix and rule.sources
    zh = resources.files("certcheck.templates").joinpath("i18n/zh.toml").read_text("utf-8")
    assert tomllib.loads(zh)["rules"]["ca_key_compromised"]


# --------------------------------------------------------------------------- matching by name


def test_a_chain_to_an_unsent_superfish_named_root_matches_by_name():
    chain = _chain(SUPERFISH)
    leaf = chain["leaf"]
    found = find_compromised([leaf], leaf.issuer)
    assert [(e["name"], e["matched_by"]) for e in found] == [
        ("Superfish (Lenovo, Komodia SSL Digestor)", "name")
    ]
    evidence = found[0]
    assert evidence["kind"] == "key_disclosed" and evidence["disclosed"] == "2015-02-20"
    assert evidence["subject"] == SUPERFISH and evidence["certificate_sha256"] is None
    assert "matched by name" in evidence["detail"]
    assert evidence["source"].startswith("https://www.kb.cert.org/")


def test_name_matching_folds_case_and_white_space():
    chain = _chain("CN=edellroot")
    assert [e["name"] for e in find_compromised([chain["leaf"]], chain["leaf"].issuer)] == [
        "eDellRoot (Dell Foundation Services)"
    ]
    spaced = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "DSDTestProvider"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "  DSDTestProvider "),
            x509.NameAttribute(NameOID.COMMON_NAME, "dsdtestprovider"),
        ]
    )
    chain = _chain(spaced)
    assert find_compromised([chain["leaf"]], chain["leaf"].issuer)[0]["name"].startswith("DSD")


def test_same_named_root_sent_with_its_own_key_is_not_the_compromised_one():
    chain = _chain(SUPERFISH)
    assert find_compromised([chain["leaf"], chain["ca"]], chain["leaf"].issuer) == []
    # no issuer given (the root was sent, or the chain is complete): no name match either
    assert find_compromised([chain["leaf"]], None) == []


@pytest.mark.parametrize(
    "near_miss",
    [
        "CN=Superfish Inc.,C=US,ST=CA,L=SF,O=Superfish\\, Inc.",  # comma missing
        "CN=Superfish\\, Inc.,C=US,ST=CA,L=SF",  # one RDN fewer
        "CN=eDellRoot2",
    ],
)
def test_a_near_miss_name_does_not_match(near_miss):
    chain = _chain(near_miss)
    assert find_compromised([chain["leaf"]], chain["leaf"].issuer) == []


def test_several_rows_with_one_subject_give_one_name_match():
    """Seven ISCA roots share a subject: naming it is one finding, not seven."""
    chain = _chain("C=KZ,O=ISCA,CN=Information Security Certification Authority")
    found = find_compromised([chain["leaf"]], chain["leaf"].issuer)
    assert [(e["name"], e["kind"]) for e in found] == [
        ("Kazakhstan interception root (ISCA)", "interception")
    ]


# --------------------------------------------------------------------------- matching by key


def test_a_served_certificate_in_the_table_matches_by_fingerprint():
    chain = _chain("CN=Test Leaked Root,O=certcheck tests")
    ca = chain["ca"]
    table = parse_table({"root": [_row(sha256=ca.fingerprint(hashes.SHA256()).hex())]})
    found = find_compromised([chain["leaf"], ca], None, table=table)
    assert [(e["name"], e["matched_by"]) for e in found] == [("Test leaked root", "fingerprint")]
    assert found[0]["certificate_sha256"] == ca.fingerprint(hashes.SHA256()).hex()
    # the same table, the CA not sent: its name still matches, as the weaker kind
    by_name = find_compromised([chain["leaf"]], chain["leaf"].issuer, table=table)
    assert [e["matched_by"] for e in by_name] == ["name"]
    # the shipped table knows nothing of our generated CA
    assert find_compromised([chain["leaf"], ca], None) == []


def test_sha1_and_spki_matches():
    chain = _chain("CN=Test Leaked Root,O=certcheck tests")
    ca, ca_key = chain["ca"], chain["ca_key"]
    sha1 = ca.fingerprint(hashes.SHA1()).hex()
    table = parse_table({"root": [_row(sha1=sha1)]})
    assert [e["matched_by"] for e in find_compromised([ca], None, table=table)] == ["fingerprint"]
    # a re-issued CA certificate (new serial, other name) with the leaked key: same SPKI
    spki = compromised._spki_sha256(ca)
    reissued = _cert(x509.Name.from_rfc4514_string("CN=Renamed"), ca.subject, ca_key, ca_key, True)
    table = parse_table({"root": [_row(spki_sha256=spki)]})
    found = find_compromised([chain["leaf"], reissued], None, table=table)
    assert [e["matched_by"] for e in found] == ["public key"]
    assert found[0]["certificate_sha256"] == reissued.fingerprint(hashes.SHA256()).hex()
    # another key: nothing
    assert find_compromised([_chain("CN=Other")["ca"]], None, table=table) == []


def test_the_shipped_spki_hashes_are_of_the_spki_not_the_certificate():
    """Each shipped row's SPKI hash differs from its certificate hash (one field, one meaning)."""
    for row in load_compromised():
        assert row.spki_sha256 and row.sha256 and row.spki_sha256 != row.sha256


# --------------------------------------------------------------------------- a real TLS server


def test_probed_chain_from_a_loopback_server_is_recognised():
    """The chain as the probe reads it off the wire: leaf only, issuer 'eDellRoot' not sent."""
    chain = _chain("CN=eDellRoot", host="dell.example.test")
    key_pem = chain["leaf_key"].private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    spec = ServerSpec("edellroot", chain["leaf"].public_bytes(Encoding.PEM), key_pem)
    with serving([spec]) as (server,):
        facts = probe_target(
            Target("dell.example.test", server.port, connect_addr="127.0.0.1"), timeout=5
        )
    served = [x509.load_der_x509_certificate(der) for der in facts.chain_der()]
    assert [c.fingerprint(hashes.SHA256()) for c in served] == [
        chain["leaf"].fingerprint(hashes.SHA256())
    ]
    found = find_compromised(served, served[-1].issuer)
    assert [(e["name"], e["matched_by"]) for e in found] == [
        ("eDellRoot (Dell Foundation Services)", "name")
    ]


# --------------------------------------------------------------------------- malformed tables


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "no \\[\\[root\\]\\] entries"),
        ({"root": [{k: v for k, v in _row().items() if k != "source"}]}, "missing \\['source'\\]"),
        ({"root": [_row(source="kb.cert.org/vuls/id/529496")]}, "not an http"),
        ({"root": [_row(sha256="AB" * 32)]}, "64 lowercase hex"),
        ({"root": [_row(sha1="ab" * 19)]}, "40 lowercase hex"),
        ({"root": [_row(kind="leaked")]}, "kind 'leaked'"),
        ({"root": [_row(subject="not a name")]}, "not RFC 4514"),
        ({"root": [_row(disclosed="Feb 2015")]}, "disclosed must be a date"),
        ({"root": [_row(disclosed="2015-02-30")]}, "disclosed must be a date"),
        ({"root": [_row(colour="red")]}, "unknown \\['colour'\\]"),
        ({"root": [_row(sha256="ab" * 32), _row(sha256="ab" * 32)]}, "#2 repeats"),
        ({"root": ["Superfish"]}, "not a table"),
    ],
)
def test_a_malformed_table_is_a_clear_error(data, message):
    with pytest.raises(CompromisedTableError, match=message):
        parse_table(data)


def test_a_broken_shipped_file_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(compromised, "read_data", lambda name: b"[[root]\nname = ")
    compromised.load_compromised.cache_clear()
    try:
        with pytest.raises(CompromisedTableError, match="compromised_roots.toml"):
            load_compromised()
    finally:
        monkeypatch.undo()
        compromised.load_compromised.cache_clear()
    assert load_compromised()


def test_spki_hash_of_a_generated_key_is_the_der_spki_digest():
    chain = _chain("CN=x")
    der = chain["ca"].public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert compromised._spki_sha256(chain["ca"]) == hashlib.sha256(der).hexdigest()
