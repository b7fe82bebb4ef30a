"""SSLv2 detection: an SSLv2-format CLIENT-HELLO and its SERVER-HELLO.

SSL 2.0 (draft-hickman-netscape-ssl-00, prohibited by RFC 6176) has its own
record format: a 2-byte header with the high bit set and a 15-bit length, or
a 3-byte header with padding.  A server that still speaks it answers our
CLIENT-HELLO with a SERVER-HELLO (message type 4, server_version 0x0002);
anything else (a TLS alert, a close, garbage) means it does not.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from certcheck.probe.budget import ConnectionBudget
from certcheck.probe.driver import Plan, run
from certcheck.probe.wire import ask

_CLIENT_HELLO, _SERVER_HELLO, _ERROR = 1, 4, 0
_SSL2_VERSION = 0x0002
_MAX_READ = 40 * 1024

#: SSLv2 cipher kinds (3 bytes each), in the order offered.
SSLV2_CIPHERS: dict[int, str] = {
    0x010080: "SSL_CK_RC4_128_WITH_MD5",
    0x020080: "SSL_CK_RC4_128_EXPORT40_WITH_MD5",
    0x030080: "SSL_CK_RC2_128_CBC_WITH_MD5",
    0x040080: "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5",
    0x050080: "SSL_CK_IDEA_128_CBC_WITH_MD5",
    0x060040: "SSL_CK_DES_64_CBC_WITH_MD5",
    0x0700C0: "SSL_CK_DES_192_EDE3_CBC_WITH_MD5",
}


@dataclass
class Sslv2Answer:
    """``accepted``: True = SERVER-HELLO, False = anything else, None = unknown."""

    accepted: bool | None
    detail: str
    ciphers: list[int] = field(default_factory=list)
    complete: bool = True


def build_sslv2_client_hello(ciphers: list[int] | None = None) -> bytes:
    """An SSLv2 CLIENT-HELLO record with a 16-byte challenge and no session id."""
    specs = b"".join(c.to_bytes(3, "big") for c in (ciphers or list(SSLV2_CIPHERS)))
    challenge = os.urandom(16)
    msg = struct.pack("!BHHHH", _CLIENT_HELLO, _SSL2_VERSION, len(specs), 0, len(challenge))
    msg += specs + challenge
    return struct.pack("!H", 0x8000 | len(msg)) + msg


def parse_sslv2_answer(data: bytes) -> Sslv2Answer:
    """Interpret a server's reply to our CLIENT-HELLO; never raises.

    ``complete=False`` means more bytes are needed to decide.
    """
    try:
        return _parse(data)
    except (IndexError, struct.error, ValueError) as exc:  # defensive
        return Sslv2Answer(False, f"unparseable: {exc}")


def _parse(data: bytes) -> Sslv2Answer:
    if not data:
        return Sslv2Answer(False, "closed")
    if data[0] in (21, 22) and len(data) >= 2 and data[1] in (0, 3):
        return Sslv2Answer(False, "answered with a TLS record")
    if len(data) < 3:
        return Sslv2Answer(None, "truncated", complete=False)
    if data[0] & 0x80:
        length, header = ((data[0] & 0x7F) << 8) | data[1], 2
    else:  # 3-byte header: 14-bit length, then a padding count
        length, header = ((data[0] & 0x3F) << 8) | data[1], 3
    if length == 0:
        return Sslv2Answer(False, "not SSLv2 (empty record)")
    kind = data[header] if len(data) > header else None
    if kind == _ERROR:
        return Sslv2Answer(False, "SSLv2 ERROR message")
    if kind is not None and kind != _SERVER_HELLO:
        return Sslv2Answer(False, f"not SSLv2 (message type {kind})")
    if len(data) < header + length:
        return Sslv2Answer(None, "truncated", complete=False)
    msg = data[header : header + length]
    if len(msg) < 11:
        return Sslv2Answer(False, "not SSLv2 (short SERVER-HELLO)")
    version, cert_len, specs_len, conn_len = struct.unpack_from("!HHHH", msg, 3)
    if version != _SSL2_VERSION:
        return Sslv2Answer(False, f"not SSLv2 (server_version 0x{version:04X})")
    if specs_len % 3 or 11 + cert_len + specs_len + conn_len > len(msg):
        return Sslv2Answer(False, "not SSLv2 (SERVER-HELLO lengths do not add up)")
    start = 11 + cert_len
    ciphers = [int.from_bytes(msg[i : i + 3], "big") for i in range(start, start + specs_len, 3)]
    return Sslv2Answer(True, f"SSLv2 SERVER-HELLO with {len(ciphers)} cipher kinds", ciphers)


def probe_sslv2(
    address: tuple, timeout: float, budget: ConnectionBudget | None = None
) -> Sslv2Answer:
    """Ask the server whether it speaks SSLv2; network trouble gives ``accepted=None``."""
    return run(sslv2_plan(address, timeout, budget))


def sslv2_plan(
    address: tuple, timeout: float, budget: ConnectionBudget | None = None
) -> Plan[Sslv2Answer]:
    """The plan of :func:`probe_sslv2`."""
    result = yield from ask(
        address,
        build_sslv2_client_hello(),
        timeout,
        lambda data: parse_sslv2_answer(data).complete,
        _MAX_READ,
        budget,
    )
    if result.stop == "budget":
        return Sslv2Answer(None, result.why)
    if result.connect_error is not None:
        return Sslv2Answer(None, f"connect failed: {result.connect_error}")
    if result.stop == "done" or (result.data and result.stop in ("closed", "reset")):
        answer = parse_sslv2_answer(result.data)
        if answer.complete:
            return answer
    if result.stop in ("closed", "reset"):
        return Sslv2Answer(False, result.stop)
    if result.stop == "full":
        return Sslv2Answer(False, "not SSLv2 (oversized answer)")
    return Sslv2Answer(None, f"{result.stop}{result.why}")
