"""What one client accepts in the server's certificates, beyond its root store.

Applied while the client's path is searched (:mod:`certcheck.evaluate.client_trust`),
so that a path which satisfies them is found when one exists:

* **signature schemes** — a TLS 1.2 client that sends ``signature_algorithms``
  accepts only certificates signed with a listed hash/signature pair (RFC 5246
  7.4.2: "all certificates provided by the server MUST be signed by a
  hash/signature algorithm pair that appears in that extension"); in TLS 1.3
  ``signature_algorithms_cert`` governs certificate signatures, and
  ``signature_algorithms`` when it is absent (RFC 8446 4.2.3).  Below TLS 1.2
  the extension does not exist and nothing is implied.
* **requires_sha2** — a vendor statement that the client refuses SHA-1 (and
  weaker) certificate signatures whatever it offers (e.g. Apple's iOS 13
  certificate requirements), ``requires_sha2_source`` in ``rules/clients.toml``.
* **key sizes** — ``min_rsa_bits`` / ``max_rsa_bits`` / ``min_ecdsa_bits`` for
  the CA certificates of the path (the leaf is judged with the negotiated suite
  in :mod:`certcheck.evaluate.simulation`).
* **the leaf's curve** — an ECDSA leaf must be on a curve the client offers:
  ``supported_groups`` in TLS 1.0-1.2 (RFC 8422 5.1 and 5.3), the curve-bound
  ECDSA signature schemes in TLS 1.3 (RFC 8446 4.2.3).

A self-signed trust anchor's own signature is never judged: clients do not
verify it (RFC 8446 4.4.2.2, RFC 5280 6.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import SignatureAlgorithmOID

from certcheck.evaluate.certinfo import by_identity, is_self_signed, key_description, subject_str
from certcheck.platforms import ClientProfile

WEAK_SIGNATURE_HASHES = frozenset({"sha1", "md5", "md2", "md4"})
TLS12_AND_UP = frozenset({"TLSv1.2", "TLSv1.3"})


@dataclass(frozen=True)
class Scheme:
    """One TLS SignatureScheme (RFC 8446 4.2.3) or TLS 1.2 hash/signature pair (RFC 5246)."""

    code: int
    name: str
    kind: str  # rsa_pkcs1 | rsa_pss | ecdsa | dsa | ed25519 | ed448
    hash: str | None  # cryptography's hash name; None for EdDSA
    curve: str | None = None  # TLS 1.3 ECDSA schemes name their curve


#: IANA "TLS SignatureScheme" registry, plus the TLS 1.2 pairs (hash, signature) the
#: registry lists only as legacy code points: 0x03xx = SHA-224, 0x02xx = SHA-1,
#: 0x01xx = MD5; xx01 = RSA, xx02 = DSA, xx03 = ECDSA.
SCHEMES: tuple[Scheme, ...] = (
    Scheme(0x0101, "rsa_pkcs1_md5", "rsa_pkcs1", "md5"),
    Scheme(0x0102, "dsa_md5", "dsa", "md5"),
    Scheme(0x0103, "ecdsa_md5", "ecdsa", "md5"),
    Scheme(0x0201, "rsa_pkcs1_sha1", "rsa_pkcs1", "sha1"),
    Scheme(0x0202, "dsa_sha1", "dsa", "sha1"),
    Scheme(0x0203, "ecdsa_sha1", "ecdsa", "sha1"),
    Scheme(0x0301, "rsa_pkcs1_sha224", "rsa_pkcs1", "sha224"),
    Scheme(0x0302, "dsa_sha224", "dsa", "sha224"),
    Scheme(0x0303, "ecdsa_sha224", "ecdsa", "sha224"),
    Scheme(0x0401, "rsa_pkcs1_sha256", "rsa_pkcs1", "sha256"),
    Scheme(0x0402, "dsa_sha256", "dsa", "sha256"),
    Scheme(0x0403, "ecdsa_secp256r1_sha256", "ecdsa", "sha256", "secp256r1"),
    Scheme(0x0501, "rsa_pkcs1_sha384", "rsa_pkcs1", "sha384"),
    Scheme(0x0502, "dsa_sha384", "dsa", "sha384"),
    Scheme(0x0503, "ecdsa_secp384r1_sha384", "ecdsa", "sha384", "secp384r1"),
    Scheme(0x0601, "rsa_pkcs1_sha512", "rsa_pkcs1", "sha512"),
    Scheme(0x0602, "dsa_sha512", "dsa", "sha512"),
    Scheme(0x0603, "ecdsa_secp521r1_sha512", "ecdsa", "sha512", "secp521r1"),
    Scheme(0x0804, "rsa_pss_rsae_sha256", "rsa_pss", "sha256"),
    Scheme(0x0805, "rsa_pss_rsae_sha384", "rsa_pss", "sha384"),
    Scheme(0x0806, "rsa_pss_rsae_sha512", "rsa_pss", "sha512"),
    Scheme(0x0807, "ed25519", "ed25519", None),
    Scheme(0x0808, "ed448", "ed448", None),
    Scheme(0x0809, "rsa_pss_pss_sha256", "rsa_pss", "sha256"),
    Scheme(0x080A, "rsa_pss_pss_sha384", "rsa_pss", "sha384"),
    Scheme(0x080B, "rsa_pss_pss_sha512", "rsa_pss", "sha512"),
    Scheme(0x081A, "ecdsa_brainpoolP256r1tls13_sha256", "ecdsa", "sha256", "brainpoolP256r1"),
    Scheme(0x081B, "ecdsa_brainpoolP384r1tls13_sha384", "ecdsa", "sha384", "brainpoolP384r1"),
    Scheme(0x081C, "ecdsa_brainpoolP512r1tls13_sha512", "ecdsa", "sha512", "brainpoolP512r1"),
)
SCHEMES_BY_NAME: dict[str, Scheme] = {s.name: s for s in SCHEMES}
SCHEMES_BY_CODE: dict[int, Scheme] = {s.code: s for s in SCHEMES}

#: cryptography's curve names -> TLS NamedGroup names (RFC 8422 5.1.1, RFC 7027).
_GROUP_OF_CURVE = {
    "secp192r1": "secp192r1",
    "secp224r1": "secp224r1",
    "secp256k1": "secp256k1",
    "secp256r1": "secp256r1",
    "secp384r1": "secp384r1",
    "secp521r1": "secp521r1",
    "brainpoolP256r1": "brainpoolP256r1",
    "brainpoolP384r1": "brainpoolP384r1",
    "brainpoolP512r1": "brainpoolP512r1",
}
_OID = SignatureAlgorithmOID
_KIND_OF_OID = {
    _OID.ED25519: "ed25519",
    _OID.ED448: "ed448",
    _OID.ECDSA_WITH_SHA1: "ecdsa",
    _OID.ECDSA_WITH_SHA224: "ecdsa",
    _OID.ECDSA_WITH_SHA256: "ecdsa",
    _OID.ECDSA_WITH_SHA384: "ecdsa",
    _OID.ECDSA_WITH_SHA512: "ecdsa",
    _OID.DSA_WITH_SHA1: "dsa",
    _OID.DSA_WITH_SHA224: "dsa",
    _OID.DSA_WITH_SHA256: "dsa",
}
_SHORT = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def curve_label(group: str) -> str:
    return f"{_SHORT[group]} ({group})" if group in _SHORT else group


def certificate_signature(cert: x509.Certificate) -> tuple[str, str | None] | None:
    """(kind, hash) of the signature on ``cert``, in :class:`Scheme` terms; None if unknown."""
    try:
        hash_algorithm = cert.signature_hash_algorithm
        parameters = cert.signature_algorithm_parameters
    except (UnsupportedAlgorithm, ValueError):
        return None
    digest = hash_algorithm.name if hash_algorithm is not None else None
    if isinstance(parameters, padding.PSS):
        return ("rsa_pss", digest)
    if isinstance(parameters, padding.PKCS1v15):
        return ("rsa_pkcs1", digest)
    kind = _KIND_OF_OID.get(cert.signature_algorithm_oid)
    if kind is None:
        return None
    return (kind, None if kind in ("ed25519", "ed448") else digest)


def _describe_signature(signature: tuple[str, str | None]) -> str:
    kind, digest = signature
    names = {"rsa_pkcs1": "RSA", "rsa_pss": "RSA-PSS", "ecdsa": "ECDSA", "dsa": "DSA"}
    if digest is None:
        return {"ed25519": "Ed25519", "ed448": "Ed448"}.get(kind, kind)
    return f"{digest.upper()}-{names.get(kind, kind)}"


@dataclass(frozen=True)
class CertificatePolicy:
    """One client's certificate constraints for one negotiated protocol version."""

    #: (kind, hash) pairs the client lists; None = no list applies (TLS <= 1.1, or no extension)
    signatures: frozenset[tuple[str, str | None]] | None
    #: curves of the TLS 1.3 ECDSA schemes it lists (None = TLS <= 1.2 rules apply)
    tls13_curves: frozenset[str] | None
    #: the client's supported_groups; empty = extension absent (any curve, RFC 8422 4)
    groups: frozenset[str]
    forbid_weak_hashes: bool
    min_rsa_bits: int | None = None
    max_rsa_bits: int | None = None
    min_ecdsa_bits: int | None = None

    # ------------------------------------------------------------------ path

    def signature_problem(self, cert: x509.Certificate) -> str | None:
        """Why this client refuses the signature on ``cert`` (a non-anchor of its path)."""
        signature = certificate_signature(cert)
        who = subject_str(cert.subject)
        if self.forbid_weak_hashes and signature is not None:
            if signature[1] in WEAK_SIGNATURE_HASHES:
                digest = (signature[1] or "").upper()
                return f"{who} is signed with {digest}; client needs SHA-2"
        if self.signatures is None:
            return None
        if signature is None:
            return f"{who} has a signature algorithm this client does not know"
        if signature not in self.signatures:
            return (
                f"{who} is signed with {_describe_signature(signature)}, which this client "
                "does not offer in signature_algorithms"
            )
        return None

    def key_problem(self, cert: x509.Certificate) -> str | None:
        """Why this client refuses the key of a CA certificate of its path."""
        algorithm, bits, _curve = key_description(cert)
        who = subject_str(cert.subject)
        if algorithm == "RSA" and self.min_rsa_bits and bits < self.min_rsa_bits:
            return f"{who} has an RSA {bits}-bit key; client needs >= {self.min_rsa_bits}"
        if algorithm == "RSA" and self.max_rsa_bits and bits > self.max_rsa_bits:
            return f"{who} has an RSA {bits}-bit key; client accepts <= {self.max_rsa_bits}"
        if algorithm == "EC" and self.min_ecdsa_bits and bits < self.min_ecdsa_bits:
            return f"{who} has an EC {bits}-bit key; client needs >= {self.min_ecdsa_bits}"
        return None

    def path_problem(self, path: list[x509.Certificate]) -> str | None:
        """The first constraint a path (leaf first) breaks; self-signed anchors are exempt."""
        for position, cert in enumerate(path):
            if position > 0 and is_self_signed(cert):
                continue
            problem = self.signature_problem(cert)
            if problem is None and position > 0:
                problem = self.key_problem(cert)
            if problem is not None:
                return problem
        return None

    # ------------------------------------------------------------------ leaf

    def curve_problem(self, leaf: x509.Certificate) -> str | None:
        """Why this client cannot use an ECDSA leaf's curve; None for other keys."""
        algorithm, _bits, curve = key_description(leaf)
        if algorithm != "EC" or curve is None:
            return None
        group = _GROUP_OF_CURVE.get(curve, curve)
        if self.tls13_curves is not None:
            if group not in self.tls13_curves:
                offered = ", ".join(sorted(self.tls13_curves)) or "none"
                return (
                    f"certificate key on {curve_label(group)}: the client's TLS 1.3 "
                    f"signature_algorithms offer ECDSA only on {offered}"
                )
            return None
        if self.groups and group not in self.groups:
            usable = sorted(g for g in self.groups if g in _GROUP_OF_CURVE.values())
            offered = ", ".join(curve_label(g) for g in usable) or "no curve for certificates"
            return (
                f"certificate key on {curve_label(group)}: the client offers only {offered} "
                "(supported_groups)"
            )
        return None


def certificate_policy(
    *,
    version: str | None,
    signature_algorithms: tuple[str, ...],
    signature_algorithms_cert: tuple[str, ...] = (),
    supported_groups: tuple[str, ...] = (),
    requires_sha2: bool = False,
    min_rsa_bits: int | None = None,
    max_rsa_bits: int | None = None,
    min_ecdsa_bits: int | None = None,
) -> CertificatePolicy:
    """The :class:`CertificatePolicy` of a client that negotiated ``version``."""
    listed = signature_algorithms_cert or signature_algorithms
    signatures: frozenset[tuple[str, str | None]] | None = None
    tls13_curves: frozenset[str] | None = None
    if version in TLS12_AND_UP and listed:
        schemes = [SCHEMES_BY_NAME[n] for n in listed if n in SCHEMES_BY_NAME]
        signatures = frozenset((s.kind, s.hash) for s in schemes)
    if version == "TLSv1.3" and signature_algorithms:
        # The server's CertificateVerify uses the leaf key: a curve-bound ECDSA scheme.
        handshake = [SCHEMES_BY_NAME[n] for n in signature_algorithms if n in SCHEMES_BY_NAME]
        tls13_curves = frozenset(s.curve for s in handshake if s.curve is not None)
    return CertificatePolicy(
        signatures=signatures,
        tls13_curves=tls13_curves,
        groups=frozenset(supported_groups),
        forbid_weak_hashes=requires_sha2,
        min_rsa_bits=min_rsa_bits,
        max_rsa_bits=max_rsa_bits,
        min_ecdsa_bits=min_ecdsa_bits,
    )


@by_identity
def _policies_of(profile: ClientProfile) -> dict[str | None, CertificatePolicy]:
    """``profile``'s policies by version, filled as they are asked for.  The simulation asks
    once per client per target, and hashing a profile (a dataclass of tuples) costs more
    than building the policy: kept per profile object."""
    return {}


def client_policy(profile: ClientProfile, version: str | None) -> CertificatePolicy:
    """The policy of ``profile`` on ``version`` (None: its highest protocol, not negotiated)."""
    policies = _policies_of(profile)
    policy = policies.get(version)
    if policy is None:
        policy = policies[version] = _client_policy(profile, version)
    return policy


def _client_policy(profile: ClientProfile, version: str | None) -> CertificatePolicy:
    return certificate_policy(
        version=version or profile.protocols[-1],
        signature_algorithms=profile.signature_algorithms,
        signature_algorithms_cert=profile.signature_algorithms_cert,
        supported_groups=profile.supported_groups,
        requires_sha2=profile.requires_sha2,
        min_rsa_bits=profile.min_rsa_bits,
        max_rsa_bits=profile.max_rsa_bits,
        min_ecdsa_bits=profile.min_ecdsa_bits,
    )
