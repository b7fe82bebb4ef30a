"""Loopback servers that behave like mini-program back ends, for tests and demos.

:class:`RequestServer` reads the HTTP request head, optionally waits, and
answers with whatever its ``answer`` function makes of the head:
:func:`websocket_answer` upgrades to a WebSocket as RFC 6455 §4.2.2 says,
:func:`http_answer` builds an ordinary response.  Everything listens on
127.0.0.1 only (see :mod:`certcheck.localserver`).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable

from certcheck.localserver import LoopbackServer, ServerSpec
from certcheck.miniprogram.endpoints import websocket_accept

Answer = Callable[[bytes], bytes]
_HEAD_LIMIT = 64 * 1024


def http_answer(
    body: bytes = b'{"ok": true}',
    content_type: str = "application/json; charset=utf-8",
    status: str = "200 OK",
    extra_headers: tuple[str, ...] = (),
) -> bytes:
    """A complete HTTP/1.1 response with Content-Length and Connection: close."""
    lines = [
        f"HTTP/1.1 {status}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *extra_headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _header(head: bytes, name: str) -> str | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return None


def websocket_answer(head: bytes) -> bytes:
    """101 Switching Protocols with the right Sec-WebSocket-Accept; 400 without a key."""
    key = _header(head, "Sec-WebSocket-Key")
    if not key or (_header(head, "Upgrade") or "").lower() != "websocket":
        return http_answer(b"not a websocket request", "text/plain", "400 Bad Request")
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {websocket_accept(key)}\r\n\r\n"
    ).encode("ascii")


class RequestServer(LoopbackServer):
    """A TLS server that answers each request head with ``answer(head)`` after ``delay`` s."""

    def __init__(
        self, spec: ServerSpec, answer: Answer, delay: float = 0.0, host: str = "127.0.0.1"
    ) -> None:
        super().__init__(spec, host)
        self.answer = answer
        self.delay = delay
        self.requests: list[bytes] = []

    def _read_head(self, tls: ssl.SSLSocket) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(4096)
            if not chunk or len(data) > _HEAD_LIMIT:
                return None
            data += chunk
        return data

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        # Without this, Nagle holds the answer back until the client's delayed ACK
        # (~40 ms) while the connection stays open: real servers set it too.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                head = self._read_head(tls)
                if head is None:
                    return
                self.requests.append(head)
                if self.delay and self._stop.wait(self.delay):
                    return
                answer = self.answer(head)
                tls.sendall(answer)
                if answer.startswith(b"HTTP/1.1 101"):
                    with contextlib.suppress(OSError):
                        tls.recv(4096)  # the client's Close frame, or EOF
        except (OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()
