"""Simulation fidelity: path choice under the client's constraints, signature_algorithms,
the certificate's curve, and one end-to-end scan against a real loopback server.

Issue #20 items 4 and 9(a)(b).  The chains are generated with the ``cryptography``
builder (tests/chaingen.py); :func:`simulate` is pure, so most cases call it on
:class:`ServerFacts` directly.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import pytest
from chaingen import NOW, Issued, b64, cross_sign, intermediate, issue, key, leaf, root
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from certcheck.evaluate.client_constraints import certificate_policy
from certcheck.evaluate.simulation import simulate
from certcheck.evaluate.trust import TrustStore
from certcheck.localserver import ServerSpec, serving
from certcheck.model import ServerFacts, Target
from certcheck.platforms import client_profiles

HOST = "fidelity.example.test"
PROFILES = {p.id: p for p in client_profiles()}


def facts_for(chain: list[str], **changes: object) -> ServerFacts:
    """A TLS 1.2 + 1.3 server with ECDHE-ECDSA suites and the usual groups."""
    facts = ServerFacts(
        target=Target(HOST, 443),
        scanned_at="2026-11-22T00:00:00Z",
        chain=chain,
        protocols={"SSLv3": False, "TLSv1.0": False, "TLSv1.1": False, "TLSv1.2": True,
                   "TLSv1.3": True},
        cipher_suites={
            "TLSv1.2": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"],
            "TLSv1.3": ["TLS_AES_128_GCM_SHA256"],
        },
        groups={"TLSv1.2": ["x25519", "secp256r1"], "TLSv1.3": ["x25519", "secp256r1"]},
        server_cipher_order={"TLSv1.2": True, "TLSv1.3": True},
    )  # fmt: skip
    return replace(facts, **changes)


def run(chain: list[Issued], roots: list[Issued], *ids: str, **changes: object) -> dict:
    trust = TrustStore(system=[], extra=[r.cert for r in roots])
    facts = facts_for([b64(c) for c in chain], **changes)
    profiles = tuple(PROFILES[i] for i in ids)
    return {r.profile.id: r for r in simulate(facts, trust, NOW, profiles)}


# --------------------------------------------------------------------------- item 4: path choice

ROOT_A = root("Fidelity Root A", slot=1)
ROOT_B = root("Fidelity Root B", slot=2)
ICA = intermediate("Fidelity Issuing CA", ROOT_B, slot=1)
#: the same intermediate (name and key) certified twice: SHA-1 by A, SHA-256 by B
ICA_BY_A_SHA1 = cross_sign(ICA, ROOT_A, sha1=True)
ICA_BY_B = ICA
LEAF = leaf(HOST, ICA)
SHA2_CLIENTS = ("ios_15_safari", "java_17", "chrome_current")  # flag, sigalgs, both


@pytest.mark.parametrize("order", ["sha1_first", "sha256_first"])
def test_sha2_clients_take_the_sha256_cross_sign_whatever_the_served_order(order):
    pair = [ICA_BY_A_SHA1, ICA_BY_B] if order == "sha1_first" else [ICA_BY_B, ICA_BY_A_SHA1]
    results = run([LEAF, *pair], [ROOT_A, ROOT_B], *SHA2_CLIENTS, "android_7_0")
    for client in SHA2_CLIENTS:
        result = results[client]
        assert result.ok is True, (client, result.reason)
        assert result.trust.root == "Fidelity Root B"
        assert all(c.signature_hash_algorithm.name == "sha256" for c in result.trust.certificates)
    # A client that lists SHA-1 connects as well (through whichever path it finds first).
    assert results["android_7_0"].ok is True


UNRELATED = intermediate("Unrelated CA", ROOT_A, slot=3)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_any_served_order_with_noise_still_finds_the_sha256_path(order):
    extra = [ICA_BY_A_SHA1, ICA_BY_B, UNRELATED, ROOT_A]
    served = [LEAF, *(extra[i] for i in order)]
    results = run(served, [ROOT_A, ROOT_B], "java_17", "firefox_current")
    for result in results.values():
        assert result.ok is True, (result.profile.id, result.reason)
        assert result.trust.root == "Fidelity Root B"


def test_only_the_sha1_path_explains_the_refusal_and_names_the_root_it_reaches():
    results = run([LEAF, ICA_BY_A_SHA1], [ROOT_A, ROOT_B], *SHA2_CLIENTS, "android_7_0")
    assert results["android_7_0"].ok is True
    assert results["android_7_0"].trust.root == "Fidelity Root A"
    flagged = results["ios_15_safari"]
    assert flagged.ok is False and flagged.trust.trust == "untrusted"
    assert flagged.reason == "CN=Fidelity Issuing CA is signed with SHA1; client needs SHA-2"
    assert flagged.trust.root == "Fidelity Root A"  # the best failing path, not "no root"
    listed = results["java_17"]
    assert listed.ok is False
    assert listed.reason == (
        "CN=Fidelity Issuing CA is signed with SHA1-ECDSA, which this client does not offer "
        "in signature_algorithms"
    )


def test_a_ca_key_below_the_clients_minimum_is_avoided_during_the_search():
    weak = issue("Weak Key CA", ROOT_A, ca=True, subject_key=key("rsa1024", 1))
    ica_by_weak = cross_sign(ICA, weak)
    both = run([LEAF, ica_by_weak, weak, ICA_BY_B], [ROOT_A, ROOT_B], "apple_ats_ios15_4")
    assert both["apple_ats_ios15_4"].ok is True, both["apple_ats_ios15_4"].reason
    assert both["apple_ats_ios15_4"].trust.root == "Fidelity Root B"
    weak_only = run([LEAF, ica_by_weak, weak], [ROOT_A, ROOT_B], "apple_ats_ios15_4", "java_17")
    assert weak_only["apple_ats_ios15_4"].ok is False
    assert weak_only["apple_ats_ios15_4"].reason == (
        "CN=Weak Key CA has an RSA 1024-bit key; client needs >= 2048"
    )
    assert weak_only["java_17"].ok is True  # no RSA minimum stated for Java


# --------------------------------------------------------------------------- item 9(a)

SHA1_LEAF = leaf(HOST, ICA, sha1=True)


def test_java_17_cannot_use_a_sha1_signed_leaf_because_its_hello_lists_no_sha1():
    assert "ecdsa_sha1" not in PROFILES["java_17"].signature_algorithms
    assert PROFILES["java_17"].requires_sha2 is False  # no hand flag: the list decides
    results = run([SHA1_LEAF, ICA], [ROOT_B], "java_17", "java_11", "android_13", "ios_12_safari")
    assert results["java_17"].ok is False
    assert "signed with SHA1-ECDSA" in results["java_17"].reason
    assert results["java_11"].ok is True  # Java 11.0.2 still offers ecdsa_sha1
    assert results["ios_12_safari"].ok is False  # Apple's statement (requires_sha2_source)
    # Android 13 offers rsa_pkcs1_sha1 but not ecdsa_sha1: an ECDSA-SHA1 signature is refused.
    assert results["android_13"].ok is False


def test_signature_algorithms_do_not_apply_below_tls_1_2():
    tls10_only = {"SSLv3": False, "TLSv1.0": True, "TLSv1.1": False, "TLSv1.2": False,
                  "TLSv1.3": False}  # fmt: skip
    results = run(
        [SHA1_LEAF, ICA], [ROOT_B], "android_11",
        protocols=tls10_only,
        cipher_suites={"TLSv1.0": ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"]},
        groups={"TLSv1.2": ["secp256r1"]},
    )  # fmt: skip
    # Android 11 lists no ecdsa_sha1, but a TLS 1.0 handshake carries no such list.
    assert "ecdsa_sha1" not in PROFILES["android_11"].signature_algorithms
    assert results["android_11"].negotiation.protocol == "TLSv1.0"
    assert results["android_11"].ok is True, results["android_11"].reason
    assert run([SHA1_LEAF, ICA], [ROOT_B], "android_11")["android_11"].ok is False  # TLS 1.3


def test_policy_is_version_dependent():
    java = PROFILES["java_17"]
    tls12 = certificate_policy(version="TLSv1.2", signature_algorithms=java.signature_algorithms)
    tls11 = certificate_policy(version="TLSv1.1", signature_algorithms=java.signature_algorithms)
    assert tls12.signature_problem(SHA1_LEAF.cert) is not None
    assert tls11.signature_problem(SHA1_LEAF.cert) is None
    assert tls12.signature_problem(LEAF.cert) is None


def test_the_sha1_hand_flag_needs_a_vendor_statement():
    for profile in PROFILES.values():
        assert not profile.requires_sha2 or profile.requires_sha2_source.startswith("https://")


# --------------------------------------------------------------------------- item 9(b)

P384_LEAF = leaf(HOST, ICA, subject_key=key("ec384", 3))


def test_android_7_offers_only_p256_and_fails_against_a_p384_leaf():
    assert PROFILES["android_7_0"].supported_groups == ("secp256r1",)
    results = run([P384_LEAF, ICA], [ROOT_B], "android_7_0", "android_8_1", "java_17")
    assert results["android_7_0"].ok is False
    assert results["android_7_0"].reason == (
        "certificate key on P-384 (secp384r1): the client offers only P-256 (secp256r1) "
        "(supported_groups)"
    )
    assert results["android_8_1"].ok is True  # offers secp384r1
    assert results["java_17"].ok is True


def test_an_rsa_suite_does_not_judge_the_ecdsa_leafs_curve():
    rsa_suites = {"TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"], "TLSv1.3": []}
    results = run([P384_LEAF, ICA], [ROOT_B], "android_7_0", cipher_suites=rsa_suites)
    assert "certificate key on" not in (results["android_7_0"].reason or "")


def test_tls13_binds_the_curve_through_the_ecdsa_schemes():
    p521 = leaf(HOST, ICA, subject_key=key("ec521", 3))
    results = run([p521, ICA], [ROOT_B], "android_14", "java_17")
    assert results["android_14"].ok is False  # lists ECDSA only on P-256 and P-384
    assert "TLS 1.3 signature_algorithms offer ECDSA only on" in results["android_14"].reason
    assert results["java_17"].ok is True  # lists ecdsa_secp521r1_sha512


# --------------------------------------------------------------------------- end to end


def _pem(*issued: Issued) -> bytes:
    return b"".join(i.cert.public_bytes(Encoding.PEM) for i in issued)


def test_scan_of_a_real_p384_server_shows_android_7_failing(run_cli, tmp_path):
    server_key = key("ec384", 3)
    assert isinstance(server_key, ec.EllipticCurvePrivateKey)
    key_pem = server_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    spec = ServerSpec("p384", _pem(P384_LEAF, ICA), key_pem)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(_pem(ROOT_B))
    with serving([spec]) as (server,):
        port = server.port
        proc = run_cli(
            "scan", f"{HOST}:{port}", "--resolve", f"{HOST}:{port}:127.0.0.1",
            "--ca-file", ca, "--timeout", "5", "--json", "-", timeout=90,
        )  # fmt: skip
    assert proc.stdout, proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    simulation = {entry["client"]: entry for entry in result["simulation"]}
    assert simulation["android_7_0"]["ok"] is False
    assert "P-384" in simulation["android_7_0"]["reason"]
    assert simulation["android_8_1"]["ok"] is True
    assert simulation["android_14"]["ok"] is True
