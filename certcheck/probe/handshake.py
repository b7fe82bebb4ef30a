"""A real TLS handshake with pyOpenSSL that records the peer chain as sent.

Verification is off on purpose: the probe collects facts, judgement happens in
``certcheck.evaluate``.  Every socket wait is bounded by one deadline so that a
server that accepts and then stays silent cannot stall a scan.
"""

from __future__ import annotations

import base64
import functools
import select
import socket
import time
from dataclasses import dataclass, field

from OpenSSL import SSL, crypto

from certcheck.model import ScanError
from certcheck.probe.budget import BudgetExhausted, ConnectionBudget, maybe_slot
from certcheck.probe.wire import close_politely


class ProbeError(Exception):
    """A connection problem, already classified as a :class:`ScanError`."""

    def __init__(self, error: ScanError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class HandshakeResult:
    chain: list[str] = field(default_factory=list)
    protocol: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    ocsp_staple: str | None = None
    connect_ms: float = 0.0
    handshake_ms: float = 0.0


def classify_os_error(exc: BaseException, what: str) -> ScanError:
    """Map socket exceptions to the short error kinds used in facts."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return ScanError("timeout", f"{what} timed out")
    if isinstance(exc, ConnectionRefusedError):
        return ScanError("refused", f"{what}: connection refused")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return ScanError("reset", f"{what}: connection reset by the server")
    if isinstance(exc, socket.gaierror):
        return ScanError("dns", f"DNS lookup failed: {exc.strerror or exc}")
    if isinstance(exc, OSError):
        return ScanError("unreachable", f"{what}: {exc.strerror or exc}")
    return ScanError("error", f"{what}: {exc}")


def connect(address: tuple, timeout: float) -> socket.socket:
    """Open a TCP connection to a getaddrinfo-style address tuple."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except BaseException as exc:
        sock.close()
        raise ProbeError(classify_os_error(exc, "TCP connect")) from exc
    return sock


@functools.cache
def _context() -> SSL.Context:
    """The client context of every handshake, made once: OpenSSL 3's SSL_CTX_new costs
    more than a quarter of a handshake.  A client does not resume sessions unless asked
    (no set_session here), so every handshake is a full one that shows the chain."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE, lambda *_args: True)
    # Accept whatever the server has, however weak: we report it, not refuse it --
    # except anonymous and NULL suites, which would leave us without the chain we came
    # for (the enumeration still finds them, and a rule reports them).
    ctx.set_min_proto_version(SSL.TLS1_VERSION)
    ctx.set_cipher_list(b"ALL:!aNULL:!eNULL:@SECLEVEL=0")
    ctx.set_alpn_protos([b"h2", b"http/1.1"])
    ctx.set_ocsp_client_callback(_ocsp_callback)
    return ctx


def _ocsp_callback(conn: SSL.Connection, data: bytes, _user: object) -> bool:
    """Keep a stapled OCSP response in the connection's list (its app data)."""
    if data:
        conn.get_app_data().append(data)
    return True


def _wait(sock: socket.socket, for_write: bool, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ProbeError(ScanError("timeout", "TLS handshake timed out"))
    readers, writers = ([], [sock]) if for_write else ([sock], [])
    ready = select.select(readers, writers, [], remaining)
    if not any(ready):
        raise ProbeError(ScanError("timeout", "TLS handshake timed out"))


def _classify_ssl_error(exc: SSL.Error) -> ScanError:
    if isinstance(exc, SSL.SysCallError):
        code = exc.args[0] if exc.args else None
        if code == -1 or (exc.args and "EOF" in str(exc.args[-1])):
            return ScanError("reset", "the server closed the connection during the TLS handshake")
        return ScanError("reset", f"TLS handshake failed: {exc.args[-1] if exc.args else exc}")
    if isinstance(exc, SSL.ZeroReturnError):
        return ScanError("reset", "the server closed the connection during the TLS handshake")
    reasons = " ".join(str(item[2]) for item in (exc.args[0] if exc.args else []) if len(item) > 2)
    lowered = reasons.lower()
    if (
        "wrong version number" in lowered
        or "packet length too long" in lowered
        or ("record layer failure" in lowered)
    ):
        return ScanError("not_tls", f"the server did not answer with TLS ({reasons})")
    if "alert" in lowered:
        return ScanError("tls_alert", f"the server refused the TLS handshake ({reasons})")
    return ScanError("tls_alert", f"TLS handshake failed ({reasons or exc})")


def handshake(
    address: tuple, sni: str | None, timeout: float, budget: ConnectionBudget | None = None
) -> HandshakeResult:
    """Connect, handshake, and return the chain and negotiated parameters.

    With a ``budget`` the connection takes one of its slots (and counts).
    """
    try:
        with maybe_slot(budget):
            if budget is not None:
                timeout = max(min(timeout, budget.remaining()), 0.001)
            return _handshake(address, sni, timeout)
    except BudgetExhausted as exc:
        raise ProbeError(ScanError("timeout", f"TLS handshake not started: {exc}")) from exc


def _handshake(address: tuple, sni: str | None, timeout: float) -> HandshakeResult:
    result = HandshakeResult()
    started = time.monotonic()
    sock = connect(address, timeout)
    result.connect_ms = (time.monotonic() - started) * 1000
    staples: list[bytes] = []
    conn = SSL.Connection(_context(), sock)
    conn.set_app_data(staples)
    try:
        sock.setblocking(False)
        if sni:
            conn.set_tlsext_host_name(sni.encode("ascii"))
        conn.request_ocsp()
        conn.set_connect_state()
        deadline = time.monotonic() + timeout
        hs_started = time.monotonic()
        while True:
            try:
                conn.do_handshake()
                break
            except SSL.WantReadError:
                _wait(sock, False, deadline)
            except SSL.WantWriteError:
                _wait(sock, True, deadline)
            except SSL.Error as exc:
                raise ProbeError(_classify_ssl_error(exc)) from exc
            except OSError as exc:
                raise ProbeError(classify_os_error(exc, "TLS handshake")) from exc
        result.handshake_ms = (time.monotonic() - hs_started) * 1000
        chain = conn.get_peer_cert_chain() or []
        # The DER exactly as sent: converting to a cryptography object would parse it,
        # and a hostile certificate (a "v4" version field) must reach evaluation intact.
        result.chain = [
            base64.b64encode(crypto.dump_certificate(crypto.FILETYPE_ASN1, c)).decode("ascii")
            for c in chain
        ]
        result.protocol = _protocol_name(conn.get_protocol_version_name())
        result.cipher = conn.get_cipher_name()
        alpn = conn.get_alpn_proto_negotiated()
        result.alpn = alpn.decode("ascii", "replace") if alpn else None
        if staples:
            result.ocsp_staple = base64.b64encode(staples[0]).decode("ascii")
        return result
    finally:
        try:
            sock.setblocking(True)
            sock.settimeout(0.5)
            conn.shutdown()
        except (SSL.Error, OSError):
            pass
        close_politely(sock)


def _protocol_name(name: str) -> str:
    """OpenSSL says ``TLSv1``; facts use ``TLSv1.0`` like the other versions."""
    return "TLSv1.0" if name == "TLSv1" else name
