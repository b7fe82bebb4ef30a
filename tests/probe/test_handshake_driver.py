"""The real handshake as one exchange of the probe's driver (memory BIOs, no thread).

Real TLS servers (Python's ssl, certificates from trustme) on 127.0.0.1 check what the
server sees: TLS 1.2's two round trips and TLS 1.3's one complete, the connection ends
with a close_notify (as the blocking handshake on a socket ended it), and a scan's
handshake runs on the driver's thread, not on a worker.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trustme
from loopback import serve_each

from certcheck.probe.handshake import ProbeError, handshake


@contextmanager
def tls_server(maximum: ssl.TLSVersion, seen: list[str]) -> Iterator[int]:
    """One TLS server; ``seen`` gets how each connection ended."""
    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("tls.example.test").configure_cert(ctx)
    ctx.maximum_version = maximum

    def handle(raw: socket.socket) -> None:
        raw.settimeout(5)
        try:
            with ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False) as tls:
                try:
                    data = tls.recv(100)
                    seen.append(f"{tls.version()} close_notify" if data == b"" else "data")
                except ssl.SSLEOFError:
                    seen.append(f"{tls.version()} no close_notify")
        except (OSError, ssl.SSLError) as exc:
            seen.append(f"failed: {exc}")

    with serve_each(handle) as port:
        yield port


@pytest.mark.parametrize(
    ("maximum", "name"),
    [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")],
)
def test_the_handshake_completes_and_ends_with_a_close_notify(
    maximum: ssl.TLSVersion, name: str
) -> None:
    seen: list[str] = []
    with tls_server(maximum, seen) as port:
        result = handshake(("127.0.0.1", port), "tls.example.test", 5.0)
        for _ in range(50):  # the server thread records the end after we hung up
            if seen:
                break
            threading.Event().wait(0.05)
    assert result.protocol == name
    assert len(result.chain) == 1
    assert result.cipher
    assert result.connect_ms >= 0 and result.handshake_ms > 0
    assert seen == [f"{name} close_notify"]


def test_no_verification_and_a_refused_connect_named_as_before() -> None:
    seen: list[str] = []
    with tls_server(ssl.TLSVersion.TLSv1_3, seen) as port:
        # SNI with a name the certificate does not have still completes (no verification)
        result = handshake(("127.0.0.1", port), "other.example.test", 5.0)
    assert result.protocol == "TLSv1.3"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        with pytest.raises(ProbeError) as refused:
            handshake(("127.0.0.1", closed.getsockname()[1]), "x.example.test", 2.0)
    assert refused.value.error.kind == "refused"
    assert refused.value.error.message == "TCP connect: connection refused"


def test_a_scans_handshake_runs_on_the_driver_thread_not_on_a_worker() -> None:
    script = textwrap.dedent(
        """
        import socket, ssl, sys, threading
        import trustme
        from certcheck.probe import blocking_pool, probe_target
        from certcheck.targets import parse_target

        ca = trustme.CA()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(ctx)
        listener = socket.create_server(("127.0.0.1", 0))

        def serve():
            while True:
                raw, _ = listener.accept()
                try:
                    with ctx.wrap_socket(raw, server_side=True) as tls:
                        tls.recv(100)
                except (OSError, ssl.SSLError):
                    pass

        threading.Thread(target=serve, daemon=True).start()
        facts = probe_target(parse_target(f"127.0.0.1:{listener.getsockname()[1]}"), 5.0)
        print(facts.negotiated_protocol, len(facts.chain), len(blocking_pool()._threads))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    protocol, chain, workers = done.stdout.split()
    assert protocol == "TLSv1.3" and int(chain) == 1
    assert workers == "0"  # an IP literal needs no DNS thread, the handshake none either


@contextmanager
def trickling_proxy(backend: int) -> Iterator[int]:
    """Forwards to ``backend``, handing the server's bytes on one at a time."""
    stop = threading.Event()

    def pump(source: socket.socket, sink: socket.socket, trickle: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if not trickle:
                    sink.sendall(chunk)
                    continue
                for index in range(len(chunk)):
                    sink.sendall(chunk[index : index + 1])
                    stop.wait(0.0002)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle(client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with socket.create_connection(("127.0.0.1", backend)) as upstream:
            back = threading.Thread(target=pump, args=(upstream, client, True), daemon=True)
            back.start()
            pump(client, upstream, False)
            back.join(10)

    with serve_each(handle) as port:
        try:
            yield port
        finally:
            stop.set()


def test_a_server_flight_trickled_byte_by_byte_still_completes() -> None:
    """The handshake's parser gets each read's new bytes (``stream``): a flight that
    arrives in a thousand pieces is fed to OpenSSL piece by piece, not re-read whole."""
    seen: list[str] = []
    with tls_server(ssl.TLSVersion.TLSv1_2, seen) as port, trickling_proxy(port) as slow:
        result = handshake(("127.0.0.1", slow), "tls.example.test", 20.0)
    assert result.protocol == "TLSv1.2"
    assert len(result.chain) == 1
