"""Loopback TLS servers for ``certcheck demo`` and the test suite.

Each server listens on 127.0.0.1 on a free port, serves one certificate chain
(sent exactly in the order given) and answers every connection on its own
thread until it is stopped.  Only the standard library's ``ssl`` is used, so
what the probe sees is what a real OpenSSL-based server sends.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

_VERSIONS = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass
class ServerSpec:
    """What one loopback server serves: PEM chain (leaf first) and key."""

    name: str
    chain_pem: bytes
    key_pem: bytes
    min_version: str = "TLSv1.2"
    max_version: str = "TLSv1.3"
    ciphers: str | None = None
    response: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    extra: dict[str, str] = field(default_factory=dict)


def make_context(spec: ServerSpec) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Security level 0 lets the server present deliberately weak material
    # (RSA-1024, SHA-1) and speak TLS 1.0/1.1 -- that is what we test.
    ctx.set_ciphers(spec.ciphers or "ALL:!aNULL:@SECLEVEL=0")
    with warnings.catch_warnings():
        # TLS 1.0/1.1 are deprecated in Python's ssl; serving them is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = _VERSIONS[spec.min_version]
        ctx.maximum_version = _VERSIONS[spec.max_version]
    with tempfile.TemporaryDirectory() as tmp:
        chain = os.path.join(tmp, "chain.pem")
        key = os.path.join(tmp, "key.pem")
        with open(chain, "wb") as fh:
            fh.write(spec.chain_pem)
        with open(key, "wb") as fh:
            fh.write(spec.key_pem)
        ctx.load_cert_chain(chain, key)
    return ctx


class LoopbackServer:
    """A TLS server on 127.0.0.1 that runs in a daemon thread."""

    def __init__(self, spec: ServerSpec, host: str = "127.0.0.1") -> None:
        self.spec = spec
        self.ctx = make_context(spec)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host = host
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                with contextlib.suppress(OSError):
                    tls.recv(4096)
                    tls.sendall(self.spec.response)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        self._thread.join(timeout=2)


@contextlib.contextmanager
def serving(specs: list[ServerSpec]) -> Iterator[list[LoopbackServer]]:
    """Start one loopback server per spec; stop them all on exit."""
    servers: list[LoopbackServer] = []
    try:
        for spec in specs:
            servers.append(LoopbackServer(spec).start())
        yield servers
    finally:
        for server in servers:
            server.stop()
