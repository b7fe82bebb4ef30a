"""Example certificates: a private test CA and one chain per failure kind.

``generate()`` builds a fresh set (new keys, dates relative to *now*) in
memory; ``write()`` saves it to a folder.  ``certcheck demo`` serves a fresh
set from loopback servers, the tests use it, and a snapshot is committed in
``sample_certs/`` (re-create it with ``python sample_certs/make_samples.py``).

Everything is built with the ``cryptography`` X.509 builder.  That builder
refuses SHA-1 signatures, so the ``sha1`` sample is built with SHA-256 and then
re-signed with SHA-1 by hand (see :func:`_resign_sha1`).

The private keys are for testing only: never trust the sample root CA.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

ROOT_CN = "certcheck Sample Root CA"
INTERMEDIATE_CN = "certcheck Sample Intermediate CA"
ORGANIZATION = "certcheck test samples (NOT TRUSTED)"
INTERMEDIATE_URL = "http://ca.example.test/intermediate.der"
ROOT_URL = "http://ca.example.test/root.der"

#: Default leaf validity: notBefore = now - 1 day, notAfter = now + 44 days.
#: A 45-day lifetime stays inside the CA/B Forum BR 47-day limit.
LEAF_BACKDATE = timedelta(days=1)
LEAF_LIFETIME = timedelta(days=45)

ROOT_FILE = "ca.pem"
INTERMEDIATE_FILE = "intermediate.pem"
MANIFEST_FILE = "manifest.json"


@dataclass
class Sample:
    """One example server: the chain it sends, its key and what should fire."""

    name: str
    host: str
    description: str
    chain_pem: bytes
    key_pem: bytes
    expect: list[str]
    server: dict[str, str] = field(default_factory=dict)


@dataclass
class SampleSet:
    """The test CA plus every sample issued from it."""

    root_pem: bytes
    intermediate_pem: bytes
    samples: list[Sample]

    def get(self, name: str) -> Sample:
        """Return the sample called ``name`` (KeyError if unknown)."""
        for sample in self.samples:
            if sample.name == name:
                return sample
        known = ", ".join(s.name for s in self.samples)
        raise KeyError(f"no sample named {name!r} (known: {known})")


# --------------------------------------------------------------------------
# building blocks


@dataclass
class _Issuer:
    cert: x509.Certificate
    key: PrivateKey


class _KeyCache:
    """Keys made during one generate() call, reused by label (RSA is slow-ish)."""

    def __init__(self) -> None:
        self._keys: dict[str, PrivateKey] = {}

    def rsa(self, label: str, bits: int = 2048) -> rsa.RSAPrivateKey:
        key = self._keys.get(label)
        if key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            self._keys[label] = key
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def ec(self, label: str) -> ec.EllipticCurvePrivateKey:
        key = self._keys.get(label)
        if key is None:
            key = ec.generate_private_key(ec.SECP256R1())
            self._keys[label] = key
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _aia(url: str) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(url)
            )
        ]
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(key: PrivateKey) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _make_root(key: rsa.RSAPrivateKey, now: datetime) -> x509.Certificate:
    name = _name(ROOT_CN, ORGANIZATION)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - LEAF_BACKDATE)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_intermediate(key: rsa.RSAPrivateKey, root: _Issuer, now: datetime) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(INTERMEDIATE_CN, ORGANIZATION))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - LEAF_BACKDATE)
        .not_valid_after(now + timedelta(days=5 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_aki(root), critical=False)
        .add_extension(_aia(ROOT_URL), critical=False)
        .sign(root.key, hashes.SHA256())
    )


def _aki(issuer: _Issuer) -> x509.AuthorityKeyIdentifier:
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _make_leaf(
    key: PrivateKey,
    issuer: _Issuer | None,
    host: str,
    now: datetime,
    *,
    not_before: timedelta = -LEAF_BACKDATE,
    not_after: timedelta = LEAF_LIFETIME - LEAF_BACKDATE,
    san: bool = True,
    eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    """A server certificate for ``host``; ``issuer=None`` makes it self-signed.

    ``not_before``/``not_after`` are offsets from ``now``.
    """
    subject = _name(host)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + not_before)
        .not_valid_after(now + not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(key), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(_aki(issuer), critical=False)
        builder = builder.add_extension(_aia(INTERMEDIATE_URL), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False
        )
    return builder.sign(issuer.key if issuer else key, hashes.SHA256())


# --------------------------------------------------------------------------
# SHA-1 by hand: cryptography's builder no longer signs with SHA-1.

_SHA256_RSA_ALG = bytes.fromhex("300d06092a864886f70d01010b0500")  # sha256WithRSAEncryption, NULL
_SHA1_RSA_ALG = bytes.fromhex("300d06092a864886f70d0101050500")  # sha1WithRSAEncryption, NULL


def _der_header(data: bytes, pos: int) -> tuple[int, int]:
    """Return (content start, content end) of the DER TLV at ``pos``."""
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[start : start + n], "big")
        start += n
    return start, start + length


def _der_tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _resign_sha1(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Return ``cert`` (signed with SHA-256/RSA) re-signed with SHA-1/RSA by ``key``."""
    tbs = bytearray(cert.tbs_certificate_bytes)
    pos, _ = _der_header(tbs, 0)  # inside TBSCertificate
    if tbs[pos] == 0xA0:  # [0] version
        pos = _der_header(tbs, pos)[1]
    pos = _der_header(tbs, pos)[1]  # serialNumber
    end = _der_header(tbs, pos)[1]  # signature AlgorithmIdentifier
    if bytes(tbs[pos:end]) != _SHA256_RSA_ALG:
        raise ValueError("expected a sha256WithRSAEncryption certificate to re-sign")
    tbs[pos:end] = _SHA1_RSA_ALG  # same length, so no outer length changes
    signature = key.sign(bytes(tbs), padding.PKCS1v15(), hashes.SHA1())
    body = bytes(tbs) + _SHA1_RSA_ALG + _der_tlv(0x03, b"\x00" + signature)
    return x509.load_der_x509_certificate(_der_tlv(0x30, body))


# --------------------------------------------------------------------------
# public API


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate(now: datetime | None = None) -> SampleSet:
    """Build the test CA and every sample, with fresh keys and dates around ``now``."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC).replace(microsecond=0)  # X.509 times have 1 s resolution

    keys = _KeyCache()
    root_key = keys.rsa("root")
    root = _Issuer(_make_root(root_key, now), root_key)
    inter_key = keys.rsa("intermediate")
    inter = _Issuer(_make_intermediate(inter_key, root, now), inter_key)
    leaf_key = keys.rsa("leaf")  # shared by the RSA-2048 leaves: speed

    samples: list[Sample] = []

    def add(
        name: str,
        host: str,
        description: str,
        expect: list[str],
        *,
        key: PrivateKey | None = None,
        cert_host: str | None = None,
        not_before: timedelta = -LEAF_BACKDATE,
        not_after: timedelta = LEAF_LIFETIME - LEAF_BACKDATE,
        san: bool = True,
        eku: list[x509.ObjectIdentifier] | None = None,
        self_signed: bool = False,
        sha1: bool = False,
        order: Callable[[x509.Certificate], tuple[x509.Certificate, ...]] | None = None,
        server: dict[str, str] | None = None,
    ) -> None:
        key = key or leaf_key
        leaf = _make_leaf(
            key,
            None if self_signed else inter,
            cert_host or host,
            now,
            not_before=not_before,
            not_after=not_after,
            san=san,
            eku=eku,
        )
        if sha1:
            leaf = _resign_sha1(leaf, inter_key)
        if order is not None:
            chain = order(leaf)
        elif self_signed:
            chain = (leaf,)
        else:
            chain = (leaf, inter.cert)
        samples.append(
            Sample(
                name=name,
                host=host,
                description=description,
                chain_pem=_pem(*chain),
                key_pem=_key_pem(key),
                expect=expect,
                server=dict(server or {}),
            )
        )

    def days(n: int) -> timedelta:
        return timedelta(days=n)

    add("good_rsa", "good.example.test", "good: RSA 2048 leaf + intermediate", [])
    add(
        "good_ecdsa",
        "ecdsa.example.test",
        "good: ECDSA P-256 leaf + intermediate",
        [],
        key=keys.ec("leaf-ec"),
    )
    add(
        "wildcard",
        "api.wild.example.test",
        "good: wildcard certificate *.wild.example.test",
        [],
        cert_host="*.wild.example.test",
    )
    add(
        "expired",
        "expired.example.test",
        "certificate expired 10 days ago",
        ["cert_expired"],
        not_before=-days(50),
        not_after=-days(10),
    )
    add(
        "expiring_soon",
        "soon.example.test",
        "certificate expires in 5 days",
        ["cert_expiring_soon"],
        not_after=days(5),
    )
    add(
        "not_yet_valid",
        "future.example.test",
        "certificate only becomes valid in 10 days",
        ["cert_not_yet_valid"],
        not_before=days(10),
        not_after=days(40),
    )
    add(
        "wrong_host",
        "wronghost.example.test",
        "certificate is for other.example.test, not the scanned host",
        ["hostname_mismatch"],
        cert_host="other.example.test",
    )

    add(
        "self_signed",
        "selfsigned.example.test",
        "self-signed leaf certificate (not a CA), sent alone",
        ["self_signed_leaf"],
        key=keys.rsa("self-signed"),
        self_signed=True,
    )
    add(
        "sha1",
        "sha1.example.test",
        "leaf signed with SHA-1 (sha1WithRSAEncryption)",
        ["sig_hash_weak"],
        sha1=True,
    )
    add(
        "rsa1024",
        "rsa1024.example.test",
        "leaf has a 1024-bit RSA key",
        ["rsa_key_too_small"],
        key=keys.rsa("leaf-1024", 1024),
    )
    add(
        "no_san",
        "nosan.example.test",
        "no subjectAltName extension: host name only in the CN",
        ["san_missing_or_cn_only"],
        san=False,
    )
    add(
        "no_eku",
        "noeku.example.test",
        "extendedKeyUsage is clientAuth only (no serverAuth)",
        ["eku_serverauth_missing"],
        eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    add(
        "long_validity",
        "long.example.test",
        "900-day validity period: over the 825 days Apple allows even a private root "
        "(a public CA's certificate would also break the 398-day and BR limits)",
        ["validity_too_long_apple"],
        not_after=days(899),
    )
    add(
        "missing_intermediate",
        "nointermediate.example.test",
        "server sends the leaf only; the intermediate is missing",
        ["chain_incomplete"],
        order=lambda leaf: (leaf,),
    )
    add(
        "wrong_order",
        "order.example.test",
        "chain sent out of order: leaf, root, intermediate",
        ["chain_order", "chain_includes_root"],
        order=lambda leaf: (leaf, root.cert, inter.cert),
    )
    add(
        "root_included",
        "withroot.example.test",
        "server also sends the root CA: leaf, intermediate, root",
        ["chain_includes_root"],
        order=lambda leaf: (leaf, inter.cert, root.cert),
    )
    add(
        "tls13_only",
        "tls13.example.test",
        "good certificate, server speaks TLS 1.3 only",
        ["tls13_only", "tls12_missing", "legacy_tls_missing"],
        server={"min_version": "TLSv1.3"},
    )
    add(
        "legacy_tls",
        "legacy.example.test",
        "good certificate, server still accepts TLS 1.0 and 1.1",
        ["legacy_tls_enabled"],
        server={"min_version": "TLSv1.0"},
    )

    return SampleSet(root_pem=_pem(root.cert), intermediate_pem=_pem(inter.cert), samples=samples)


def write(sample_set: SampleSet, directory: Path) -> list[Path]:
    """Write the CA, every sample's chain and key, and manifest.json; return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, data: bytes) -> None:
        path = directory / name
        path.write_bytes(data)
        written.append(path)

    put(ROOT_FILE, sample_set.root_pem)
    put(INTERMEDIATE_FILE, sample_set.intermediate_pem)
    entries = []
    for sample in sample_set.samples:
        put(f"{sample.name}.pem", sample.chain_pem)
        put(f"{sample.name}.key", sample.key_pem)
        leaf = x509.load_pem_x509_certificate(sample.chain_pem)
        entries.append(
            {
                "name": sample.name,
                "host": sample.host,
                "description": sample.description,
                "expect": sample.expect,
                "server": sample.server,
                "cert": f"{sample.name}.pem",
                "key": f"{sample.name}.key",
                "not_before": leaf.not_valid_before_utc.isoformat(),
                "not_after": leaf.not_valid_after_utc.isoformat(),
            }
        )
    manifest = {
        "written_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "ca_file": ROOT_FILE,
        "intermediate_file": INTERMEDIATE_FILE,
        "samples": entries,
    }
    put(MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
    return written
