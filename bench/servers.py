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

``--processes`` worker processes (default 2) share the listeners, each with
one non-blocking selector loop and no threads: worker *k* of *N* serves
listeners *k*, *k + N*, ...  TLS connections are OpenSSL server sockets driven
without blocking (handshake, one request, one answer, close).  "silent"
listeners accept and never answer (the socket is kept until the peer hangs up
or a cap is reached); "closed" listeners close every connection right after
accept.  ``stats`` sums the workers' counters and CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import selectors
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from measure import process_cpu_s

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

#: A TLS connection with no progress for this long is closed (the old handler's socket timeout).
HANDLER_TIMEOUT_S = 5.0
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


@dataclass
class _Tls:
    """One TLS connection in progress: handshake, then one request, one answer."""

    sock: ssl.SSLSocket
    #: True once the handshake is done (then the request is read)
    ready: bool = False
    deadline: float = 0.0


class ServerFarm:
    """All listeners, made once, and the processes that serve them.

    :meth:`serve` forks ``processes`` workers (before any thread exists); worker
    *k* serves listeners *k*, *k + N*, ... with one non-blocking selector loop
    and no threads.  The first farm handed TLS to a pool of 128 blocking
    threads: a third of its CPU went to GIL hand-offs and futex waits
    (``perf``: finish_task_switch, futex), and at 10,000 targets the farm used
    more CPU than the scanner it served.  This process keeps standard input,
    the lifetime and the statistics, which it sums over the workers.
    """

    def __init__(self, count: int, processes: int, cert_dir: Path) -> None:
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
        self.processes = max(1, min(processes, len(self.listeners)))
        #: per worker: connections accepted, silent sockets open (each writes its own slots)
        self.counters = multiprocessing.RawArray("q", 2 * self.processes)
        self.workers: list[int] = []
        self.stop = threading.Event()
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
            "processes": self.processes,
            "servers": [asdict(e) for e in entries],
        }

    # ------------------------------------------------------------ supervisor

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

    def stats(self) -> dict[str, float]:
        """Connections accepted and silent sockets open over all workers, and CPU used.

        ``cpu_s`` is this process and every live worker (``/proc``): a parent's
        own counters do not include children that are still running.
        """
        counts = list(self.counters)
        cpu = sum(process_cpu_s(pid) for pid in [os.getpid(), *self.workers])
        return {
            "accepted": sum(counts[0::2]),
            "silent_open": sum(counts[1::2]),
            "cpu_s": round(cpu, 2),
        }

    def _write_stats(self, path: Path) -> None:
        partial = path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            partial.write_text(json.dumps(self.stats()), encoding="utf-8")
            partial.replace(path)

    def start_workers(self) -> None:
        """Fork the workers (before the manifest is written: it says the farm serves)."""
        read_end, write_end = os.pipe()  # workers stop when this process is gone
        for index in range(self.processes):
            pid = os.fork()
            if pid == 0:  # worker
                os.close(write_end)
                code = 1
                try:
                    _Worker(self, index, read_end).run()
                    code = 0
                finally:
                    os._exit(code)
            self.workers.append(pid)
        os.close(read_end)
        self._life_line = write_end

    def serve(self, deadline: float, watch_stdin: bool) -> str:
        """Wait for stdin to close, :attr:`stop` or ``deadline``; return why."""
        selector = selectors.DefaultSelector()
        if watch_stdin:
            selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
        reason = "lifetime"
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            if not selector.get_map():
                self.stop.wait(min(0.5, deadline - now))
                continue
            for key, _ in selector.select(timeout=min(0.5, deadline - now)):
                if key.data == "stdin" and not self._read_commands():
                    self.stop.set()
                    reason = "stdin closed"
        if self.stop.is_set() and reason == "lifetime":
            reason = "signal"
        selector.close()
        return reason

    def close(self) -> None:
        """Stop the workers (closing their life line), reap them, close the listeners."""
        with contextlib.suppress(AttributeError, OSError):
            os.close(self._life_line)
        for pid in self.workers:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        for pid in self.workers:
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
        self.workers.clear()
        for listener in self.listeners:
            with contextlib.suppress(OSError):
                listener.sock.close()


class _Worker:
    """One worker process: a share of the listeners and one selector loop."""

    def __init__(self, farm: ServerFarm, index: int, life_line: int) -> None:
        self.index = index
        self.counters = farm.counters
        self.listeners = farm.listeners[index :: farm.processes]
        self.selector = selectors.DefaultSelector()
        self.silent: dict[socket.socket, float] = {}
        self.tls: dict[ssl.SSLSocket, _Tls] = {}
        self.stop = False
        self.life_line = life_line
        mine = {id(listener) for listener in self.listeners}
        for listener in farm.listeners:
            if id(listener) not in mine:
                listener.sock.close()  # another worker's

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for listener in self.listeners:
            self.selector.register(listener.sock, selectors.EVENT_READ, listener)
        self.selector.register(self.life_line, selectors.EVENT_READ, "life")
        next_sweep = time.monotonic() + 0.5
        while not self.stop:
            for key, _ in self.selector.select(timeout=0.5):
                data = key.data
                if isinstance(data, _Tls):
                    self._step(data)
                elif isinstance(data, Listener):
                    self._accept(data)
                elif data == "life":
                    self.stop = True  # the supervisor is gone or closed the line
                else:
                    self._silent_readable(key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            if now >= next_sweep:
                self._sweep(now)
                next_sweep = now + 0.5
        for conn in list(self.silent):
            self._drop(conn)
        for state in list(self.tls.values()):
            self._finish(state)

    def _on_signal(self, *_: object) -> None:
        self.stop = True

    def _accept(self, listener: Listener) -> None:
        for _ in range(64):  # bounded: let other listeners have a turn
            try:
                conn, _ = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.counters[2 * self.index] += 1
            behaviour = listener.kind.behaviour
            if behaviour == "closed":
                conn.close()
            elif behaviour == "silent":
                self._hold(conn)
            else:
                assert listener.ctx is not None
                self._start_tls(conn, listener.ctx)

    def _start_tls(self, conn: socket.socket, ctx: ssl.SSLContext) -> None:
        conn.setblocking(False)
        try:
            tls = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                conn.close()
            return
        state = _Tls(tls)
        self.tls[tls] = state
        self.selector.register(tls, selectors.EVENT_READ, state)
        self._step(state)  # the client's hello is often there already

    def _step(self, state: _Tls) -> None:
        """Advance one connection as far as it goes without blocking.

        The same as a blocking handler would do: handshake, read one request
        (up to 4 KiB, or end of stream), send :data:`RESPONSE`, close; any
        error closes.  5 s without progress closes too (:meth:`_sweep`).
        """
        tls = state.sock
        state.deadline = time.monotonic() + HANDLER_TIMEOUT_S
        try:
            if not state.ready:
                tls.do_handshake()
                state.ready = True
            tls.recv(4096)
        except ssl.SSLWantReadError:
            self._wait(state, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._wait(state, selectors.EVENT_WRITE)
            return
        except (OSError, ValueError):
            self._finish(state)
            return
        with contextlib.suppress(OSError, ValueError):
            tls.send(RESPONSE)  # tiny: fits the empty send buffer
        self._finish(state)

    def _wait(self, state: _Tls, events: int) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            if self.selector.get_key(state.sock).events != events:
                self.selector.modify(state.sock, events, state)

    def _finish(self, state: _Tls) -> None:
        self.tls.pop(state.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(state.sock)
        with contextlib.suppress(OSError):
            state.sock.close()

    def _sweep(self, now: float) -> None:
        for state in [s for s in self.tls.values() if s.deadline <= now]:
            self._finish(state)
        for conn in [c for c, until in self.silent.items() if until <= now]:
            self._drop(conn)

    def _hold(self, conn: socket.socket) -> None:
        if len(self.silent) >= MAX_SILENT_SOCKETS:
            oldest = min(self.silent, key=self.silent.__getitem__)
            self._drop(oldest)
        conn.setblocking(False)
        self.silent[conn] = time.monotonic() + SILENT_HOLD_SECONDS
        self.selector.register(conn, selectors.EVENT_READ, None)
        self.counters[2 * self.index + 1] = len(self.silent)

    def _drop(self, conn: socket.socket) -> None:
        self.silent.pop(conn, None)
        self.counters[2 * self.index + 1] = len(self.silent)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=200, help="listeners to open (1-5000)")
    parser.add_argument("--manifest", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="stop after N seconds")
    parser.add_argument(
        "--processes", type=int, default=2, help="worker processes sharing the listeners (1-64)"
    )
    parser.add_argument(
        "--no-stdin", action="store_true", help="do not stop when standard input closes"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.servers <= 5000:
        parser.error(f"--servers {args.servers}: choose 1-5000")
    if not 1 <= args.processes <= 64:
        parser.error(f"--processes {args.processes}: choose 1-64")
    if args.lifetime <= 0:
        parser.error("--lifetime must be positive")
    with tempfile.TemporaryDirectory(prefix="certcheck-bench-certs-") as tmp:
        farm = ServerFarm(args.servers, args.processes, Path(tmp))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: farm.stop.set())
        try:
            farm.start_workers()
            partial = args.manifest.with_suffix(".tmp")
            partial.write_text(json.dumps(farm.manifest(), indent=1), encoding="utf-8")
            partial.replace(args.manifest)  # appears whole: the parent polls for it
            reason = farm.serve(time.monotonic() + args.lifetime, watch_stdin=not args.no_stdin)
        finally:
            farm.close()
    print(f"servers: stopped ({reason})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
