"""Small, pure helpers that read facts out of parsed X.509 certificates."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from certcheck.core.times import DAY, days_left, iso


class CertificateDecodeError(ValueError):
    """A certificate that cannot be decoded completely; the message says which part."""


@lru_cache(maxsize=2048)
def load_certificate(der: bytes) -> x509.Certificate:
    """Parse ``der`` and every part evaluation reads, or raise :class:`CertificateDecodeError`.

    Cached by the DER (certificates are immutable): a fleet behind one chain, and the
    rules, the simulation and the distrust checks of one target, decode each once.

    ``cryptography`` parses some fields lazily: a name with invalid UTF-8 raises
    only when ``cert.subject`` is read, a duplicate extension only when
    ``cert.extensions`` is, and an unknown version number raises
    ``InvalidVersion`` (not a ValueError).  Reading them all here, once, keeps
    every later rule free of surprises: a certificate that loads is whole.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
    except x509.InvalidVersion as exc:
        raise CertificateDecodeError(f"invalid version field ({exc.parsed_version})") from exc
    except Exception as exc:  # noqa: BLE001 - any decoder complaint is a decode failure
        raise CertificateDecodeError(f"not a DER certificate: {exc}") from exc
    for part, read in _PARTS:
        try:
            read(cert)
        except x509.DuplicateExtension as exc:
            raise CertificateDecodeError(f"duplicate extension {exc.oid.dotted_string}") from exc
        except UnsupportedAlgorithm:
            continue  # an algorithm certcheck cannot use is judged by the key/hash rules
        except Exception as exc:  # noqa: BLE001
            raise CertificateDecodeError(f"{part} cannot be decoded: {exc}") from exc
    return cert


def _read_names(cert: x509.Certificate) -> None:
    for name in (cert.subject, cert.issuer):
        for attribute in name:
            _ = attribute.value
        name.rfc4514_string()


def _read_extensions(cert: x509.Certificate) -> None:
    for ext in cert.extensions:
        _ = ext.value


_PARTS: tuple[tuple[str, Any], ...] = (
    ("serial number", lambda c: c.serial_number),
    ("subject or issuer name", _read_names),
    ("validity", lambda c: (c.not_valid_before_utc, c.not_valid_after_utc)),
    ("extensions", _read_extensions),
    ("signature algorithm", lambda c: c.signature_hash_algorithm),
    ("public key", lambda c: c.public_key()),
    ("TBS bytes", lambda c: c.tbs_certificate_bytes),
)


def b64_der(entry: str) -> bytes:
    """The DER bytes of a base64 chain entry of the facts; b"" when it is not base64."""
    try:
        return base64.b64decode(entry)
    except (binascii.Error, ValueError):
        return b""


def try_load(der: bytes) -> x509.Certificate | None:
    """:func:`load_certificate`, or None for a certificate that cannot be decoded."""
    try:
        return load_certificate(der)
    except CertificateDecodeError:
        return None


K = TypeVar("K")
V = TypeVar("V")

#: entries of each identity memo before it starts again (the lru caches behind stay)
_IDENTITY_MEMO = 8192


class _ByIdentity(Generic[K, V]):
    """``fn(obj)`` cached by the object's identity, in front of an lru_cache by its value.

    For immutable cryptography objects (certificates, names).  Hashing a Certificate
    hashes its whole DER, about 3 us a lookup, and the simulation asks for the same
    certificates' fingerprints and descriptions hundreds of times per target: an
    identity lookup is about 0.2 us.  Each entry holds the object itself, so its id
    cannot be reused by another object while the entry lives.
    """

    def __init__(self, fn: Callable[[K], V]) -> None:
        self._by_value = lru_cache(maxsize=8192)(fn)
        self._memo: dict[int, tuple[K, V]] = {}
        functools.update_wrapper(self, fn)

    def __call__(self, obj: K) -> V:
        entry = self._memo.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = self._by_value(obj)
        if len(self._memo) >= _IDENTITY_MEMO:
            self._memo = {}
        self._memo[id(obj)] = (obj, value)
        return value

    def cache_clear(self) -> None:
        self._memo = {}
        self._by_value.cache_clear()


def by_identity(fn: Callable[[K], V]) -> _ByIdentity[K, V]:
    """Decorator: see :class:`_ByIdentity` (``cache_clear()`` clears both levels)."""
    return _ByIdentity(fn)


@by_identity
def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER, lowercase hex (the form used in rules/ data).

    Cached: path building and the 35-client simulation ask for the same
    certificates' fingerprints many times per target (a sixth of a scan's CPU).
    """
    return cert.fingerprint(hashes.SHA256()).hex()


@by_identity
def subject_str(name: x509.Name) -> str:
    """RFC 4514 text of a name (cached: the simulation names the same CAs per client)."""
    try:
        return name.rfc4514_string()
    except ValueError:
        return repr(name)


def common_names(cert: x509.Certificate) -> list[str]:
    try:
        attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return []
    return [str(a.value) for a in attrs]


def extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> Any | None:
    """The extension value, or None when absent or unparseable."""
    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def san_dns_names(cert: x509.Certificate) -> list[str] | None:
    """dNSName entries of the SAN, or None when the certificate has no SAN."""
    san = extension(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if san is None:
        return None
    return [str(n) for n in san.get_values_for_type(x509.DNSName)]


def san_ip_addresses(cert: x509.Certificate) -> list[str]:
    san = extension(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if san is None:
        return []
    return [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def aia_ca_issuers(cert: x509.Certificate) -> list[str]:
    aia = extension(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    if aia is None:
        return []
    return [
        str(d.access_location.value)
        for d in aia
        if d.access_method == x509.oid.AuthorityInformationAccessOID.CA_ISSUERS
    ]


def is_ca(cert: x509.Certificate) -> bool:
    bc = extension(cert, ExtensionOID.BASIC_CONSTRAINTS)
    return bool(bc and bc.ca)


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s name and key produced ``cert``'s signature."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # cryptography refuses SHA-1/MD5 signatures outright; to *explain* such a
        # chain we still need to know who signed it.
        return _legacy_signature_ok(cert, issuer)
    return True


def _legacy_signature_ok(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        digest = cert.signature_hash_algorithm
        key = issuer.public_key()
        if digest is None:
            return False
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(digest))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


@by_identity
def key_description(cert: x509.Certificate) -> tuple[str, int, str | None]:
    """(algorithm, bits, curve) of the certificate's public key (cached per certificate)."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return ("unknown", 0, None)
    if isinstance(key, rsa.RSAPublicKey):
        return ("RSA", key.key_size, None)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ("EC", key.curve.key_size, key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("Ed25519", 256, None)
    if isinstance(key, ed448.Ed448PublicKey):
        return ("Ed448", 456, None)
    if isinstance(key, dsa.DSAPublicKey):
        return ("DSA", key.key_size, None)
    return ("unknown", 0, None)


def signature_hash(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "unsupported"
    return algorithm.name if algorithm else None


def lifetime_seconds(cert: x509.Certificate) -> float:
    """notAfter - notBefore (the span Apple's trustd compares)."""
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()


def lifetime_days_inclusive(cert: x509.Certificate) -> int:
    """RFC 5280 / BR validity period: inclusive, any part of a day counts as a day."""
    seconds = lifetime_seconds(cert) + 1
    return int(-(-seconds // DAY))


def describe(cert: x509.Certificate, now: datetime) -> dict[str, Any]:
    """A JSON-ready summary of one certificate, for reports (a fresh dict each call)."""
    summary = dict(_description(cert))
    summary["days_left"] = days_left(cert.not_valid_after_utc, now)
    summary["san"] = list(summary["san"])
    summary["san_ip"] = list(summary["san_ip"])
    return summary


@by_identity
def _description(cert: x509.Certificate) -> dict[str, Any]:
    """What :func:`describe` says that does not depend on the time (cached per certificate:
    a fleet's targets share intermediates, and often the leaf too).  Never handed out as is."""
    algorithm, bits, curve = key_description(cert)
    return {
        "subject": subject_str(cert.subject),
        "issuer": subject_str(cert.issuer),
        "serial": format(cert.serial_number, "x"),
        "not_before": iso(cert.not_valid_before_utc),
        "not_after": iso(cert.not_valid_after_utc),
        "days_left": None,
        "key": f"{algorithm}-{curve or bits}",
        "signature_hash": signature_hash(cert),
        "sha256": fingerprint(cert),
        "san": san_dns_names(cert) or [],
        "san_ip": san_ip_addresses(cert),
        "is_ca": is_ca(cert),
        "self_signed": is_self_signed(cert),
    }
