"""Hand-built ClientHellos: protocol-version detection and the enumeration offers.

The local OpenSSL refuses SSLv3/TLS 1.0/TLS 1.1 at its default security level,
so asking it whether a *server* still speaks them says nothing.  Instead we
write a ClientHello ourselves (RFC 6101, RFC 5246, RFC 8446), send it over a
plain TCP socket and read only the server's first answer: a ServerHello (or
HelloRetryRequest) names the version the server chose, an alert means no.
No key exchange is ever completed.  :mod:`certcheck.probe.ciphers` uses the
same builder with narrowed suite and group lists to enumerate what is accepted.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Generic, TypeVar

from certcheck.core.tls import (
    CIPHER_NAMES,
    TLS13_GROUPS,
    cipher_name,
    default_groups,
    default_suites,
    group_name,
)
from certcheck.probe.budget import ConnectionBudget
from certcheck.probe.driver import Plan, Together, run
from certcheck.probe.wire import Exchange, ask

__all__ = [
    "CIPHER_NAMES",
    "PROTOCOL_CODES",
    "HelloAnswer",
    "build_client_hello",
    "parse_server_answer",
    "parse_server_hello",
    "probe_version",
    "probe_versions",
    "version_plan",
    "versions_plan",
]

PROTOCOL_CODES: dict[str, int] = {
    "SSLv3": 0x0300,
    "TLSv1.0": 0x0301,
    "TLSv1.1": 0x0302,
    "TLSv1.2": 0x0303,
    "TLSv1.3": 0x0304,
}
_VERSION_NAMES: dict[int, str] = {code: name for name, code in PROTOCOL_CODES.items()}

#: Named groups offered to TLS 1.3 (x25519 first: it carries the key share);
#: TLS 1.0-1.2 hellos offer the elliptic curves only (suites.TLS12_GROUPS).
DEFAULT_GROUPS: list[int] = list(TLS13_GROUPS)
_X25519 = 0x001D

#: Signature schemes (RFC 8446 4.2.3), SHA-1 ones last for old servers.
SIGNATURE_SCHEMES: list[int] = [
    0x0403, 0x0503, 0x0603,  # ecdsa_secp256r1_sha256 .. secp521r1_sha512
    0x0807, 0x0808,  # ed25519, ed448
    0x0804, 0x0805, 0x0806,  # rsa_pss_rsae_sha256 .. sha512
    0x0809, 0x080A, 0x080B,  # rsa_pss_pss_sha256 .. sha512
    0x0401, 0x0501, 0x0601,  # rsa_pkcs1_sha256 .. sha512
    0x0303, 0x0301,  # ecdsa_sha224, rsa_pkcs1_sha224 (legacy)
    0x0203, 0x0201,  # ecdsa_sha1, rsa_pkcs1_sha1
]  # fmt: skip

ALERT_NAMES: dict[int, str] = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
    21: "decryption_failed", 22: "record_overflow", 30: "decompression_failure",
    40: "handshake_failure", 41: "no_certificate", 42: "bad_certificate",
    43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
    46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
    49: "access_denied", 50: "decode_error", 51: "decrypt_error",
    60: "export_restriction", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension",
    112: "unrecognized_name", 113: "bad_certificate_status_response",
    115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol",
}  # fmt: skip

# Record content types and handshake message types (RFC 5246 6.2.1, 7.4).
_ALERT, _HANDSHAKE = 21, 22
_CLIENT_HELLO, _SERVER_HELLO, _HELLO_REQUEST = 1, 2, 0
# Extension codes.
_EXT_SNI, _EXT_GROUPS, _EXT_POINT_FORMATS, _EXT_SIG_ALGS = 0x0000, 0x000A, 0x000B, 0x000D
_EXT_EMS, _EXT_SUPPORTED_VERSIONS, _EXT_KEY_SHARE, _EXT_RENEGO = 0x0017, 0x002B, 0x0033, 0xFF01
EXT_SCT, _EXT_PADDING = 0x0012, 0x0015
_RENEGO_SCSV = 0x00FF

#: ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 4.1.3).
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
#: Last 8 random bytes of a TLS 1.3 server that negotiated lower (RFC 8446 4.1.3).
_DOWNGRADE = {b"DOWNGRD\x01": "TLSv1.2", b"DOWNGRD\x00": "TLSv1.1 or below"}

_MAX_READ = 16 * 1024
_MAX_RECORD = 2**14 + 2048  # largest legal TLSCiphertext fragment


@dataclass
class HelloAnswer:
    """What the server's first record said about one offered protocol version.

    ``group`` is the group named in a TLS 1.3 key_share (ServerHello or
    HelloRetryRequest, ``retry`` tells which); ``extensions`` holds the raw
    ServerHello extensions by type (first occurrence wins).
    """

    accepted: bool | None
    detail: str
    cipher: int | None = None
    version: int | None = None
    error_kind: str | None = None
    group: int | None = None
    retry: bool = False
    extensions: dict[int, bytes] = field(default_factory=dict, repr=False)


def version_name(code: int) -> str:
    """``TLSv1.2`` for 0x0303, hex for anything unknown."""
    name = _VERSION_NAMES.get(code)
    return name if name is not None else f"0x{code:04X}"


# --------------------------------------------------------------------------- build


def _u8(data: bytes) -> bytes:
    return struct.pack("!B", len(data)) + data


def _u16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _codes(codes: list[int]) -> bytes:
    return struct.pack(f"!{len(codes)}H", *codes)


def _ext(code: int, body: bytes) -> bytes:
    return struct.pack("!H", code) + _u16(body)


def _sni_bytes(sni: str) -> bytes:
    name = sni.rstrip(".")  # RFC 6066 3: no trailing dot
    return name.encode("ascii") if name.isascii() else name.encode("idna")


#: Fresh bytes for each hello's random, session id and key share.  They must differ
#: from hello to hello, not be secret: no key is ever derived from a probe's hello
#: (the handshake is never completed), so a seeded PRNG spares a syscall per field.
_FRESH = random.Random(os.urandom(32))


def build_client_hello(
    version: str,
    sni: str | None,
    cipher_suites: list[int] | None = None,
    groups: list[int] | None = None,
    *,
    key_share: bool = True,
    sct: bool = True,
) -> bytes:
    """A complete ClientHello record offering exactly ``version``.

    TLS 1.3 is offered only through supported_versions (legacy_version stays
    0x0303, RFC 8446 4.1.2), so a 1.2-only server cannot answer with 1.3.  The
    key_share carries x25519 when ``groups`` has it and ``key_share`` is true;
    otherwise it is empty, which asks a 1.3 server for a HelloRetryRequest
    naming its group.  signature_algorithms is only sent for TLS 1.2+ (RFC 5246
    7.4.1.4.1); ``sct`` asks a TLS 1.0-1.2 server for its SCTs (RFC 6962 3.3.1);
    SSLv3 gets no extensions at all.  Hellos of 256-511 bytes are padded to 512
    (RFC 7685) because some middleboxes hang on that size.

    Everything but the name and the random fields is built once per offer
    (:func:`_offer`): an enumeration sends thousands of hellos, one offer per connection
    to each of many servers.
    """
    offer = _offer(
        version,
        None if cipher_suites is None else tuple(cipher_suites),
        None if groups is None else tuple(groups),
        key_share,
        sct,
    )
    fresh = _FRESH.randbytes(96)  # random, session id, key share: one draw
    # A 32-byte legacy session id for 1.3 mimics real clients (middlebox compat).
    session = b"\x20" + fresh[32:64] if offer.tls13 else b"\x00"
    body = offer.legacy_version + fresh[:32] + session + offer.suites
    if offer.extensions is not None:
        exts = _sni_extension(sni) + offer.extensions if sni else offer.extensions
        if offer.tls13:
            # Any 32 bytes are a usable X25519 public value (RFC 7748 5).
            exts += _X25519_SHARE_EXT + fresh[64:] if offer.x25519_share else _EMPTY_SHARE_EXT
        # Handshake header (4) + body + extensions length (2) + extensions.
        size = 4 + len(body) + 2 + len(exts)
        if 0x100 <= size < 0x200:
            exts += _ext(_EXT_PADDING, bytes(max(0x200 - size - 4, 1)))
        body += len(exts).to_bytes(2, "big") + exts
    handshake = (_CLIENT_HELLO << 24 | len(body)).to_bytes(4, "big") + body
    return offer.record_header + len(handshake).to_bytes(2, "big") + handshake


#: group x25519, 32 bytes of key_exchange (the bytes follow)
_X25519_SHARE = struct.pack("!HH", _X25519, 32)
#: the key_share extension with that one share (its 32 bytes follow), or with none
_X25519_SHARE_EXT = struct.pack("!HHH", _EXT_KEY_SHARE, 2 + 36, 36) + _X25519_SHARE
_EMPTY_SHARE_EXT = struct.pack("!HHH", _EXT_KEY_SHARE, 2, 0)


@dataclass(frozen=True)
class _Offer:
    """The parts of a ClientHello that depend only on what it offers."""

    record_header: bytes
    legacy_version: bytes
    tls13: bool
    #: cipher suites (length-prefixed) and the null compression method
    suites: bytes
    #: the extensions after server_name and before key_share; None for SSLv3 (none at all)
    extensions: bytes | None
    x25519_share: bool


@lru_cache(maxsize=4096)
def _offer(
    version: str,
    cipher_suites: tuple[int, ...] | None,
    groups: tuple[int, ...] | None,
    key_share: bool,
    sct: bool,
) -> _Offer:
    if version not in PROTOCOL_CODES:
        raise ValueError(f"unknown protocol version {version!r}")
    code = PROTOCOL_CODES[version]
    suites = list(cipher_suites) if cipher_suites is not None else default_suites(version)
    group_list = list(groups) if groups is not None else default_groups(version)
    tls13 = code == 0x0304
    exts: list[bytes] = []
    if code >= 0x0301:
        if code <= 0x0303:
            exts.append(_ext(_EXT_RENEGO, _u8(b"")))
            exts.append(_ext(_EXT_EMS, b""))
            if sct:
                exts.append(_ext(EXT_SCT, b""))
        exts.append(_ext(_EXT_GROUPS, _u16(_codes(group_list))))
        exts.append(_ext(_EXT_POINT_FORMATS, _u8(b"\x00")))
        if code >= 0x0303:
            exts.append(_ext(_EXT_SIG_ALGS, _u16(_codes(SIGNATURE_SCHEMES))))
        if tls13:
            exts.append(_ext(_EXT_SUPPORTED_VERSIONS, _u8(_codes([0x0304]))))
    elif _RENEGO_SCSV not in suites:
        suites.append(_RENEGO_SCSV)  # RFC 5746 3.3: SSLv3 signals via SCSV
    record_version = 0x0300 if code == 0x0300 else 0x0301
    return _Offer(
        record_header=struct.pack("!BH", _HANDSHAKE, record_version),
        legacy_version=struct.pack("!H", min(code, 0x0303)),
        tls13=tls13,
        suites=_u16(_codes(suites)) + _u8(b"\x00"),  # null compression only
        extensions=b"".join(exts) if code >= 0x0301 else None,
        x25519_share=tls13 and key_share and _X25519 in group_list,
    )


@lru_cache(maxsize=256)  # the names of the targets being probed now, not every one seen
def _sni_extension(sni: str) -> bytes:
    return _ext(_EXT_SNI, _u16(b"\x00" + _u16(_sni_bytes(sni))))


# --------------------------------------------------------------------------- parse


def _truncated(what: str) -> HelloAnswer:
    return HelloAnswer(None, f"truncated {what}", error_kind="truncated")


def _not_tls(data: bytes, what: str = "garbage") -> HelloAnswer:
    return HelloAnswer(False, f"not TLS ({what}): {data[:16]!r}", error_kind="not_tls")


def _plausible_header(data: bytes, pos: int = 0) -> bool:
    """Whether the bytes at ``pos`` can start a TLS alert/handshake record."""
    ctype, left = data[pos], len(data) - pos
    if ctype not in (_ALERT, _HANDSHAKE):
        return False
    if left >= 2 and data[pos + 1] != 3 and not (ctype == _ALERT and data[pos + 1] == 0):
        return False  # some stacks send alerts with record version 0x0000
    return left < 5 or 0 < struct.unpack_from("!H", data, pos + 3)[0] <= _MAX_RECORD


def _parse_alert(payload: bytes) -> HelloAnswer:
    level, desc = payload[0], payload[1]
    name = ALERT_NAMES.get(desc, f"alert_{desc}")
    prefix = "alert" if level == 2 else f"alert level {level}"
    return HelloAnswer(False, f"{prefix} {name}")


def parse_server_hello(msg: bytes) -> HelloAnswer:
    """Pick version, cipher, key_share group and extensions out of a ServerHello body.

    ``msg`` is the message body without its 4-byte handshake header.  Never
    raises: malformed input gives ``accepted=False`` with ``error_kind="not_tls"``.
    """
    try:
        return _parse_server_hello(msg)
    except (IndexError, struct.error, ValueError) as exc:  # defensive: malformed input
        return _not_tls(msg, f"unparseable ServerHello: {exc}")


def _parse_server_hello(msg: bytes) -> HelloAnswer:
    if len(msg) < 38:
        return _not_tls(msg, "short ServerHello")
    legacy, random = struct.unpack_from("!H", msg, 0)[0], msg[2:34]
    pos = 35 + msg[34]
    if pos + 3 > len(msg):
        return _not_tls(msg, "short ServerHello")
    cipher = struct.unpack_from("!H", msg, pos)[0]
    pos += 3  # cipher + compression method
    extensions: dict[int, bytes] = {}
    if pos + 2 <= len(msg):
        end = min(len(msg), pos + 2 + struct.unpack_from("!H", msg, pos)[0])
        pos += 2
        while pos + 4 <= end:
            ext, size = struct.unpack_from("!HH", msg, pos)
            pos += 4
            extensions.setdefault(ext, msg[pos : min(pos + size, end)])
            pos += size
    chosen = legacy
    versions = extensions.get(_EXT_SUPPORTED_VERSIONS, b"")
    if len(versions) == 2:
        chosen = struct.unpack("!H", versions)[0]
    share = extensions.get(_EXT_KEY_SHARE, b"")
    group = struct.unpack_from("!H", share)[0] if len(share) >= 2 else None
    retry = random == HRR_RANDOM
    kind = "hello retry request" if retry else "server hello"
    detail = f"{kind} {version_name(chosen)} {cipher_name(cipher)}"
    if group is not None:
        detail += f" {group_name(group)}"
    if chosen < 0x0304 and random[-8:] in _DOWNGRADE:
        detail += " (downgrade sentinel: server also speaks TLSv1.3)"
    return HelloAnswer(
        True,
        detail,
        cipher=cipher,
        version=chosen,
        group=group,
        retry=retry,
        extensions=extensions,
    )


def parse_server_answer(data: bytes) -> HelloAnswer:
    """Interpret the first bytes a server sent back; never raises.

    ``accepted`` is True for any ServerHello or HelloRetryRequest (the caller
    compares ``version`` with what it asked), False for an alert or non-TLS
    data, None with ``error_kind="truncated"`` while more bytes are needed.
    Warning-level alerts before the ServerHello are skipped, and a ServerHello
    split over several handshake records is reassembled.
    """
    try:
        return _parse(data)
    except (IndexError, struct.error, ValueError) as exc:  # defensive: malformed input
        return _not_tls(data, f"unparseable: {exc}")


def _parse(data: bytes) -> HelloAnswer:
    if not data:
        return HelloAnswer(False, "closed", error_kind="closed")
    if data[0] & 0x80 and len(data) >= 3 and data[2] in (0, 4):
        return _not_tls(data, "SSLv2-format record")
    pos, handshake = 0, b""
    while True:  # indexes, not slices: a flood of tiny records stays linear
        if pos >= len(data):
            return _truncated("handshake message" if handshake else "record")
        if not _plausible_header(data, pos):
            return _not_tls(data) if pos == 0 else _not_tls(data, "bad record after first")
        if len(data) - pos < 5:
            return _truncated("record header")
        ctype, length = data[pos], struct.unpack_from("!H", data, pos + 3)[0]
        if len(data) - pos < 5 + length:
            return _truncated("record")
        payload = data[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if ctype == _ALERT:
            if handshake or length != 2:
                return _not_tls(data, "malformed alert")
            if payload[0] == 1 and payload[1] != 0:
                continue  # warning (e.g. unrecognized_name): the hello may still follow
            return _parse_alert(payload)
        handshake += payload
        while len(handshake) >= 4 and handshake[0] == _HELLO_REQUEST:
            handshake = handshake[4 + int.from_bytes(handshake[1:4], "big") :]
        if len(handshake) < 4:
            continue
        if handshake[0] != _SERVER_HELLO:
            return _not_tls(data, f"handshake type {handshake[0]} before ServerHello")
        size = int.from_bytes(handshake[1:4], "big")
        if len(handshake) >= 4 + size:
            return _parse_server_hello(handshake[4 : 4 + size])


# --------------------------------------------------------------------------- probe


def _network_error(exc: OSError) -> HelloAnswer:
    """Map a connect-time error to an undecided answer."""
    if isinstance(exc, TimeoutError):
        return HelloAnswer(None, "timeout", error_kind="timeout")
    if isinstance(exc, ConnectionRefusedError):
        return HelloAnswer(None, "connection refused", error_kind="refused")
    if isinstance(exc, ConnectionResetError):
        return HelloAnswer(None, "connection reset during connect", error_kind="reset")
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno not in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        reason = f"{type(exc).__name__}: {reason}"
    return HelloAnswer(None, f"unreachable ({reason})", error_kind="unreachable")


def handshake_complete(data: bytes) -> bool:
    """Whether ``data`` already holds a definitive answer to a ClientHello."""
    return parse_server_answer(data).error_kind != "truncated"


P = TypeVar("P")


class LastParse(Generic[P]):
    """A parser that keeps its last result: an exchange's ``done`` parses what has come
    so far, and the final bytes need not be parsed again afterwards."""

    __slots__ = ("_data", "_parse", "_parsed")

    def __init__(self, parse: Callable[[bytes], P]) -> None:
        self._parse = parse
        self._data: bytes | None = None
        self._parsed: P | None = None

    def __call__(self, data: bytes) -> P:
        self._data, self._parsed = data, self._parse(data)
        return self._parsed

    def last(self, data: bytes) -> P | None:
        """The parse of ``data`` if it was the last one made, else None."""
        return self._parsed if data is self._data else None


def answer_from_exchange(
    result: Exchange, version: str | None = None, parsed: HelloAnswer | None = None
) -> HelloAnswer:
    """Turn how an exchange ended into a :class:`HelloAnswer`.

    Silence or a lost route says nothing (``accepted=None``); hanging up on our
    hello is a refusal.  With ``version``, a ServerHello for another version
    is not acceptance.  ``parsed`` is ``parse_server_answer(result.data)`` when the
    caller has it already (see :class:`LastParse`).
    """
    if result.stop == "budget":
        return HelloAnswer(None, result.why, error_kind="timeout")
    if result.connect_error is not None:
        if isinstance(result.connect_error, socket.gaierror):
            reason = f"not a numeric address: {result.connect_error}"
            return HelloAnswer(None, reason, error_kind="unreachable")
        return _network_error(result.connect_error)
    data = result.data
    answer = (parsed or parse_server_answer(data)) if data else None
    if answer is not None and answer.error_kind == "truncated" and result.stop == "full":
        return _not_tls(data, f"no complete ServerHello in {len(data)} bytes")
    if answer is None or answer.error_kind == "truncated":
        extra = f" after {len(data)} bytes" if data else ""
        accepted = False if result.stop in ("closed", "reset") else None
        return HelloAnswer(accepted, f"{result.stop}{result.why}{extra}", error_kind=result.stop)
    if version is not None and answer.accepted and answer.version != PROTOCOL_CODES[version]:
        answer.accepted = False
        answer.detail += f" (asked {version})"
    return answer


def version_plan(
    address: tuple[str, int],
    version: str,
    sni: str | None,
    timeout: float,
    *,
    cipher_suites: list[int] | None = None,
    groups: list[int] | None = None,
    key_share: bool = True,
    budget: ConnectionBudget | None = None,
) -> Plan[HelloAnswer]:
    """The plan of :func:`probe_version`."""
    hello = build_client_hello(version, sni, cipher_suites, groups, key_share=key_share)
    parse = LastParse(parse_server_answer)

    def complete(data: bytes) -> bool:  # handshake_complete, keeping the parse
        return parse(data).error_kind != "truncated"

    result = yield from ask(address, hello, timeout, complete, _MAX_READ, budget)
    return answer_from_exchange(result, version, parse.last(result.data))


def probe_version(
    address: tuple[str, int],
    version: str,
    sni: str | None,
    timeout: float,
    *,
    cipher_suites: list[int] | None = None,
    groups: list[int] | None = None,
    key_share: bool = True,
    budget: ConnectionBudget | None = None,
) -> HelloAnswer:
    """Offer only ``version`` and report whether the server takes it.

    ``address`` must be a numeric (host, port) or IPv6 4-tuple; no DNS is done.
    ``timeout`` bounds the whole exchange.  Network trouble never raises:
    connect failures and silence give ``accepted=None``; a close or reset after
    the hello, an alert, non-TLS data or a different version give False.
    ``cipher_suites``/``groups`` replace the broad default offer; ``budget``
    limits and counts connections to this server.
    """
    return run(
        version_plan(
            address, version, sni, timeout,
            cipher_suites=cipher_suites, groups=groups, key_share=key_share, budget=budget,
        )
    )  # fmt: skip


def versions_plan(
    address: tuple[str, int],
    sni: str | None,
    timeout: float,
    versions: list[str] | None = None,
    budget: ConnectionBudget | None = None,
) -> Plan[dict[str, HelloAnswer]]:
    """The plan of :func:`probe_versions`: every version at once, as the budget allows."""
    names = list(versions) if versions is not None else list(PROTOCOL_CODES)
    plans = tuple(version_plan(address, name, sni, timeout, budget=budget) for name in names)
    answers = yield Together(plans)
    return dict(zip(names, answers, strict=True))


def probe_versions(
    address: tuple[str, int],
    sni: str | None,
    timeout: float,
    versions: list[str] | None = None,
    *,
    max_connections: int = 5,
    budget: ConnectionBudget | None = None,
) -> dict[str, HelloAnswer]:
    """Probe several versions at once, at most ``max_connections`` in flight.

    With a ``budget`` its limit applies instead (shared with other probes).
    """
    if budget is None:
        budget = ConnectionBudget(max_connections)  # ValueError below 1
    return run(versions_plan(address, sni, timeout, versions, budget))
