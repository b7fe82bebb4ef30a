"""Generated certificate chains for tests: roots, intermediates, leaves, cross-signs.

Every knob a path-validation test needs is a keyword of :func:`issue`: SAN,
validity, key type and size, signature hash, EKU, basicConstraints / pathLen,
keyUsage, name constraints, an issuer name that differs from the signer's
subject.  :func:`corrupt_signature` flips one byte of a signature.

Keys are cached by ``(kind, slot)``: RSA generation is slow, so a run uses a
handful of keys.  EC P-256 is the default wherever the key type does not matter.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from dertools import Node, parse

from certcheck.evaluate import Policy
from certcheck.evaluate.trust import TrustStore
from certcheck.model import ServerFacts, Target

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
_CURVES = {"ec256": ec.SECP256R1, "ec384": ec.SECP384R1, "ec521": ec.SECP521R1}
_RSA_BITS = {"rsa1024": 1024, "rsa2048": 2048, "rsa3072": 3072, "rsa4096": 4096}
#: keyUsage of a CA: keyCertSign + cRLSign (RFC 5280 §4.2.1.3)
CA_KEY_USAGE = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
#: keyUsage of a TLS server leaf: digitalSignature (+ keyEncipherment for RSA)
LEAF_KEY_USAGE = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
#: a CA keyUsage without keyCertSign
NO_CERT_SIGN = x509.KeyUsage(True, False, False, False, False, False, True, False, False)


@cache
def key(kind: str = "ec256", slot: int = 0) -> PrivateKey:
    """A cached private key: ``ec256``/``ec384``/``ec521`` or ``rsa1024``..``rsa4096``."""
    if kind in _CURVES:
        return ec.generate_private_key(_CURVES[kind]())
    if kind in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[kind])
    raise ValueError(f"unknown key kind {kind!r}")


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass(frozen=True)
class Issued:
    """A certificate and the private key of its subject (to sign what it issues)."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)


_UNSET: object = object()


def issue(  # noqa: PLR0913 - one keyword per knob is the point
    cn: str,
    issuer: Issued | None = None,
    *,
    subject_key: PrivateKey | None = None,
    ca: bool = False,
    path_len: int | None = None,
    basic_constraints: bool = True,
    key_usage: x509.KeyUsage | None | object = _UNSET,
    san: Sequence[str] | None = None,
    eku: Sequence[x509.ObjectIdentifier] | None | object = _UNSET,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    lifetime: timedelta | None = None,
    sig_hash: hashes.HashAlgorithm | None = None,
    sha1: bool = False,
    permitted_dns: Sequence[str] | None = None,
    excluded_dns: Sequence[str] | None = None,
    issuer_name: x509.Name | None = None,
    key_ids: bool = True,
    serial: int | None = None,
    extensions: Sequence[x509.ExtensionType] = (),
) -> Issued:
    """Issue one certificate; ``issuer=None`` makes it self-signed.

    Defaults: valid from ``NOW - 30 days`` for 90 days (leaf) or 10 years (CA),
    SHA-256, EC P-256, a leaf with SAN ``cn`` (``san=[]``: none) and EKU serverAuth;
    ``extensions`` are added as they are, non-critical.  ``sha1``
    re-signs it with SHA-1 (the builder refuses to).
    """
    subject_key = subject_key or key("ec256", 1 if ca else 2)
    signer_key = issuer.key if issuer else subject_key
    start = not_before or (NOW - timedelta(days=30))
    end = not_after or start + (lifetime or timedelta(days=3650 if ca else 90))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer_name or (issuer.cert.subject if issuer else name(cn)))
        .public_key(subject_key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_len if ca else None), critical=True
        )
    usage = (CA_KEY_USAGE if ca else LEAF_KEY_USAGE) if key_usage is _UNSET else key_usage
    if isinstance(usage, x509.KeyUsage):
        builder = builder.add_extension(usage, critical=True)
    if key_ids:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False
        )
        signer_public = issuer.key.public_key() if issuer else subject_key.public_key()
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_public), critical=False
        )
    names = san if san is not None else (None if ca else [cn])
    if names:  # an empty ``san`` leaves the extension out
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    usages = (None if ca else [SERVER_AUTH]) if eku is _UNSET else eku
    if isinstance(usages, Sequence):
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if permitted_dns is not None or excluded_dns is not None:
        builder = builder.add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(d) for d in permitted_dns]
                if permitted_dns
                else None,
                excluded_subtrees=[x509.DNSName(d) for d in excluded_dns]
                if excluded_dns
                else None,
            ),
            critical=True,
        )
    for extra in extensions:  # e.g. AuthorityInformationAccess, TLSFeature (non-critical)
        builder = builder.add_extension(extra, critical=False)
    cert = builder.sign(signer_key, sig_hash or hashes.SHA256())
    if sha1:
        cert = resign_sha1(cert, signer_key)
    return Issued(cert, subject_key)


#: AlgorithmIdentifier DER (RFC 3279 §2.2.1 / §2.2.3): RSA with a NULL parameter,
#: ECDSA without parameters
_SHA1_RSA = bytes.fromhex("300d06092a864886f70d0101050500")
_SHA1_ECDSA = bytes.fromhex("300906072a8648ce3d0401")


def resign_sha1(cert: x509.Certificate, signer_key: PrivateKey) -> x509.Certificate:
    """``cert`` with its signature algorithm set to SHA-1 and signed again by ``signer_key``."""
    ecdsa = isinstance(signer_key, ec.EllipticCurvePrivateKey)
    algorithm = parse(_SHA1_ECDSA if ecdsa else _SHA1_RSA)
    tbs = parse(cert.tbs_certificate_bytes)
    index = 1 if tbs.children[0].tag == 0xA0 else 0  # [0] version, then serial
    tbs.children[index + 1] = algorithm
    tbs_der = tbs.encode()
    if isinstance(signer_key, ec.EllipticCurvePrivateKey):
        signature = signer_key.sign(tbs_der, ec.ECDSA(hashes.SHA1()))
    else:
        signature = signer_key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA1())
    outer = Node(0x30, children=[tbs, algorithm, Node(0x03, value=b"\x00" + signature)])
    return x509.load_der_x509_certificate(outer.encode())


def root(cn: str = "Gen Root", slot: int = 0, **kwargs: object) -> Issued:
    """A self-signed CA (its own key slot, so two roots never share a key)."""
    kwargs.setdefault("subject_key", key("ec256", 10 + slot))
    return issue(cn, None, ca=True, **kwargs)  # type: ignore[arg-type]


def intermediate(cn: str, issuer: Issued, slot: int = 0, **kwargs: object) -> Issued:
    kwargs.setdefault("subject_key", key("ec256", 20 + slot))
    kwargs.setdefault("ca", True)
    return issue(cn, issuer, **kwargs)  # type: ignore[arg-type]


def leaf(host: str, issuer: Issued | None, **kwargs: object) -> Issued:
    kwargs.setdefault("subject_key", key("ec256", 2))
    return issue(host, issuer, **kwargs)  # type: ignore[arg-type]


def cross_sign(subject: Issued, issuer: Issued, **kwargs: object) -> Issued:
    """``subject``'s name and key certified by ``issuer`` (a cross-certificate)."""
    cn = subject.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return issue(str(cn), issuer, ca=True, subject_key=subject.key, **kwargs)  # type: ignore[arg-type]


def corrupt_signature(cert: x509.Certificate | Issued) -> x509.Certificate:
    """The same certificate with the last byte of its signature flipped.

    The signature BIT STRING ends the DER encoding, so the result still parses
    and only the signature check fails.
    """
    c = cert.cert if isinstance(cert, Issued) else cert
    der = bytearray(c.public_bytes(Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


def b64(cert: x509.Certificate | Issued) -> str:
    c = cert.cert if isinstance(cert, Issued) else cert
    return base64.b64encode(c.public_bytes(Encoding.DER)).decode()


@dataclass
class Chain:
    """What a server sends (``served``, leaf first) and what the client trusts (``roots``)."""

    host: str
    served: list[x509.Certificate]
    roots: list[x509.Certificate] = field(default_factory=list)
    #: the roots are platform-store roots (public CA rules apply), not a --ca-file
    store: bool = False

    @property
    def leaf(self) -> x509.Certificate:
        return self.served[0]

    @property
    def intermediates(self) -> list[x509.Certificate]:
        return self.served[1:]

    def trust(self) -> TrustStore:
        if self.store:
            return TrustStore(system=list(self.roots), extra=[])
        return TrustStore(system=[], extra=list(self.roots))

    def policy(self, **kwargs: object) -> Policy:
        return Policy.build(trust=self.trust(), **kwargs)  # type: ignore[arg-type]

    def facts(self, *, tls13: bool = True) -> ServerFacts:
        """Facts of a modern server (TLS 1.2 + 1.3, ECDHE-GCM) sending this chain."""
        ecdsa = isinstance(self.leaf.public_key(), ec.EllipticCurvePublicKey)
        kind = "ECDSA" if ecdsa else "RSA"
        suites = {
            "TLSv1.2": [
                f"TLS_ECDHE_{kind}_WITH_AES_128_GCM_SHA256",
                f"TLS_ECDHE_{kind}_WITH_AES_256_GCM_SHA384",
                f"TLS_ECDHE_{kind}_WITH_AES_128_CBC_SHA",
            ]
        }
        if tls13:
            suites["TLSv1.3"] = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]
        groups = {v: ["x25519", "secp256r1"] for v in suites}
        return ServerFacts(
            target=Target(self.host, 443),
            scanned_at="2026-11-22T12:00:00Z",
            chain=[b64(c) for c in self.served],
            negotiated_protocol="TLSv1.3" if tls13 else "TLSv1.2",
            protocols={
                "SSLv3": False,
                "TLSv1.0": False,
                "TLSv1.1": False,
                "TLSv1.2": True,
                "TLSv1.3": tls13,
            },
            cipher_suites=suites,
            groups=groups,
            server_cipher_order={v: True for v in suites},
            sslv2=False,
            source="file",
        )


def simple_chain(host: str = "www.example.test", **leaf_kwargs: object) -> Chain:
    """root -> intermediate -> leaf, all good unless ``leaf_kwargs`` say otherwise."""
    anchor = root()
    inter = intermediate("Gen Intermediate", anchor)
    end = leaf(host, inter, **leaf_kwargs)
    return Chain(host, [end.cert, inter.cert], [anchor.cert])


# -- random chains for property tests (hypothesis)


@dataclass(frozen=True)
class Level:
    """What can be wrong with one CA certificate of a generated chain."""

    path_len: int | None = None
    permitted: str | None = None  # a permitted DNS subtree
    excluded: str | None = None  # an excluded DNS subtree
    eku_client_only: bool = False
    expired: bool = False
    not_yet_valid: bool = False
    ca_false: bool = False
    no_cert_sign: bool = False
    sha1: bool = False
    bad_signature: bool = False


def build_random_chain(levels: Sequence[Level], host: str, *, leaf_level: Level | None = None,
                       send_all: bool = True, lifetime_days: int = 90) -> Chain:
    """root = ``levels[0]``, then one intermediate per further level, then the leaf for ``host``.

    ``leaf_level`` may ask for an expired / not-yet-valid / SHA-1 / client-only /
    badly signed leaf; ``send_all=False`` leaves the top intermediate out.
    """
    issued: list[Issued] = []
    for depth, level in enumerate(levels):
        kwargs: dict = {
            "path_len": level.path_len,
            "permitted_dns": [level.permitted] if level.permitted else None,
            "excluded_dns": [level.excluded] if level.excluded else None,
            "eku": [CLIENT_AUTH] if level.eku_client_only else None,
            "sha1": level.sha1 and depth > 0,
            "subject_key": key("ec256", 40 + depth),
        }
        kwargs.update(_validity_of(level, timedelta(days=3650)))
        if level.ca_false and depth > 0:
            kwargs["ca"] = False
        if level.no_cert_sign:
            kwargs["key_usage"] = NO_CERT_SIGN
        parent = issued[-1] if issued else None
        ca = kwargs.pop("ca", True)
        issued.append(issue(f"Random CA {depth}", parent, ca=ca, **kwargs))
    top = leaf_level or Level()
    end = issue(host, issued[-1], subject_key=key("ec256", 2),
                eku=[CLIENT_AUTH] if top.eku_client_only else [SERVER_AUTH], sha1=top.sha1,
                **_validity_of(top, timedelta(days=lifetime_days)))
    certs = [end.cert] + [i.cert for i in reversed(issued[1:])]
    flags = [top] + list(reversed(levels[1:]))
    served = [corrupt_signature(c) if f.bad_signature else c for c, f in zip(certs, flags,
                                                                              strict=True)]
    if not send_all and len(served) > 1:
        served = served[:-1]
    anchor = issued[0].cert
    if levels[0].bad_signature:
        anchor = corrupt_signature(anchor)
    return Chain(host, served, [anchor])


def _validity_of(level: Level, lifetime: timedelta) -> dict:
    if level.expired:
        return {"not_before": NOW - lifetime - timedelta(days=2), "lifetime": lifetime}
    if level.not_yet_valid:
        return {"not_before": NOW + timedelta(days=2), "lifetime": lifetime}
    return {"not_before": NOW - timedelta(days=30), "lifetime": lifetime}


def levels_strategy():  # type: ignore[no-untyped-def]  # hypothesis is a test dependency
    """A hypothesis strategy of :class:`Level`: each problem is rare, so most chains are clean."""
    from hypothesis import strategies as st

    rare = st.sampled_from([False] * 8 + [True])
    return st.builds(
        Level,
        path_len=st.sampled_from([None, None, None, 0, 1]),
        permitted=st.sampled_from([None, None, None, "example.test", "other.test"]),
        excluded=st.sampled_from([None, None, None, "bad.example.test"]),
        eku_client_only=rare,
        expired=rare,
        not_yet_valid=rare,
        ca_false=rare,
        no_cert_sign=rare,
        sha1=rare,
        bad_signature=rare,
    )


#: hosts for random chains: inside, inside-but-excluded and outside the subtrees above
RANDOM_HOSTS = ("www.example.test", "a.bad.example.test", "www.other.test")
