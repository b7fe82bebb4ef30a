"""The network side of the endpoint checks: one HTTPS GET, one WebSocket upgrade.

Each exchange measures DNS, TCP connect, TLS handshake and the first byte of
the answer, and never raises for a network problem: what went wrong becomes an
:class:`ExchangeError` on the result.  TLS here only carries the request
(certificates are not verified): judging the server's TLS is the job of the
regular scan, which every endpoint also gets.

The WebSocket opening handshake is written out by hand (RFC 6455 §4.1/§4.2.2:
random 16-byte ``Sec-WebSocket-Key``, 101 status, ``Upgrade``/``Connection``
headers, ``Sec-WebSocket-Accept`` = base64(SHA-1(key + GUID))).  It is a dozen
lines, and doing it ourselves lets us time the first byte and report a wrong
answer exactly as it came, which a client library would turn into an exception.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import hashlib
import http.client
import io
import os
import socket
import ssl
import time
import warnings
from collections.abc import Callable
from typing import Any

from certcheck import __version__
from certcheck.miniprogram.results import (
    Endpoint,
    ExchangeError,
    ExchangeResult,
    PlannedExchange,
)
from certcheck.model import Target
from certcheck.probe import resolve
from certcheck.probe.handshake import ProbeError

#: how much of a response body is read to judge its encoding
BODY_LIMIT = 64 * 1024
#: RFC 6455 §1.3
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
USER_AGENT = f"certcheck/{__version__} (mini-program endpoint check)"
UTF8_BOM = b"\xef\xbb\xbf"
_TEXT_SUBTYPES = ("json", "xml", "javascript", "x-www-form-urlencoded")


class _Failed(Exception):
    def __init__(self, error: ExchangeError) -> None:
        super().__init__(error.message)
        self.error = error


def _client_context() -> ssl.SSLContext:
    """Speak whatever the server speaks: this connection measures, it does not judge."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ssl.SSLError, ValueError), warnings.catch_warnings():
        # Old servers still count (the TLS scan judges them); Python deprecates TLSv1 as a
        # minimum, which is exactly the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class _TimedReader(io.RawIOBase):
    """Reads the TLS socket under the exchange deadline and notes the first byte."""

    def __init__(self, sock: ssl.SSLSocket, deadline: float) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = deadline
        self.first_byte_at: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline reached")
        self.sock.settimeout(remaining)
        count = self.sock.recv_into(buffer)
        if count and self.first_byte_at is None:
            self.first_byte_at = time.monotonic()
        return count


class _SocketShim:
    """What :class:`http.client.HTTPResponse` needs from a socket: ``makefile``."""

    def __init__(self, reader: _TimedReader) -> None:
        self.reader = reader

    def makefile(self, *_args: Any, **_kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(self.reader)


def _classify(exc: BaseException, phase: str) -> ExchangeError:
    if isinstance(exc, http.client.RemoteDisconnected):
        return ExchangeError("http", "the server closed the connection without answering", phase)
    if isinstance(exc, TimeoutError):
        return ExchangeError("timeout", f"no answer in time ({phase})", phase)
    if isinstance(exc, ConnectionRefusedError):
        return ExchangeError("refused", "connection refused", phase)
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return ExchangeError("reset", "connection reset by the server", phase)
    if isinstance(exc, ssl.SSLError):
        return ExchangeError("tls", f"TLS failed: {exc.reason or exc}", phase)
    if isinstance(exc, http.client.HTTPException):
        detail = str(exc) or type(exc).__name__
        return ExchangeError("http", f"not a valid HTTP answer: {detail}", phase)
    if isinstance(exc, OSError):
        return ExchangeError("network", exc.strerror or str(exc), phase)
    return ExchangeError("error", repr(exc), phase)


def _url(scheme: str, endpoint: Endpoint, path: str) -> str:
    port = "" if endpoint.port == 443 else f":{endpoint.port}"
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"{scheme}://{host}{port}{path}"


def _host_header(endpoint: Endpoint) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return host if endpoint.port == 443 else f"{host}:{endpoint.port}"


class _Exchange:
    """One connection's phases, timed into ``result.timings_ms``."""

    def __init__(self, endpoint: Endpoint, result: ExchangeResult, wait: float) -> None:
        self.endpoint = endpoint
        self.result = result
        self.started = time.monotonic()
        self.deadline = self.started + wait
        self.tls: ssl.SSLSocket | None = None

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline reached")
        return remaining

    def _phase(self, name: str, action: Callable[[], Any]) -> Any:
        began = time.monotonic()
        try:
            value = action()
        except _Failed:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes data
            raise _Failed(_classify(exc, name)) from exc
        self.result.timings_ms[name] = round((time.monotonic() - began) * 1000, 1)
        return value

    def open(self) -> ssl.SSLSocket:
        endpoint = self.endpoint
        target = Target(host=endpoint.host, port=endpoint.port, connect_addr=endpoint.connect_addr)

        def lookup() -> tuple:
            try:
                return resolve(target, self._remaining())
            except ProbeError as exc:
                raise _Failed(ExchangeError(exc.error.kind, exc.error.message, "dns")) from exc

        address = self._phase("dns", lookup)
        self.result.address = address[0]
        raw = self._phase(
            "connect", lambda: socket.create_connection(address, timeout=self._remaining())
        )
        with contextlib.suppress(OSError):  # as HTTP clients do: no Nagle delay on the request
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def handshake() -> ssl.SSLSocket:
            raw.settimeout(self._remaining())
            return _client_context().wrap_socket(raw, server_hostname=self.endpoint.host)

        try:
            self.tls = self._phase("tls", handshake)
        except _Failed:
            raw.close()
            raise
        return self.tls

    def request(self, head: bytes) -> http.client.HTTPResponse:
        """Send ``head`` and read the status line and headers, timing the first byte."""
        assert self.tls is not None
        tls = self.tls
        sent_at = time.monotonic()
        reader = _TimedReader(tls, self.deadline)

        def send_and_read() -> http.client.HTTPResponse:
            tls.settimeout(self._remaining())
            tls.sendall(head)
            response = http.client.HTTPResponse(_SocketShim(reader), method="GET")  # type: ignore[arg-type]
            response.begin()
            return response

        response = self._phase("first_byte", send_and_read)
        first = reader.first_byte_at or time.monotonic()
        self.result.timings_ms["first_byte"] = round((first - sent_at) * 1000, 1)
        phases = ("dns", "connect", "tls", "first_byte")
        self.result.timings_ms["total"] = round(sum(self.result.timings_ms[p] for p in phases), 1)
        self.result.status = response.status
        self.result.reason = response.reason
        self.result.headers = [[k, v] for k, v in response.getheaders()]
        return response

    def fail(self, failed: _Failed, wait_was_limit: bool) -> None:
        error = failed.error
        self.result.error = error
        if error.kind == "timeout":
            waited = round((self.deadline - self.started) * 1000)
            error.at_limit = wait_was_limit
            what = "the networkTimeout" if wait_was_limit else "--timeout"
            error.message = f"no answer within {waited} ms ({what}; phase {error.phase})"
            self.result.timings_ms["total"] = round((time.monotonic() - self.started) * 1000, 1)

    def close(self) -> None:
        if self.tls is not None:
            with contextlib.suppress(OSError):
                self.tls.close()


def _wait(exchange: PlannedExchange, timeout: float) -> tuple[float, bool]:
    """How long to wait, and whether that is WeChat's own limit (not our --timeout)."""
    limit = exchange.limit_ms / 1000
    return (limit, True) if limit <= timeout else (timeout, False)


def _read_body(response: http.client.HTTPResponse, result: ExchangeResult) -> None:
    """Note BOMs and whether the text decodes as UTF-8; a failed body read is no verdict."""
    message = response.msg
    result.content_type = message.get("Content-Type")
    result.charset = message.get_content_charset()
    if response.status < 200 or response.status in (204, 304):
        return
    try:
        body = response.read(BODY_LIMIT)
    except (OSError, http.client.HTTPException, ValueError):
        return
    rest = body
    while rest.startswith(UTF8_BOM):
        result.bom_count += 1
        rest = rest[len(UTF8_BOM) :]
    maintype = message.get_content_maintype()
    subtype = message.get_content_subtype()
    is_text = (
        result.content_type is None
        or maintype == "text"
        or any(word in subtype for word in _TEXT_SUBTYPES)
    )
    if not is_text:
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(rest, final=len(body) < BODY_LIMIT)
    except UnicodeDecodeError:
        result.body_utf8 = False
    else:
        result.body_utf8 = True


def http_get(endpoint: Endpoint, planned: PlannedExchange, timeout: float) -> ExchangeResult:
    """GET the planned path over TLS and read up to :data:`BODY_LIMIT` of the answer."""
    result = ExchangeResult(
        kind="http",
        url=_url("https", endpoint, planned.path),
        path_given=planned.path_given,
        apis=list(planned.apis),
        limit_ms=planned.limit_ms,
    )
    wait, at_limit = _wait(planned, timeout)
    exchange = _Exchange(endpoint, result, wait)
    head = (
        f"GET {planned.path} HTTP/1.1\r\n"
        f"Host: {_host_header(endpoint)}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\n"
        "Accept-Encoding: identity\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii", "replace")
    try:
        exchange.open()
        response = exchange.request(head)
        _read_body(response, result)
    except _Failed as failed:
        exchange.fail(failed, at_limit)
    finally:
        exchange.close()
    return result


def websocket_accept(key: str) -> str:
    """The Sec-WebSocket-Accept value a server must send for ``key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1(key.encode("ascii") + WEBSOCKET_GUID).digest()  # noqa: S324 - protocol
    return base64.b64encode(digest).decode("ascii")


def _upgrade_problems(result: ExchangeResult, key: str) -> list[str]:
    if result.status != 101:
        return [f"status {result.status} {result.reason}".strip() + ", expected 101"]
    problems = []
    upgrade = result.header("Upgrade")
    if (upgrade or "").strip().lower() != "websocket":
        problems.append(f"Upgrade header is {upgrade!r}, expected 'websocket'")
    connection = result.header("Connection") or ""
    if "upgrade" not in [t.strip().lower() for t in connection.split(",")]:
        problems.append(f"Connection header is {connection!r}, expected it to contain 'Upgrade'")
    accept = result.header("Sec-WebSocket-Accept")
    expected = websocket_accept(key)
    if accept != expected:
        problems.append(f"Sec-WebSocket-Accept is {accept!r}, expected {expected!r}")
    return problems


def _close_frame() -> bytes:
    """A masked Close frame with status 1000 (RFC 6455 §5.5.1): a polite goodbye."""
    mask = os.urandom(4)
    payload = (1000).to_bytes(2, "big")
    return (
        bytes([0x88, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


def websocket_upgrade(
    endpoint: Endpoint, planned: PlannedExchange, timeout: float
) -> ExchangeResult:
    """Open a WebSocket over TLS on the planned path; ``problems`` lists what was wrong."""
    result = ExchangeResult(
        kind="websocket",
        url=_url("wss", endpoint, planned.path),
        path_given=planned.path_given,
        apis=list(planned.apis),
        limit_ms=planned.limit_ms,
    )
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    head = (
        f"GET {planned.path} HTTP/1.1\r\n"
        f"Host: {_host_header(endpoint)}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode("ascii", "replace")
    wait, at_limit = _wait(planned, timeout)
    exchange = _Exchange(endpoint, result, wait)
    try:
        tls = exchange.open()
        exchange.request(head)
        result.problems = _upgrade_problems(result, key)
        if not result.problems:
            with contextlib.suppress(OSError):
                tls.sendall(_close_frame())
    except _Failed as failed:
        exchange.fail(failed, at_limit)
    finally:
        exchange.close()
    return result
