"""A real TLS handshake with pyOpenSSL that records the peer chain as sent.

Verification is off on purpose: the probe collects facts, judgement happens in
``certcheck.evaluate``.  The handshake is one exchange of the probe's driver
(:func:`handshake_plan`), bounded by one deadline so that a server that accepts
and then stays silent cannot stall a scan.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import socket
import time
from dataclasses import dataclass, field

from OpenSSL import SSL, crypto

from certcheck.model import ScanError
from certcheck.probe.budget import ConnectionBudget
from certcheck.probe.driver import Ask, Plan, run
from certcheck.probe.reactor import Exchange, Reply


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


#: Most bytes a server may send before its handshake is complete.  OpenSSL refuses a
#: certificate list over 100 KiB long before this; the cap only bounds a hostile stream.
MAX_HANDSHAKE_BYTES = 1 << 20


def handshake(
    address: tuple, sni: str | None, timeout: float, budget: ConnectionBudget | None = None
) -> HandshakeResult:
    """Connect, handshake, and return the chain and negotiated parameters.

    With a ``budget`` the connection takes one of its slots (and counts).  Raises
    :class:`ProbeError` for every network or TLS failure.
    """
    return run(handshake_plan(address, sni, timeout, budget))


def handshake_plan(
    address: tuple, sni: str | None, timeout: float, budget: ConnectionBudget | None = None
) -> Plan[HandshakeResult]:
    """The plan of :func:`handshake`: one exchange on the probe's driver, no thread.

    OpenSSL runs over memory BIOs (:class:`_Client`): the reactor connects, sends what
    OpenSSL wrote and hands it what the server sent, one round trip after another, until
    the handshake is complete; then the client's last flight and a close_notify go out
    and the connection is closed as politely as every raw probe's.  On a worker thread
    with blocking sockets the same handshake cost 1.2 ms of CPU in a scan instead of
    0.7 ms alone: the difference was hand-offs of the interpreter lock.
    ``timeout`` bounds the whole exchange, connect included, like every raw probe's.
    """
    client = _Client(sni)
    answer: Exchange = yield Ask(
        address, client.hello, timeout, client.answer, MAX_HANDSHAKE_BYTES, budget, stream=True
    )
    if answer.stop == "done" and client.error is None:
        return client.result(answer)
    raise ProbeError(client.error or _exchange_error(answer))


def _exchange_error(answer: Exchange) -> ScanError:
    """Why an exchange ended before the handshake was complete, as the blocking
    handshake with a socket said it (pyOpenSSL's SysCallError names the errno)."""
    stop = answer.stop
    if stop == "budget":
        return ScanError("timeout", f"TLS handshake not started: {answer.why}")
    if stop == "connect":
        return classify_os_error(answer.connect_error or OSError(answer.why), "TCP connect")
    if stop == "timeout":
        return ScanError("timeout", "TLS handshake timed out")
    if stop == "closed":
        return ScanError("reset", "the server closed the connection during the TLS handshake")
    if stop in ("reset", "unreachable"):
        name = errno.errorcode.get(answer.errno or 0, str(answer.errno))
        return ScanError("reset", f"TLS handshake failed: {name}")
    if stop == "full":
        return ScanError(
            "tls_alert", f"TLS handshake failed (more than {MAX_HANDSHAKE_BYTES} bytes)"
        )
    return ScanError("error", f"TLS handshake ended unexpectedly ({stop}{answer.why})")


class _Client:
    """One client handshake over memory BIOs; :meth:`answer` is the exchange's parser.

    Nothing here raises into the reactor: a TLS failure is kept in :attr:`error` and
    ends the exchange (an exception stored on the reactor's job and raised in the plan
    would tie the two in a reference cycle through its traceback).
    """

    def __init__(self, sni: str | None) -> None:
        self.staples: list[bytes] = []
        self.error: ScanError | None = None
        self.finished_at = 0.0
        conn = self.conn = SSL.Connection(_context(), None)
        conn.set_app_data(self.staples)
        if sni:
            conn.set_tlsext_host_name(sni.encode("ascii"))
        conn.request_ocsp()
        conn.set_connect_state()
        self._advance()
        self.hello = self._written()

    def _advance(self) -> bool:
        """Run the handshake on what has arrived: True once it is complete."""
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            return False
        except SSL.Error as exc:
            self.error = _classify_ssl_error(exc)
            return False
        self.finished_at = time.monotonic()
        return True

    def _written(self) -> bytes:
        """What OpenSSL has written for the server since the last call."""
        out = b""
        while True:
            try:
                chunk = self.conn.bio_read(65536)
            except SSL.WantReadError:
                return out
            except SSL.Error:  # nothing more can be read out
                return out
            if not chunk:
                return out
            out += chunk

    def answer(self, data: bytes) -> bool | Reply:
        """The reactor's ``done`` (streamed): feed the new bytes, say what to send back."""
        if self.error is not None or self.finished_at:
            return True
        try:
            self.conn.bio_write(data)
        except SSL.Error as exc:
            self.error = _classify_ssl_error(exc)
            return Reply(self._written(), last=True)
        if self._advance():
            last = self._written()  # TLS 1.2: nothing; TLS 1.3: the client's Finished
            with contextlib.suppress(SSL.Error):
                self.conn.shutdown()  # close_notify, as the blocking handshake sent it
            return Reply(last + self._written(), last=True)
        if self.error is not None:
            return Reply(self._written(), last=True)  # an alert OpenSSL sends back, if any
        out = self._written()
        return Reply(out) if out else False

    def result(self, answer: Exchange) -> HandshakeResult:
        conn = self.conn
        chain = conn.get_peer_cert_chain() or []
        result = HandshakeResult(
            # The DER exactly as sent: converting to a cryptography object would parse it,
            # and a hostile certificate (a "v4" version field) must reach evaluation intact.
            chain=[
                base64.b64encode(crypto.dump_certificate(crypto.FILETYPE_ASN1, c)).decode("ascii")
                for c in chain
            ],
            protocol=_protocol_name(conn.get_protocol_version_name()),
            cipher=conn.get_cipher_name(),
            connect_ms=max(answer.connected_at - answer.started_at, 0.0) * 1000,
            handshake_ms=max(self.finished_at - answer.connected_at, 0.0) * 1000,
        )
        alpn = conn.get_alpn_proto_negotiated()
        result.alpn = alpn.decode("ascii", "replace") if alpn else None
        if self.staples:
            result.ocsp_staple = base64.b64encode(self.staples[0]).decode("ascii")
        return result


def _protocol_name(name: str) -> str:
    """OpenSSL says ``TLSv1``; facts use ``TLSv1.0`` like the other versions."""
    return "TLSv1.0" if name == "TLSv1" else name
