"""The server's first flight in TLS <= 1.2, read without any cryptography.

Up to ServerHelloDone everything the server sends in TLS 1.0-1.2 is
plaintext (RFC 5246 7.3): ServerHello, Certificate, CertificateStatus,
ServerKeyExchange.  From those records we learn the leaf a server sends to a
client without SNI and the curve it picks for ECDHE (RFC 8422 5.4).  Every
parser here takes untrusted bytes and returns an error value instead of
raising.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certcheck.core.tls import GROUP_CODES, chain_suites
from certcheck.probe.budget import ConnectionBudget
from certcheck.probe.driver import Plan, run
from certcheck.probe.hello import (
    ALERT_NAMES,
    EXT_SCT,
    HelloAnswer,
    LastParse,
    answer_from_exchange,
    build_client_hello,
    parse_server_hello,
)
from certcheck.probe.wire import ask

# Record content types and handshake types (RFC 5246 6.2.1, 7.4).
_CCS, _ALERT, _HANDSHAKE, _APPDATA = 20, 21, 22, 23
SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE, SERVER_HELLO_DONE = 2, 11, 12, 14
_HELLO_REQUEST = 0
_MAX_RECORD = 2**14 + 2048
#: Most bytes read for one flight: room for a huge chain, bounded all the same.
MAX_FLIGHT = 256 * 1024


@dataclass
class Flight:
    """Handshake messages parsed from the start of a server's answer.

    ``messages`` are complete (type, body) pairs in order; ``pending`` is the
    start of the next, incomplete message (header included).  ``ended`` means
    nothing more will come in plaintext: ServerHelloDone, an alert, a
    non-handshake record, or an ``error`` (not TLS / malformed).
    """

    messages: list[tuple[int, bytes]] = field(default_factory=list)
    pending: bytes = b""
    alert: str | None = None
    error: str | None = None
    ended: bool = False

    def get(self, msg_type: int) -> bytes | None:
        """Body of the first complete message of ``msg_type``."""
        return next((body for kind, body in self.messages if kind == msg_type), None)


def parse_flight(data: bytes) -> Flight:
    """Split ``data`` into records and handshake messages; never raises."""
    try:
        return _parse_flight(data)
    except (IndexError, struct.error, ValueError) as exc:  # defensive
        return Flight(error=f"unparseable: {exc}", ended=True)


def _parse_flight(data: bytes) -> Flight:
    flight = Flight()
    pos, stream = 0, b""
    while len(data) - pos >= 5:
        ctype, major, length = data[pos], data[pos + 1], struct.unpack_from("!H", data, pos + 3)[0]
        # Some stacks send alerts with record version 0x0000.
        plausible_version = major == 3 or (ctype == _ALERT and major == 0)
        known_type = ctype in (_CCS, _ALERT, _HANDSHAKE, _APPDATA)
        if not known_type or not plausible_version or length > _MAX_RECORD:
            flight.error, flight.ended = f"not TLS at byte {pos}", True
            break
        if len(data) - pos < 5 + length:
            break  # record not complete yet
        payload = data[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if ctype == _ALERT:
            if len(payload) != 2:
                flight.error, flight.ended = "malformed alert", True
                break
            if payload[0] == 1 and payload[1] != 0:
                continue  # warning alert: the handshake may go on
            flight.alert = ALERT_NAMES.get(payload[1], f"alert_{payload[1]}")
            flight.ended = True
            break
        if ctype != _HANDSHAKE:
            flight.ended = True  # ChangeCipherSpec / encrypted data: plaintext is over
            break
        if length == 0:
            flight.error, flight.ended = "empty handshake record", True
            break
        stream += payload
        stream = _take_messages(stream, flight)
        if flight.ended:
            break
    flight.pending = stream
    return flight


def _take_messages(stream: bytes, flight: Flight) -> bytes:
    """Move every complete message from ``stream`` to ``flight``; return the rest."""
    while len(stream) >= 4:
        size = int.from_bytes(stream[1:4], "big")
        if len(stream) < 4 + size:
            break
        kind, body = stream[0], stream[4 : 4 + size]
        stream = stream[4 + size :]
        if kind == _HELLO_REQUEST:
            continue
        if not flight.messages and kind != SERVER_HELLO:
            flight.error, flight.ended = f"handshake type {kind} before ServerHello", True
            break
        flight.messages.append((kind, body))
        if kind == SERVER_HELLO_DONE:
            flight.ended = True
            break
    return stream


def certificate_leaf(body: bytes) -> tuple[bytes | None, str | None]:
    """The first certificate of a Certificate message body (RFC 5246 7.4.2).

    Works on a prefix of the body too.  Returns ``(der, None)``, ``(None,
    None)`` while more bytes are needed, or ``(None, error)``.
    """
    if len(body) < 3:
        return None, None
    total = int.from_bytes(body[0:3], "big")
    if total == 0:
        return None, "empty certificate list"
    if len(body) < 6:
        return None, None
    size = int.from_bytes(body[3:6], "big")
    if size == 0 or size + 3 > total:
        return None, "certificate length exceeds the list"
    if len(body) < 6 + size:
        return None, None
    der = body[6 : 6 + size]
    if der[0] != 0x30:
        return None, "certificate is not a DER SEQUENCE"
    return der, None


def ske_group(body: bytes) -> tuple[int | None, str | None]:
    """Named curve of an ECDHE ServerKeyExchange (RFC 8422 5.4): ``(group, error)``."""
    if len(body) < 3:
        return None, "short ServerKeyExchange"
    if body[0] != 3:  # ECCurveType named_curve; 1/2 = explicit curves (deprecated)
        return None, f"curve type {body[0]} is not named_curve"
    return struct.unpack_from("!H", body, 1)[0], None


def ske_dh_params(body: bytes) -> tuple[tuple[int, int, int] | None, str | None]:
    """``((p, g, Ys), None)`` from a DHE ServerKeyExchange, or ``(None, error)``.

    ServerDHParams is dh_p, dh_g, dh_Ys, each a 2-byte length and a big-endian
    integer (RFC 5246 7.4.3); the signature that follows is not needed.
    """
    values: list[int] = []
    pos = 0
    for what in ("dh_p", "dh_g", "dh_Ys"):
        if pos + 2 > len(body):
            return None, f"ServerKeyExchange cut off before {what}"
        size = struct.unpack_from("!H", body, pos)[0]
        pos += 2
        if size == 0 or pos + size > len(body):
            return None, f"bad {what} length in ServerKeyExchange"
        values.append(int.from_bytes(body[pos : pos + size], "big"))
        pos += size
    return (values[0], values[1], values[2]), None


def certificate_ec_group(body: bytes) -> int | None:
    """Named-group code of the leaf's EC key in a Certificate message body, if any.

    In TLS 1.0-1.2 an ECDSA certificate's curve must be in the client's
    supported_groups (RFC 8422 5.1.1), which the group enumeration must allow for.
    """
    der, _ = certificate_leaf(body)
    if der is None:
        return None
    try:
        key = x509.load_der_x509_certificate(der).public_key()
    except Exception:  # noqa: BLE001 - any undecodable certificate: no curve to learn
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return None
    return GROUP_CODES.get(key.curve.name)


def parse_sct_list(body: bytes) -> tuple[list[bytes], str | None]:
    """SCTs of a signed_certificate_timestamp extension (RFC 6962 3.3).

    The body is SignedCertificateTimestampList: a 2-byte length, then each
    SerializedSCT as 2-byte length + bytes.  Returns the SCTs found and an
    error when the list is malformed (what was parsed before it is kept).
    """
    if len(body) < 2:
        return [], "short SCT list"
    end = 2 + struct.unpack_from("!H", body, 0)[0]
    if end > len(body):
        return [], "SCT list longer than the extension"
    scts: list[bytes] = []
    pos = 2
    while pos < end:
        if pos + 2 > end:
            return scts, "truncated SCT length"
        size = struct.unpack_from("!H", body, pos)[0]
        pos += 2
        if size == 0 or pos + size > end:
            return scts, "bad SCT length"
        scts.append(body[pos : pos + size])
        pos += size
    return scts, None


def tls_scts(answer: HelloAnswer) -> list[str]:
    """Base64 SCTs from a ServerHello's signed_certificate_timestamp extension."""
    scts, _ = parse_sct_list(answer.extensions.get(EXT_SCT, b"\x00\x00"))
    return [base64.b64encode(sct).decode("ascii") for sct in scts]


# --------------------------------------------------------------------------- network


@dataclass
class FlightAnswer:
    """One ClientHello's worth of server flight: the hello answer plus the messages."""

    hello: HelloAnswer
    flight: Flight


def flight_plan(
    address: tuple,
    hello: bytes,
    timeout: float,
    want: int,
    budget: ConnectionBudget | None = None,
    version: str | None = None,
) -> Plan[FlightAnswer]:
    """Send ``hello`` and read until message type ``want`` is complete or the flight ends."""

    parse = LastParse(parse_flight)

    def done(data: bytes) -> bool:
        flight = parse(data)
        if flight.ended or flight.get(want) is not None:
            return True
        if want == CERTIFICATE and flight.pending[:1] == bytes([CERTIFICATE]):
            return certificate_leaf(flight.pending[4:]) != (None, None)
        return False

    result = yield from ask(address, hello, timeout, done, MAX_FLIGHT, budget)
    flight = parse.last(result.data)
    if flight is None:
        flight = parse_flight(result.data)
    return FlightAnswer(answer_from_exchange(result, version), flight)


def read_flight(
    address: tuple,
    hello: bytes,
    timeout: float,
    want: int,
    budget: ConnectionBudget | None = None,
    version: str | None = None,
) -> FlightAnswer:
    """:func:`flight_plan`, run on its own."""
    return run(flight_plan(address, hello, timeout, want, budget, version))


def probe_default_leaf(
    address: tuple,
    version: str,
    timeout: float,
    budget: ConnectionBudget | None = None,
) -> tuple[str | None, str]:
    """:func:`default_leaf_plan`, run on its own."""
    return run(default_leaf_plan(address, version, timeout, budget))


def default_leaf_plan(
    address: tuple,
    version: str,
    timeout: float,
    budget: ConnectionBudget | None = None,
) -> Plan[tuple[str | None, str]]:
    """Leaf certificate sent to a TLS <= 1.2 ClientHello without SNI.

    Returns ``(base64 DER, detail)``; the DER is None when the server did not
    send a readable certificate (detail says why).  Anonymous and NULL suites
    are not offered, so a server that prefers them still shows its certificate.
    """
    hello = build_client_hello(version, None, chain_suites(version))
    answer = yield from flight_plan(address, hello, timeout, CERTIFICATE, budget, version)
    if not answer.hello.accepted:
        return None, answer.hello.detail
    flight = answer.flight
    body = flight.get(CERTIFICATE)
    if body is None and flight.pending[:1] == bytes([CERTIFICATE]):
        body = flight.pending[4:]
    if body is None:
        why = flight.error or (f"alert {flight.alert}" if flight.alert else "no Certificate")
        return None, why
    der, error = certificate_leaf(body)
    if der is None:
        return None, error or "truncated Certificate message"
    return base64.b64encode(der).decode("ascii"), "ok"


def server_hello_of(flight: Flight) -> HelloAnswer | None:
    """The parsed ServerHello of a flight, if it has one."""
    body = flight.get(SERVER_HELLO)
    return parse_server_hello(body) if body is not None else None


def certificate_chain(body: bytes) -> tuple[list[bytes], str | None]:
    """Every certificate of a complete Certificate message body, in the order sent."""
    if len(body) < 3:
        return [], "truncated Certificate message"
    total = int.from_bytes(body[0:3], "big")
    if total + 3 > len(body):
        return [], "truncated Certificate message"
    certs: list[bytes] = []
    offset = 3
    while offset < 3 + total:
        if offset + 3 > 3 + total:
            return certs, "certificate length field cut off"
        size = int.from_bytes(body[offset : offset + 3], "big")
        offset += 3
        if size == 0 or offset + size > 3 + total:
            return certs, "certificate length exceeds the list"
        certs.append(body[offset : offset + size])
        offset += size
    return certs, None


def probe_plaintext_chain(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    budget: ConnectionBudget | None = None,
) -> tuple[HelloAnswer, list[str], str]:
    """:func:`plaintext_chain_plan`, run on its own."""
    return run(plaintext_chain_plan(address, version, sni, timeout, budget))


def plaintext_chain_plan(
    address: tuple,
    version: str,
    sni: str | None,
    timeout: float,
    budget: ConnectionBudget | None = None,
) -> Plan[tuple[HelloAnswer, list[str], str]]:
    """The chain a TLS <= 1.2 server sends (plaintext), for servers OpenSSL cannot talk to.

    Returns ``(hello answer, base64 DER list, detail)``; an empty list when the
    server sent no complete Certificate message.
    """

    def done(data: bytes) -> bool:
        flight = parse_flight(data)
        return flight.ended or flight.get(CERTIFICATE) is not None

    hello = build_client_hello(version, sni, chain_suites(version))
    result = yield from ask(address, hello, timeout, done, MAX_FLIGHT, budget)
    answer = FlightAnswer(answer_from_exchange(result, version), parse_flight(result.data))
    body = answer.flight.get(CERTIFICATE)
    if not answer.hello.accepted or body is None:
        return answer.hello, [], answer.flight.error or "no complete Certificate message"
    ders, error = certificate_chain(body)
    chain = [base64.b64encode(der).decode("ascii") for der in ders]
    return answer.hello, chain, error or "ok"
