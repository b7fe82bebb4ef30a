"""A tiny DER reader/writer for tests that need certificates no builder makes.

``cryptography``'s builder refuses malformed certificates (a version field of 3,
duplicate extensions, invalid UTF-8 in a name).  Tests build a valid
certificate, edit its TBSCertificate as a tree of TLVs, and sign it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

CONSTRUCTED = 0x20


@dataclass
class Node:
    """One TLV: ``value`` is a primitive's content, ``children`` a constructed one's."""

    tag: int
    value: bytes = b""
    children: list[Node] = field(default_factory=list)

    @property
    def constructed(self) -> bool:
        return bool(self.tag & CONSTRUCTED)

    def encode(self) -> bytes:
        body = b"".join(c.encode() for c in self.children) if self.constructed else self.value
        return bytes([self.tag]) + encode_length(len(body)) + body


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def parse(data: bytes) -> Node:
    node, end = _parse_at(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes")
    return node


def _parse_at(data: bytes, pos: int) -> tuple[Node, int]:
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    content = data[pos : pos + length]
    end = pos + length
    if tag & CONSTRUCTED:
        children, inner = [], 0
        while inner < len(content):
            child, inner = _parse_at(content, inner)
            children.append(child)
        return Node(tag, children=children), end
    return Node(tag, value=content), end


def tbs_of(cert: x509.Certificate) -> Node:
    return parse(cert.tbs_certificate_bytes)


def extensions_of(tbs: Node) -> Node:
    """The SEQUENCE inside the [3] extensions wrapper of a TBSCertificate."""
    for child in tbs.children:
        if child.tag == 0xA3:
            return child.children[0]
    raise ValueError("no extensions")


def resign(cert: x509.Certificate, tbs: Node, key: object) -> bytes:
    """The certificate DER with ``tbs`` as its TBSCertificate, signed by ``key``."""
    outer = parse(cert.public_bytes(Encoding.DER))
    tbs_der = tbs.encode()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    else:
        raise TypeError("unsupported key")
    outer.children[0] = tbs
    outer.children[2] = Node(0x03, value=b"\x00" + signature)
    return outer.encode()
