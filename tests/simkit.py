"""Shared by the simulation tests: a modern server's facts and a store with no usable root."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certcheck.evaluate.trust import TrustStore
from certcheck.model import ServerFacts, Target

HOST = "api.example.test"


def _unrelated_root() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unrelated Root")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


# cryptography refuses an empty Store: an unrelated anchor stands for "no usable root".
NO_ROOTS = TrustStore(system=[], extra=[_unrelated_root()])


def modern_facts(chain: list[str], **changes) -> ServerFacts:
    """A TLS 1.2 + 1.3 server with ECDHE-ECDSA suites, as the probe would report it."""
    facts = ServerFacts(
        target=Target(HOST, 443),
        scanned_at="2026-06-01T00:00:00Z",
        chain=chain,
        protocols={
            "SSLv3": False,
            "TLSv1.0": False,
            "TLSv1.1": False,
            "TLSv1.2": True,
            "TLSv1.3": True,
        },
        cipher_suites={
            "TLSv1.2": [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            ],
            "TLSv1.3": ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"],
        },
        groups={"TLSv1.2": ["x25519", "secp256r1"], "TLSv1.3": ["x25519", "secp256r1"]},
        server_cipher_order={"TLSv1.2": True, "TLSv1.3": True},
    )
    return replace(facts, **changes)
