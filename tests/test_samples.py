"""Tests for certcheck.samples and sample_certs/make_samples.py."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import DNSName, PolicyBuilder, Store, VerificationError

from certcheck import samples
from certcheck.localserver import LoopbackServer, ServerSpec, make_context

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "sample_certs"
SCRIPT = SAMPLE_DIR / "make_samples.py"
NOW = datetime.now(UTC).replace(microsecond=0)

EXPECTED: dict[str, tuple[str, list[str], dict[str, str]]] = {
    "good_rsa": ("good.example.test", [], {}),
    "good_ecdsa": ("ecdsa.example.test", [], {}),
    "wildcard": ("api.wild.example.test", [], {}),
    "expired": ("expired.example.test", ["cert_expired"], {}),
    "expiring_soon": ("soon.example.test", ["cert_expiring_soon"], {}),
    "not_yet_valid": ("future.example.test", ["cert_not_yet_valid"], {}),
    "wrong_host": ("wronghost.example.test", ["hostname_mismatch"], {}),
    "self_signed": ("selfsigned.example.test", ["self_signed_leaf"], {}),
    "sha1": ("sha1.example.test", ["sig_hash_weak"], {}),
    "rsa1024": ("rsa1024.example.test", ["rsa_key_too_small"], {}),
    "no_san": ("nosan.example.test", ["san_missing_or_cn_only"], {}),
    "no_eku": ("noeku.example.test", ["eku_serverauth_missing"], {}),
    "long_validity": ("long.example.test", ["validity_too_long_apple"], {}),
    "missing_intermediate": ("nointermediate.example.test", ["chain_incomplete"], {}),
    "wrong_order": ("order.example.test", ["chain_order", "chain_includes_root"], {}),
    "root_included": ("withroot.example.test", ["chain_includes_root"], {}),
    "tls13_only": (
        "tls13.example.test",
        ["tls13_only", "tls12_missing", "legacy_tls_missing"],
        {"min_version": "TLSv1.3"},
    ),
    "legacy_tls": ("legacy.example.test", ["legacy_tls_enabled"], {"min_version": "TLSv1.0"}),
}
NAMES = list(EXPECTED)
# Samples a strict path validator (cryptography's web PKI verifier) accepts.
VALID_CHAINS = {
    "good_rsa",
    "good_ecdsa",
    "wildcard",
    "expiring_soon",
    "rsa1024",  # key size is a policy rule of certcheck, not of this verifier
    "long_validity",
    "wrong_order",
    "root_included",
    "tls13_only",
    "legacy_tls",
}
INTERMEDIATE_URL = "http://ca.example.test/intermediate.der"


@pytest.fixture(scope="module")
def sample_set() -> samples.SampleSet:
    return samples.generate(now=NOW)


@pytest.fixture(scope="module")
def root(sample_set: samples.SampleSet) -> x509.Certificate:
    return x509.load_pem_x509_certificate(sample_set.root_pem)


@pytest.fixture(scope="module")
def intermediate(sample_set: samples.SampleSet) -> x509.Certificate:
    return x509.load_pem_x509_certificate(sample_set.intermediate_pem)


def chain(sample_set: samples.SampleSet, name: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(sample_set.get(name).chain_pem)


def leaf(sample_set: samples.SampleSet, name: str) -> x509.Certificate:
    return chain(sample_set, name)[0]


def ext(cert: x509.Certificate, cls: type) -> object:
    return cert.extensions.get_extension_for_class(cls).value


def cn(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def lifetime(cert: x509.Certificate) -> timedelta:
    return cert.not_valid_after_utc - cert.not_valid_before_utc


# --- the set as a whole -----------------------------------------------------


def test_names_hosts_expect_server(sample_set: samples.SampleSet) -> None:
    assert [s.name for s in sample_set.samples] == NAMES
    for s in sample_set.samples:
        host, expect, server = EXPECTED[s.name]
        assert (s.host, s.expect, s.server) == (host, expect, server)
        assert s.description and "\n" not in s.description
    assert all(
        "legacy_tls_missing" not in s.expect for s in sample_set.samples if s.name != "tls13_only"
    )


def test_get(sample_set: samples.SampleSet) -> None:
    assert sample_set.get("sha1").host == "sha1.example.test"
    with pytest.raises(KeyError):
        sample_set.get("nope")


def test_generate_makes_fresh_keys() -> None:
    a = samples.generate()
    b = samples.generate()
    assert a.root_pem != b.root_pem
    assert a.get("good_rsa").key_pem != b.get("good_rsa").key_pem


def test_naive_now_is_utc() -> None:
    s = samples.generate(now=datetime(2030, 1, 2, 3, 4, 5, 678))
    c = x509.load_pem_x509_certificate(s.get("good_rsa").chain_pem)
    assert c.not_valid_before_utc == datetime(2030, 1, 1, 3, 4, 5, tzinfo=UTC)


# --- the CA -----------------------------------------------------------------


def test_root(root: x509.Certificate) -> None:
    assert cn(root) == "certcheck Sample Root CA"
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    assert isinstance(root.signature_hash_algorithm, hashes.SHA256)
    key = root.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    bc = ext(root, x509.BasicConstraints)
    assert bc.ca is True
    ku = ext(root, x509.KeyUsage)
    assert ku.key_cert_sign and ku.crl_sign
    ext(root, x509.SubjectKeyIdentifier)
    assert lifetime(root) >= timedelta(days=3650)


def test_intermediate(root: x509.Certificate, intermediate: x509.Certificate) -> None:
    assert cn(intermediate) == "certcheck Sample Intermediate CA"
    assert intermediate.issuer == root.subject
    intermediate.verify_directly_issued_by(root)
    assert isinstance(intermediate.signature_hash_algorithm, hashes.SHA256)
    key = intermediate.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    bc = ext(intermediate, x509.BasicConstraints)
    assert bc.ca is True and bc.path_length == 0
    ku = ext(intermediate, x509.KeyUsage)
    assert ku.key_cert_sign and ku.crl_sign
    aki = ext(intermediate, x509.AuthorityKeyIdentifier)
    assert aki.key_identifier == ext(root, x509.SubjectKeyIdentifier).digest
    ext(intermediate, x509.SubjectKeyIdentifier)
    aia = ext(intermediate, x509.AuthorityInformationAccess)
    assert [d.access_method for d in aia] == [AuthorityInformationAccessOID.CA_ISSUERS]
    assert timedelta(days=5 * 365) <= lifetime(intermediate) <= timedelta(days=5 * 366)


# --- every leaf -------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_leaf_profile(
    sample_set: samples.SampleSet, intermediate: x509.Certificate, name: str
) -> None:
    sample = sample_set.get(name)
    cert = leaf(sample_set, name)

    key = serialization.load_pem_private_key(sample.key_pem, password=None)
    assert b"BEGIN PRIVATE KEY" in sample.key_pem  # PKCS8, unencrypted
    assert key.public_key() == cert.public_key()

    assert ext(cert, x509.BasicConstraints).ca is False
    ku = ext(cert, x509.KeyUsage)
    assert ku.digital_signature and not ku.key_cert_sign
    assert ku.key_encipherment == isinstance(key, rsa.RSAPrivateKey)
    ski = ext(cert, x509.SubjectKeyIdentifier)
    eku = list(ext(cert, x509.ExtendedKeyUsage))
    if name == "no_eku":
        assert eku == [ExtendedKeyUsageOID.CLIENT_AUTH]
    else:
        assert eku == [ExtendedKeyUsageOID.SERVER_AUTH]

    names = {"wildcard": "*.wild.example.test", "wrong_host": "other.example.test"}
    cert_host = names.get(name, sample.host)
    assert cn(cert) == cert_host
    if name == "no_san":
        with pytest.raises(x509.ExtensionNotFound):
            ext(cert, x509.SubjectAlternativeName)
    else:
        san = ext(cert, x509.SubjectAlternativeName)
        assert san.get_values_for_type(x509.DNSName) == [cert_host]

    aki = ext(cert, x509.AuthorityKeyIdentifier)
    if name == "self_signed":
        assert aki.key_identifier == ski.digest
        return
    assert cert.issuer == intermediate.subject
    assert aki.key_identifier == ext(intermediate, x509.SubjectKeyIdentifier).digest
    aia = ext(cert, x509.AuthorityInformationAccess)
    urls = [d.access_location.value for d in aia]
    assert urls == [INTERMEDIATE_URL]


@pytest.mark.parametrize("name", NAMES)
def test_leaf_signature(
    sample_set: samples.SampleSet, intermediate: x509.Certificate, name: str
) -> None:
    cert = leaf(sample_set, name)
    if name == "self_signed":
        cert.verify_directly_issued_by(cert)
    elif name == "sha1":
        # verify_directly_issued_by() refuses SHA-1; check the signature by hand.
        pub = intermediate.public_key()
        assert isinstance(pub, rsa.RSAPublicKey)
        pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1())
    else:
        cert.verify_directly_issued_by(intermediate)
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)


@pytest.mark.parametrize("name", NAMES)
def test_path_validation(sample_set: samples.SampleSet, root: x509.Certificate, name: str) -> None:
    """Good chains validate with a strict verifier; certificate faults do not."""
    certs = chain(sample_set, name)
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(NOW)
        .build_server_verifier(DNSName(sample_set.get(name).host))
    )
    if name in VALID_CHAINS:
        verifier.verify(certs[0], certs[1:])
    else:
        with pytest.raises(VerificationError):
            verifier.verify(certs[0], certs[1:])


# --- what makes each sample special -------------------------------------------


DEFAULT = timedelta(days=45)


@pytest.mark.parametrize(
    ("name", "not_before", "not_after"),
    [
        ("good_rsa", -1, 44),
        ("expired", -50, -10),
        ("expiring_soon", -1, 5),
        ("not_yet_valid", 10, 40),
        ("long_validity", -1, 899),
        ("sha1", -1, 44),
        ("self_signed", -1, 44),
    ],
)
def test_validity(
    sample_set: samples.SampleSet, name: str, not_before: int, not_after: int
) -> None:
    cert = leaf(sample_set, name)
    assert cert.not_valid_before_utc == NOW + timedelta(days=not_before)
    assert cert.not_valid_after_utc == NOW + timedelta(days=not_after)


def test_lifetimes(sample_set: samples.SampleSet) -> None:
    odd = {"expired", "expiring_soon", "not_yet_valid", "long_validity"}
    for s in sample_set.samples:
        cert = leaf(sample_set, s.name)
        if s.name not in odd:
            assert lifetime(cert) == DEFAULT, s.name
        if s.name != "long_validity":
            assert lifetime(cert) <= timedelta(days=47), s.name
    assert lifetime(leaf(sample_set, "long_validity")) == timedelta(days=900)


def test_sha1(sample_set: samples.SampleSet) -> None:
    cert = leaf(sample_set, "sha1")
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA1)
    assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA1


def test_key_types(sample_set: samples.SampleSet) -> None:
    small = leaf(sample_set, "rsa1024").public_key()
    assert isinstance(small, rsa.RSAPublicKey) and small.key_size == 1024
    good = leaf(sample_set, "good_rsa").public_key()
    assert isinstance(good, rsa.RSAPublicKey) and good.key_size == 2048
    ecdsa = leaf(sample_set, "good_ecdsa").public_key()
    assert isinstance(ecdsa, ec.EllipticCurvePublicKey)
    assert isinstance(ecdsa.curve, ec.SECP256R1)


def test_self_signed(sample_set: samples.SampleSet) -> None:
    certs = chain(sample_set, "self_signed")
    assert len(certs) == 1
    assert certs[0].subject == certs[0].issuer
    with pytest.raises(x509.ExtensionNotFound):
        ext(certs[0], x509.AuthorityInformationAccess)


def test_chain_orders(
    sample_set: samples.SampleSet, root: x509.Certificate, intermediate: x509.Certificate
) -> None:
    def shape(name: str) -> list[str]:
        out = []
        for c in chain(sample_set, name):
            out.append({root: "root", intermediate: "intermediate"}.get(c, "leaf"))
        return out

    for s in sample_set.samples:
        expected = {
            "self_signed": ["leaf"],
            "missing_intermediate": ["leaf"],
            "wrong_order": ["leaf", "root", "intermediate"],
            "root_included": ["leaf", "intermediate", "root"],
        }.get(s.name, ["leaf", "intermediate"])
        assert shape(s.name) == expected, s.name


# --- serving them ---------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_loopback_server_serves_sample(sample_set: samples.SampleSet, name: str) -> None:
    """Each sample loads into the lead's loopback server and a client gets the leaf."""
    sample = sample_set.get(name)
    spec = ServerSpec(
        name=name, chain_pem=sample.chain_pem, key_pem=sample.key_pem, **sample.server
    )
    make_context(spec)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    client.set_ciphers("ALL:@SECLEVEL=0")
    server = LoopbackServer(spec).start()
    try:
        with socket.create_connection((server.host, server.port), timeout=5) as raw:
            with client.wrap_socket(raw, server_hostname=sample.host) as tls:
                der = tls.getpeercert(binary_form=True)
                version = tls.version()
    finally:
        server.stop()
    assert der == leaf(sample_set, name).public_bytes(serialization.Encoding.DER)
    if name == "tls13_only":
        assert version == "TLSv1.3"


def test_good_sample_verifies_over_tls(sample_set: samples.SampleSet, tmp_path: Path) -> None:
    """The stdlib client trusts good_rsa when given the sample root."""
    sample = sample_set.get("good_rsa")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(sample_set.root_pem)
    client = ssl.create_default_context(cafile=str(ca))
    server = LoopbackServer(
        ServerSpec(name="good", chain_pem=sample.chain_pem, key_pem=sample.key_pem)
    )
    server.start()
    try:
        with socket.create_connection((server.host, server.port), timeout=5) as raw:
            with client.wrap_socket(raw, server_hostname=sample.host) as tls:
                assert tls.getpeercert()["subject"] == ((("commonName", sample.host),),)
    finally:
        server.stop()


# --- writing, the script and the committed snapshot ---------------------------------


def test_write(sample_set: samples.SampleSet, tmp_path: Path) -> None:
    paths = samples.write(sample_set, tmp_path / "out")
    names = {p.name for p in paths}
    expected = {"ca.pem", "intermediate.pem", "manifest.json"}
    expected |= {f"{n}.pem" for n in NAMES} | {f"{n}.key" for n in NAMES}
    assert names == expected
    assert all(p.is_file() for p in paths)
    out = tmp_path / "out"
    assert (out / "ca.pem").read_bytes() == sample_set.root_pem
    assert (out / "wrong_order.pem").read_bytes() == sample_set.get("wrong_order").chain_pem
    assert (out / "sha1.key").read_bytes() == sample_set.get("sha1").key_pem
    manifest = json.loads((out / "manifest.json").read_text())
    entries = {e["name"]: e for e in manifest["samples"]}
    assert list(entries) == NAMES
    for s in sample_set.samples:
        e = entries[s.name]
        assert (e["host"], e["description"], e["expect"], e["server"]) == (
            s.host,
            s.description,
            s.expect,
            s.server,
        )


def test_script_writes_samples(tmp_path: Path) -> None:
    out = tmp_path / "samples"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)],
        cwd=tmp_path,  # not the checkout: the script must find certcheck itself
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "manifest.json" in proc.stdout
    for name in ["ca.pem", "intermediate.pem", "manifest.json"]:
        assert (out / name).is_file()
    for name in NAMES:
        assert (out / f"{name}.pem").is_file()
        assert (out / f"{name}.key").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["name"] for e in manifest["samples"]] == NAMES


def test_committed_snapshot_matches_generate(sample_set: samples.SampleSet) -> None:
    manifest = json.loads((SAMPLE_DIR / "manifest.json").read_text())
    assert [e["name"] for e in manifest["samples"]] == [s.name for s in sample_set.samples]
    for e in manifest["samples"]:
        s = sample_set.get(e["name"])
        assert (e["host"], e["expect"], e["server"]) == (s.host, s.expect, s.server)
        assert (SAMPLE_DIR / f"{e['name']}.pem").is_file()
        assert (SAMPLE_DIR / f"{e['name']}.key").is_file()


def test_committed_snapshot_is_one_consistent_ca() -> None:
    """The committed leaves were issued by the committed intermediate and root."""
    root = x509.load_pem_x509_certificate((SAMPLE_DIR / "ca.pem").read_bytes())
    inter = x509.load_pem_x509_certificate((SAMPLE_DIR / "intermediate.pem").read_bytes())
    inter.verify_directly_issued_by(root)
    good = x509.load_pem_x509_certificates((SAMPLE_DIR / "good_rsa.pem").read_bytes())
    good[0].verify_directly_issued_by(inter)
    assert good[1] == inter
