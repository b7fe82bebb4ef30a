"""Key-exchange group enumeration against real OpenSSL servers on 127.0.0.1.

OpenSSL 3.0's default groups are x25519, secp256r1, x448, secp521r1, secp384r1.
In TLS <= 1.2 an ECDSA certificate's curve must be among the client's
supported_groups (RFC 8422 5.1.1): once the elimination loop removes it the
server refuses, and the groups behind it were never seen before the fix.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import NameOID

from certcheck.localserver import LoopbackServer, ServerSpec
from certcheck.probe.ciphers import CipherScan, enumerate_ciphers

HOST = "groups.example.test"
LOCAL = "127.0.0.1"
TIMEOUT = 3.0
OPENSSL_DEFAULT = {"x25519", "secp256r1", "x448", "secp521r1", "secp384r1"}


def ec_identity(curve: ec.EllipticCurve) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a self-signed ECDSA certificate on ``curve``."""
    key = ec.generate_private_key(curve)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return cert.public_bytes(Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def p256() -> tuple[bytes, bytes]:
    return ec_identity(ec.SECP256R1())


@pytest.fixture(scope="module")
def p384() -> tuple[bytes, bytes]:
    return ec_identity(ec.SECP384R1())


def client_order(ctx: ssl.SSLContext) -> None:
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE  # groups follow the client's order too


@contextlib.contextmanager
def server(
    identity: tuple[bytes, bytes],
    configure: Callable[[ssl.SSLContext], None] | None = None,
    **kw: str,
) -> Iterator[LoopbackServer]:
    srv = LoopbackServer(ServerSpec("groups", identity[0], identity[1], **kw))
    if configure is not None:
        configure(srv.ctx)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def scan_of(srv: LoopbackServer, versions: list[str]) -> CipherScan:
    return enumerate_ciphers((LOCAL, srv.port), HOST, TIMEOUT, versions)


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.0"])
def test_groups_behind_an_ecdsa_certificate_curve_are_found(
    p256: tuple[bytes, bytes], version: str
) -> None:
    """A server following the client's order shows every group once its curve stays offered."""
    with server(p256, client_order, min_version=version, max_version=version) as srv:
        scan = scan_of(srv, [version])
    assert scan.errors == {}
    assert set(scan.groups[version]) == OPENSSL_DEFAULT
    assert scan.notes == {}  # nothing hidden: the server picked our order every time


def test_server_order_hides_groups_in_tls12_and_says_so(p256: tuple[bytes, bytes]) -> None:
    with server(p256) as srv:  # Python servers choose by their own order
        scan = scan_of(srv, ["TLSv1.2", "TLSv1.3"])
    assert scan.errors == {}
    # Every TLS 1.2 offer must hold secp256r1, which this server ranks second.
    assert scan.groups["TLSv1.2"] == ["x25519", "secp256r1"]
    note = scan.notes["TLSv1.2 groups (partial)"]
    assert "secp256r1" in note and "cannot be seen" in note
    # TLS 1.3 separates certificate and key exchange: the whole list is there
    # (with OpenSSL's TLS 1.3-only ffdhe groups).
    assert OPENSSL_DEFAULT <= set(scan.groups["TLSv1.3"])
    assert "TLSv1.3 groups (partial)" not in scan.notes


def test_p384_certificate_server_order_sees_all_five(p384: tuple[bytes, bytes]) -> None:
    with server(p384, max_version="TLSv1.2") as srv:
        scan = scan_of(srv, ["TLSv1.2"])
    # secp384r1 is the server's last choice, so the plain elimination reaches it.
    assert scan.groups["TLSv1.2"] == ["x25519", "secp256r1", "x448", "secp521r1", "secp384r1"]


@pytest.mark.parametrize(("curve", "group"), [("X448", "x448"), ("secp521r1", "secp521r1")])
def test_single_group_servers(p256: tuple[bytes, bytes], curve: str, group: str) -> None:
    def only(ctx: ssl.SSLContext) -> None:
        ctx.set_ecdh_curve(curve)

    with server(p256, only) as srv:
        scan = scan_of(srv, ["TLSv1.2", "TLSv1.3"])
    assert scan.groups == {"TLSv1.2": [group], "TLSv1.3": [group]}


def test_tls10_and_tls11_groups_are_recorded_when_ecdhe_is_accepted(
    p256: tuple[bytes, bytes],
) -> None:
    def p521_only(ctx: ssl.SSLContext) -> None:
        ctx.set_ecdh_curve("secp521r1")

    kw = {"min_version": "TLSv1.0", "max_version": "TLSv1.1"}
    with server(ec_identity(ec.SECP521R1()), p521_only, **kw) as srv:
        scan = scan_of(srv, ["TLSv1.0", "TLSv1.1"])
    assert scan.errors == {}
    assert scan.groups == {"TLSv1.0": ["secp521r1"], "TLSv1.1": ["secp521r1"]}


def test_no_groups_recorded_for_tls10_without_ecdhe() -> None:
    """An RSA-only-key-exchange TLS 1.0 server: no ECDHE suite, so no group list at all."""
    import trustme

    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    leaf = ca.issue_cert(HOST, key_type=trustme.KeyType.RSA)
    identity = (b"".join(b.bytes() for b in leaf.cert_chain_pems), leaf.private_key_pem.bytes())
    kw = {"min_version": "TLSv1.0", "max_version": "TLSv1.0", "ciphers": "AES128-SHA:@SECLEVEL=0"}
    with server(identity, **kw) as srv:
        scan = scan_of(srv, ["TLSv1.0"])
    assert scan.cipher_suites == {"TLSv1.0": ["TLS_RSA_WITH_AES_128_CBC_SHA"]}
    assert scan.groups == {} and scan.dh_params == {}


def test_certificate_curve_reader_never_raises_on_hostile_bytes(p384: tuple[bytes, bytes]) -> None:
    from certcheck.probe.flight import certificate_ec_group

    der = x509.load_pem_x509_certificate(p384[0]).public_bytes(Encoding.DER)

    def body(cert: bytes) -> bytes:
        entry = len(cert).to_bytes(3, "big") + cert
        return len(entry).to_bytes(3, "big") + entry

    assert certificate_ec_group(body(der)) == 0x0018  # secp384r1
    for bad in (b"", b"\x00\x00", body(b"\x30\x03\x02\x01\x00"), body(der[:-40]), body(b"\x30")):
        assert certificate_ec_group(bad) is None
