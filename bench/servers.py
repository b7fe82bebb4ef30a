"""Many loopback TLS servers in one process, for the benchmark (not a test).

Run as ``python bench/servers.py --servers 200 --manifest FILE``.  It makes a
fresh sample set with :func:`certcheck.samples.generate` (written to a temp
dir), opens ``--servers`` listeners on 127.0.0.1 (never any other address),
cycles them through the configurations in :data:`KINDS`, writes a JSON
manifest (one entry per listener: kind, port, host name, sample) and serves
until one of these happens: standard input reaches end of file (the parent
closed it or died), SIGTERM/SIGINT, or ``--lifetime`` seconds have passed.  So
the servers stop by themselves even if ``run.py`` crashes.  A line ``stats PATH``
on standard input writes ``{"accepted": N, ...}`` (connections so far) to PATH.

One selector thread accepts on every listener; TLS connections are handled by
a bounded thread pool with blocking ``ssl`` sockets (OpenSSL releases the GIL
during the handshake).  "silent" listeners accept and never answer (the socket
is kept until the peer hangs up or a cap is reached); "closed" listeners close
every connection right after accept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import selectors
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from certcheck import samples

LOOPBACK = "127.0.0.1"

#: TLS 1.2 ciphers of a well-configured server (forward secret AEAD only).
MODERN_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
#: A legacy server: also CBC-SHA suites, which TLS 1.0/1.1 need.
LEGACY_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES:AES128-SHA:AES256-SHA:@SECLEVEL=0"
#: 3DES (Sweet32) next to the modern suites, when the local OpenSSL still has it.
TRIPLE_DES_CIPHERS = "ECDHE+AESGCM:ECDHE-RSA-DES-CBC3-SHA:DES-CBC3-SHA:@SECLEVEL=0"
#: Fallback for OpenSSL builds without DES (Debian's 3.x): static-RSA CBC suites,
#: the nearest "weak ciphers enabled" configuration such a build can serve.
WEAK_FALLBACK_CIPHERS = "ECDHE+AESGCM:AES128-SHA:AES256-SHA:AES128-SHA256:@SECLEVEL=0"

_VERSIONS = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


@dataclass(frozen=True)
class Kind:
    """One server configuration of the mix.

    ``behaviour`` is ``tls`` (a real OpenSSL server), ``silent`` (accepts,
    never answers) or ``closed`` (closes right after accept).  ``weight`` is
    how many of every :data:`CYCLE` listeners get this kind.
    """

    name: str
    sample: str
    weight: int
    behaviour: str = "tls"
    min_version: str = "TLSv1.2"
    max_version: str = "TLSv1.3"
    ciphers: str = MODERN_CIPHERS
    host: str = ""


KINDS: tuple[Kind, ...] = (
    Kind("good_rsa", "good_rsa", 8),
    Kind("good_ecdsa", "good_ecdsa", 4),
    Kind("tls13_only", "tls13_only", 4, min_version="TLSv1.3"),
    Kind("tls10_enabled", "legacy_tls", 4, min_version="TLSv1.0", ciphers=LEGACY_CIPHERS),
    Kind("missing_intermediate", "missing_intermediate", 4),
    Kind("expired", "expired", 4),
    Kind("wrong_host", "wrong_host", 4),
    Kind("3des_enabled", "good_rsa", 4, ciphers=TRIPLE_DES_CIPHERS),
    Kind("silent", "good_rsa", 2, behaviour="silent", host="silent.example.test"),
    Kind("closed", "good_rsa", 2, behaviour="closed", host="closed.example.test"),
)
#: Listeners per full round of the mix (40: 5% silent, 5% closed, 20% good RSA, ...).
CYCLE = sum(kind.weight for kind in KINDS)

#: Most idle sockets a silent listener keeps before hanging up on the oldest.
MAX_SILENT_SOCKETS = 4096
#: A silent socket is dropped after this long even if the peer never hangs up.
SILENT_HOLD_SECONDS = 120.0


def kind_sequence(count: int) -> list[Kind]:
    """``count`` kinds, interleaved so that any prefix holds roughly the same mix."""
    slots: list[tuple[float, int, Kind]] = []
    for order, kind in enumerate(KINDS):
        for n in range(kind.weight):
            slots.append(((n + 0.5) / kind.weight, order, kind))
    cycle = [kind for _, _, kind in sorted(slots, key=lambda s: (s[0], s[1]))]
    return [cycle[i % len(cycle)] for i in range(count)]


def openssl_can_serve(ciphers: str) -> bool:
    """True if the local OpenSSL offers a 3DES suite for this cipher string."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.set_ciphers(ciphers)
    except ssl.SSLError:
        return False
    return any("DES-CBC3" in c["name"] for c in ctx.get_ciphers())


def effective_ciphers(kind: Kind) -> str:
    if kind.ciphers == TRIPLE_DES_CIPHERS and not openssl_can_serve(TRIPLE_DES_CIPHERS):
        return WEAK_FALLBACK_CIPHERS
    return kind.ciphers


def make_context(kind: Kind, chain: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers(effective_ciphers(kind))
    with warnings.catch_warnings():  # TLSVersion.TLSv1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = _VERSIONS[kind.min_version]
        ctx.maximum_version = _VERSIONS[kind.max_version]
    ctx.load_cert_chain(chain, key)
    return ctx


@dataclass
class Listener:
    """One listening socket and what it serves."""

    kind: Kind
    sock: socket.socket
    port: int
    host: str
    ctx: ssl.SSLContext | None


@dataclass
class ManifestEntry:
    kind: str
    port: int
    host: str
    sample: str
    behaviour: str
    ciphers: str


class ServerFarm:
    """All listeners, the accept loop and the handler pool."""

    def __init__(self, count: int, workers: int, cert_dir: Path) -> None:
        sample_set = samples.generate()
        samples.write(sample_set, cert_dir)
        self.ca_file = cert_dir / samples.ROOT_FILE
        self.listeners: list[Listener] = []
        contexts: dict[str, ssl.SSLContext] = {}
        hosts = {s.name: s.host for s in sample_set.samples}
        for kind in kind_sequence(count):
            ctx = None
            if kind.behaviour == "tls":
                ctx = contexts.get(kind.name)
                if ctx is None:
                    ctx = make_context(
                        kind, cert_dir / f"{kind.sample}.pem", cert_dir / f"{kind.sample}.key"
                    )
                    contexts[kind.name] = ctx
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOOPBACK, 0))
            sock.listen(256)
            sock.setblocking(False)
            host = kind.host or hosts[kind.sample]
            self.listeners.append(Listener(kind, sock, sock.getsockname()[1], host, ctx))
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tls")
        self.selector = selectors.DefaultSelector()
        self.silent: dict[socket.socket, float] = {}
        self.stop = threading.Event()
        #: connections accepted so far, over all listeners
        self.accepted = 0
        self._stdin_buffer = b""

    def manifest(self) -> dict[str, object]:
        entries = [
            ManifestEntry(
                kind=item.kind.name,
                port=item.port,
                host=item.host,
                sample=item.kind.sample,
                behaviour=item.kind.behaviour,
                ciphers=effective_ciphers(item.kind) if item.ctx else "",
            )
            for item in self.listeners
        ]
        return {
            "ca_file": str(self.ca_file),
            "address": LOOPBACK,
            "openssl": ssl.OPENSSL_VERSION,
            "triple_des": openssl_can_serve(TRIPLE_DES_CIPHERS),
            "servers": [asdict(e) for e in entries],
        }

    def _handle_tls(self, conn: socket.socket, ctx: ssl.SSLContext) -> None:
        conn.setblocking(True)
        conn.settimeout(5)
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                with contextlib.suppress(OSError):
                    tls.recv(4096)
                    tls.sendall(RESPONSE)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _accept(self, listener: Listener) -> None:
        for _ in range(64):  # bounded: let other listeners have a turn
            try:
                conn, _ = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.accepted += 1
            behaviour = listener.kind.behaviour
            if behaviour == "closed":
                conn.close()
            elif behaviour == "silent":
                self._hold(conn)
            else:
                assert listener.ctx is not None
                self.pool.submit(self._handle_tls, conn, listener.ctx)

    def _hold(self, conn: socket.socket) -> None:
        if len(self.silent) >= MAX_SILENT_SOCKETS:
            oldest = min(self.silent, key=self.silent.__getitem__)
            self._drop(oldest)
        conn.setblocking(False)
        self.silent[conn] = time.monotonic() + SILENT_HOLD_SECONDS
        self.selector.register(conn, selectors.EVENT_READ, None)

    def _drop(self, conn: socket.socket) -> None:
        self.silent.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        with contextlib.suppress(OSError):
            conn.close()

    def _silent_readable(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)  # read and ignore: never answer
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)

    def _read_commands(self) -> bool:
        """Handle ``stats PATH`` lines from stdin; False at end of file."""
        chunk = sys.stdin.buffer.read1(4096)
        if not chunk:
            return False
        self._stdin_buffer += chunk
        while b"\n" in self._stdin_buffer:
            line, self._stdin_buffer = self._stdin_buffer.split(b"\n", 1)
            command, _, argument = line.decode("utf-8", "replace").strip().partition(" ")
            if command == "stats" and argument:
                self._write_stats(Path(argument))
        self._stdin_buffer = self._stdin_buffer[-4096:]  # bounded, whatever arrives
        return True

    def _write_stats(self, path: Path) -> None:
        stats = {"accepted": self.accepted, "silent_open": len(self.silent)}
        partial = path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            partial.write_text(json.dumps(stats), encoding="utf-8")
            partial.replace(path)

    def serve(self, deadline: float, watch_stdin: bool) -> str:
        """Serve until stdin closes, :attr:`stop` is set or ``deadline``; return why."""
        for listener in self.listeners:
            self.selector.register(listener.sock, selectors.EVENT_READ, listener)
        if watch_stdin:
            self.selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
        reason = "lifetime"
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            for key, _ in self.selector.select(timeout=min(0.5, deadline - now)):
                if key.data == "stdin":
                    if not self._read_commands():
                        self.stop.set()
                        reason = "stdin closed"
                elif isinstance(key.data, Listener):
                    self._accept(key.data)
                else:
                    self._silent_readable(key.fileobj)  # type: ignore[arg-type]
            expired = [c for c, until in self.silent.items() if until <= now]
            for conn in expired:
                self._drop(conn)
        if self.stop.is_set() and reason == "lifetime":
            reason = "signal"
        return reason

    def close(self) -> None:
        for conn in list(self.silent):
            self._drop(conn)
        for listener in self.listeners:
            with contextlib.suppress(OSError):
                listener.sock.close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=200, help="listeners to open (1-5000)")
    parser.add_argument("--manifest", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="stop after N seconds")
    parser.add_argument("--workers", type=int, default=128, help="TLS handler threads")
    parser.add_argument(
        "--no-stdin", action="store_true", help="do not stop when standard input closes"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.servers <= 5000:
        parser.error(f"--servers {args.servers}: choose 1-5000")
    if not 1 <= args.workers <= 1024:
        parser.error(f"--workers {args.workers}: choose 1-1024")
    if args.lifetime <= 0:
        parser.error("--lifetime must be positive")
    with tempfile.TemporaryDirectory(prefix="certcheck-bench-certs-") as tmp:
        farm = ServerFarm(args.servers, args.workers, Path(tmp))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: farm.stop.set())
        partial = args.manifest.with_suffix(".tmp")
        partial.write_text(json.dumps(farm.manifest(), indent=1), encoding="utf-8")
        partial.replace(args.manifest)  # appears whole: the parent polls for it
        try:
            reason = farm.serve(time.monotonic() + args.lifetime, watch_stdin=not args.no_stdin)
        finally:
            farm.close()
    print(f"servers: stopped ({reason})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
